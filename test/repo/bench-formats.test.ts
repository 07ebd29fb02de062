// The bench checks `--formats` against its own copy of the format names (it may use only the public
// API): that copy must stay the relay's registry, and bench/schemas must pass `schemas check`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FORMAT_NAMES as BENCH_FORMATS } from '../../bench/options.js';
import { FORMAT_NAMES } from '../../src/formats/registry.js';
import { compatibilityProblems } from '../../src/schemas/compatibility.js';
import { readSchemaDir } from '../../src/schemas/files.js';
import { ROOT } from '../kit/services.js';

test("the bench's --formats names are the relay's formats", () => {
  assert.deepEqual([...BENCH_FORMATS], FORMAT_NAMES);
});

test('bench/schemas and examples/schemas are valid, compatible schema sets', () => {
  for (const dir of ['bench/schemas', 'examples/schemas'])
    assert.deepEqual(compatibilityProblems(readSchemaDir(`${ROOT}/${dir}`), 'full'), [], dir);
});
