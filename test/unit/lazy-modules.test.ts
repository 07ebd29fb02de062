// The relay's start does not load the libraries only some configurations use (src/lazy-module.ts):
// importing the package leaves them out of the module cache until a format or a routes file asks.
// Each test file runs in a process of its own, so nothing else has loaded them here.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { lazyModule } from '../../src/lazy-module.js';

const OPTIONAL = ['avsc', 'protobufjs', 'ajv', 'yaml', 'jsonc-parser'];
const cache = createRequire(import.meta.url).cache;

function loaded(name: string): boolean {
  return Object.keys(cache).some((path) => path.includes(`/node_modules/${name}/`));
}

test('importing the relay loads none of the libraries only some configurations use', async () => {
  await import('../../src/index.js');
  assert.deepEqual(OPTIONAL.filter(loaded), []);
});

test('lazyModule loads its package on the first call, once', () => {
  const loadYaml = lazyModule<{ parse: (text: string) => unknown }>('yaml');
  assert.equal(loaded('yaml'), false);
  assert.deepEqual(loadYaml().parse('a: 1'), { a: 1 });
  assert.equal(loaded('yaml'), true);
  assert.equal(loadYaml(), loadYaml());
});
