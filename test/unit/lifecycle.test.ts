import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Resources } from '../../src/lifecycle.js';

describe('Resources', () => {
  test('releases in reverse order of acquisition, each once', async () => {
    const released: string[] = [];
    const resources = new Resources();
    resources.defer(() => released.push('pool'));
    resources.defer(async () => {
      await new Promise((resolve) => setImmediate(resolve));
      released.push('probes');
    });
    resources.defer(() => released.push('monitor'));
    await resources.release();
    await resources.release();
    assert.deepEqual(released, ['monitor', 'probes', 'pool']);
  });

  test('a failing release does not keep the earlier ones from running; its error is rethrown', async () => {
    const released: string[] = [];
    const resources = new Resources();
    resources.defer(() => released.push('pool'));
    resources.defer(() => {
      throw new Error('probe server would not close');
    });
    await assert.rejects(resources.release(), /probe server would not close/);
    assert.deepEqual(released, ['pool']);
  });
});
