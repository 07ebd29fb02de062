// pg, when it loads without a global `navigator` (Node.js 20), builds a fetch Response to tell whether
// it runs in a Cloudflare Worker, which loads Node's fetch implementation; the relay's entry defines
// `navigator` first, as Node.js 21 does (src/node-navigator.ts). Each case loads pg in a fresh process.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';

const NAVIGATOR_MODULE = new URL('../../src/node-navigator.ts', import.meta.url).href;
const NATIVE_NAVIGATOR = Number(process.versions.node.split('.')[0]) >= 21;

interface Loaded {
  readonly defined: boolean | null;
  readonly fetchLoaded: boolean;
  readonly userAgent: string | null;
}

function loadPg(defineFirst: boolean): Loaded {
  const code = `
    let defined = null;
    if (${defineFirst}) defined = (await import(${JSON.stringify(NAVIGATOR_MODULE)})).defineNavigator();
    const { createRequire } = await import('node:module');
    createRequire(${JSON.stringify(import.meta.url)})('pg');
    const fetchLoaded = process.moduleLoadList.some((name) => name.includes('undici'));
    console.log(JSON.stringify({ defined, fetchLoaded, userAgent: globalThis.navigator?.userAgent ?? null }));`;
  const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
  });
  return JSON.parse(output) as Loaded;
}

describe('defineNavigator', () => {
  test(
    NATIVE_NAVIGATOR
      ? 'leaves the navigator of Node.js 21+ alone; pg does not load fetch'
      : "pg loads Node's fetch without a navigator, and not once defineNavigator defined one as Node.js 21 does",
    () => {
      const major = process.versions.node.split('.')[0]!;
      if (NATIVE_NAVIGATOR) {
        const loaded = loadPg(true);
        assert.equal(loaded.defined, false);
        assert.equal(loaded.fetchLoaded, false);
        return;
      }
      assert.equal(
        loadPg(false).fetchLoaded,
        true,
        'pg no longer builds a Response when it loads: src/node-navigator.ts and its call in launch.ts can go',
      );
      assert.deepEqual(loadPg(true), { defined: true, fetchLoaded: false, userAgent: `Node.js/${major}` });
    },
  );
});
