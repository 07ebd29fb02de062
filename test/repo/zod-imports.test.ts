// zod's `z` object holds every export of zod, all its locales included: imported as `{ z }`, it keeps
// all of them in the command's bundle, which the relay compiles at every start (zod's chunk 751 KB
// against 173 KB: bench/README.md, seventh round). Imported as a namespace, esbuild keeps what the
// relay uses.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ROOT } from '../kit/services.js';

const NAMED_Z = /import\s+(type\s+)?\{[^}]*\bz\b[^}]*\}\s+from\s+'zod'/;

test("src imports zod as a namespace (import * as z from 'zod'), never { z }", () => {
  const files = readdirSync(`${ROOT}/src`, { recursive: true, encoding: 'utf8' }).filter((file) =>
    file.endsWith('.ts'),
  );
  const importers = files.filter((file) =>
    readFileSync(`${ROOT}/src/${file}`, 'utf8').includes("from 'zod'"),
  );
  assert.ok(importers.length > 5, `found the files that import zod (${importers.length})`);
  const named = importers.filter((file) => NAMED_Z.test(readFileSync(`${ROOT}/src/${file}`, 'utf8')));
  assert.deepEqual(named, []);
});
