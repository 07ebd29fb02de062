import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffDelay } from '../../src/pipeline/backoff.js';
import { SerialBatcher } from '../../src/pipeline/batcher.js';
import { formatLsn, parseLsn } from '../../src/wal/lsn.js';

describe('SerialBatcher', () => {
  test('flushes in order, one batch at a time, at most maxBatch items each', async () => {
    const batches: number[][] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const batcher = new SerialBatcher<number>(3, async (batch) => {
      concurrent += 1;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      batches.push(batch);
      await new Promise((resolve) => setImmediate(resolve));
      concurrent -= 1;
    });
    for (let i = 0; i < 8; i++) batcher.push(i);
    await batcher.idle();
    assert.deepEqual(batches.flat(), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(batches.every((batch) => batch.length <= 3));
    assert.equal(maxConcurrent, 1);
  });

  test('idle() resolves at once when nothing was pushed', async () => {
    await new SerialBatcher<number>(1, () => Promise.resolve()).idle();
  });
});

describe('backoffDelay', () => {
  test('grows exponentially and stops at the cap', () => {
    const noJitter = () => 1;
    assert.equal(backoffDelay(1, 100, 10_000, noJitter), 100);
    assert.equal(backoffDelay(4, 100, 10_000, noJitter), 800);
    assert.equal(backoffDelay(40, 100, 10_000, noJitter), 10_000);
    assert.equal(
      backoffDelay(40, 100, 10_000, () => 0),
      5_000,
    );
  });
});

describe('formatLsn', () => {
  test('round-trips with parseLsn', () => {
    for (const text of ['0/0', '16/B374D848', 'FFFFFFFF/FFFFFFFF'])
      assert.equal(formatLsn(parseLsn(text)), text);
  });
  test('rejects text that is not an LSN', () => {
    assert.throws(() => parseLsn('16-B374'), /not an LSN/);
  });
});
