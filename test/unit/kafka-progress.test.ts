import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  covers,
  decodeProgress,
  encodeProgress,
  progressAfter,
  transactionSize,
} from '../../src/sinks/kafka-progress.js';
import type { Progress } from '../../src/sinks/kafka-progress.js';
import type { WalPosition } from '../../src/wal/event.js';

const at = (commitLsn: bigint, index: number): WalPosition => ({ commitLsn, index });

/** Positions of `sizes[i]` events in transaction i (commit LSNs 100, 200, ...). */
function transactions(...sizes: number[]): WalPosition[] {
  return sizes.flatMap((size, t) =>
    Array.from({ length: size }, (_, index) => at(BigInt(100 * (t + 1)), index)),
  );
}

describe('covers', () => {
  const progress = { commitLsn: 200n, events: 3 };
  test('covers every event of earlier transactions', () => {
    assert.equal(covers(progress, at(100n, 5_000)), true);
  });
  test('covers the first `events` events of the transaction it names, and no more', () => {
    assert.equal(covers(progress, at(200n, 0)), true);
    assert.equal(covers(progress, at(200n, 2)), true);
    assert.equal(covers(progress, at(200n, 3)), false);
  });
  test('covers nothing of later transactions, and nothing without a record', () => {
    assert.equal(covers(progress, at(201n, 0)), false);
    assert.equal(covers(undefined, at(1n, 0)), false);
  });
});

describe('progressAfter', () => {
  test('keeps the server and the list of the progress it moves', () => {
    const server = { systemId: '7441', timeline: 2 };
    const unconfirmed = [{ xid: 9, commitLsn: 100n, seq: 4 }];
    assert.deepEqual(progressAfter({ commitLsn: 100n, events: 1, server, unconfirmed }, at(200n, 0)), {
      commitLsn: 200n,
      events: 1,
      server,
      unconfirmed,
    });
  });
  test('points just past the event sent', () => {
    assert.deepEqual(progressAfter(undefined, at(100n, 0)), { commitLsn: 100n, events: 1 });
    assert.deepEqual(progressAfter({ commitLsn: 100n, events: 1 }, at(200n, 4)), {
      commitLsn: 200n,
      events: 5,
    });
  });
  test('never moves back for an event it already covers (a refused event sent later)', () => {
    const progress = { commitLsn: 200n, events: 5 };
    assert.equal(progressAfter(progress, at(200n, 1)), progress);
    assert.equal(progressAfter(progress, at(100n, 9)), progress);
  });
});

describe('transactionSize', () => {
  test('takes the whole queue when it fits, even if its last transaction may still be arriving', () => {
    assert.equal(transactionSize(transactions(3, 4), 10), 7);
  });
  test('ends at a transaction boundary when the batch is full and a transaction straddles the cut', () => {
    // 4 + 4 + 4 events, batch of 10: the third transaction would be split; it waits for the next one.
    assert.equal(transactionSize(transactions(4, 4, 4), 10), 8);
  });
  test('takes exactly `max` when the cut falls on a boundary', () => {
    assert.equal(transactionSize(transactions(5, 5, 3), 10), 10);
  });
  test('splits a transaction larger than the batch, and says so through the positions', () => {
    const queue = transactions(25);
    assert.equal(transactionSize(queue, 10), 10);
    let progress: Progress | undefined;
    for (const position of queue.slice(0, 10)) progress = progressAfter(progress, position);
    assert.deepEqual(progress, { commitLsn: 100n, events: 10 });
    assert.equal(covers(progress, queue[10]!), false);
  });
  test('never cuts between the messages of one event (two Kafka destinations)', () => {
    const twice = transactions(6).flatMap((position) => [position, position]);
    assert.equal(transactionSize(twice, 5), 4);
  });
  test('swept rows (no position) are cut at the limit', () => {
    assert.equal(transactionSize([undefined, undefined, undefined], 2), 2);
  });
});

describe('progress record', () => {
  test('round-trips through its JSON value', () => {
    const value = encodeProgress({ commitLsn: 0x16b3748n, events: 12 }, 'outbox_relay');
    assert.match(value, /"commitLsn":"0\/16B3748"/);
    assert.deepEqual(decodeProgress(value), { commitLsn: 0x16b3748n, events: 12 });
  });
  test('round-trips the server it was streamed from, and reads a record without one', () => {
    const progress = { commitLsn: 0x300n, events: 1, server: { systemId: '7441', timeline: 3 } };
    const value = encodeProgress(progress, 'outbox_relay');
    assert.match(value, /"systemId":"7441","timeline":3/);
    assert.deepEqual(decodeProgress(value), progress);
    assert.deepEqual(decodeProgress('{"commitLsn":"0/300","events":1}'), { commitLsn: 0x300n, events: 1 });
  });
  test('a malformed server is an error, not a record of no server', () => {
    assert.throws(
      () => decodeProgress('{"commitLsn":"0/300","events":1,"systemId":7441,"timeline":3}'),
      /not a progress record \(its server\)/,
    );
    assert.throws(
      () => decodeProgress('{"commitLsn":"0/300","events":1,"systemId":"7441"}'),
      /not a progress record \(its server\)/,
    );
  });
  test('a tombstone is no progress; anything else is an error', () => {
    assert.equal(decodeProgress(null), undefined);
    assert.throws(() => decodeProgress('{"lsn":1}'), /not a progress record/);
  });
});
