import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeProgress, encodeProgress, progressAfter } from '../../src/sinks/kafka-progress.js';
import {
  coversRow,
  coversSweptRow,
  decodeUnconfirmed,
  encodeUnconfirmed,
  SweepFilter,
  withoutConfirmed,
  withPublished,
} from '../../src/sinks/kafka-unconfirmed.js';

const tx = (xid: number, commitLsn: bigint, seq: number) => ({ xid, commitLsn, seq });

describe('withPublished', () => {
  test('adds the transactions of a Kafka transaction, keeping the highest seq of each', () => {
    const list = withPublished([], [tx(7, 100n, 1), tx(7, 100n, 2), tx(9, 200n, 5)]);
    assert.deepEqual(list, [tx(7, 100n, 2), tx(9, 200n, 5)]);
  });
  test('moves a split transaction on to its later events', () => {
    const first = withPublished([], [tx(7, 100n, 10)]);
    assert.deepEqual(withPublished(first, [tx(7, 100n, 20)]), [tx(7, 100n, 20)]);
  });
  test('never lowers a seq (a refused event sent later)', () => {
    assert.deepEqual(withPublished([tx(7, 100n, 20)], [tx(7, 100n, 3)]), [tx(7, 100n, 20)]);
  });
  test('keeps at most `max` transactions, dropping the oldest', () => {
    const list = withPublished([tx(1, 10n, 1), tx(2, 20n, 2)], [tx(3, 30n, 3), tx(4, 40n, 4)], 3);
    assert.deepEqual(
      list.map((entry) => entry.xid),
      [2, 3, 4],
    );
  });
  test('returns the same list when nothing was published', () => {
    const list = [tx(1, 10n, 1)];
    assert.equal(withPublished(list, []), list);
  });
});

describe('withoutConfirmed', () => {
  const list = [tx(1, 100n, 1), tx(2, 200n, 2), tx(3, 300n, 3)];
  test('drops the transactions committed before the confirmed LSN', () => {
    assert.deepEqual(withoutConfirmed(list, 201n), [tx(3, 300n, 3)]);
  });
  test('keeps a transaction whose commit LSN is the confirmed LSN (not yet known completed)', () => {
    assert.deepEqual(withoutConfirmed(list, 200n), [tx(2, 200n, 2), tx(3, 300n, 3)]);
  });
  test('returns the same list when nothing was confirmed past it', () => {
    assert.equal(withoutConfirmed(list, 50n), list);
  });
});

describe('coversRow', () => {
  const list = [tx(7, 100n, 20)];
  test('covers the rows of a listed transaction up to its seq, and no further', () => {
    assert.equal(coversRow(list, 7, 15), true);
    assert.equal(coversRow(list, 7, 20), true);
    assert.equal(coversRow(list, 7, 21), false);
  });
  test('covers nothing of other transactions, nor without a list', () => {
    assert.equal(coversRow(list, 8, 1), false);
    assert.equal(coversRow(undefined, 7, 1), false);
  });
  test('a swept row needs both its xmin and its seq', () => {
    assert.equal(coversSweptRow(list, { sweptXmin: 7, seq: 3 }), true);
    assert.equal(coversSweptRow(list, { seq: 3 }), false);
    assert.equal(coversSweptRow(list, { sweptXmin: 7 }), false);
  });
});

describe('the list in the progress record', () => {
  test('round-trips through the record', () => {
    const progress = { commitLsn: 300n, events: 2, unconfirmed: [tx(7, 0x16b3748n, 20), tx(9, 300n, 22)] };
    assert.deepEqual(decodeProgress(encodeProgress(progress, 'slot')), progress);
    assert.deepEqual(encodeUnconfirmed([tx(7, 0x16b3748n, 20)]), [[7, 20, '0/16B3748']]);
  });
  test('a record from before the list existed still reads, with no list', () => {
    const old = JSON.stringify({ slot: 's', commitLsn: '0/16B3748', events: 12, at: 'x' });
    assert.deepEqual(decodeProgress(old), { commitLsn: 0x16b3748n, events: 12 });
  });
  test('an empty list is not written', () => {
    assert.equal(
      'unconfirmed' in JSON.parse(encodeProgress({ commitLsn: 1n, events: 1, unconfirmed: [] }, 's')),
      false,
    );
  });
  test('a malformed list is refused', () => {
    assert.throws(() => decodeUnconfirmed({}), /not a list/);
    assert.throws(() => decodeUnconfirmed([[1, 'x', '0/1']]), /not an unconfirmed transaction/);
  });
  test('progressAfter carries the list along', () => {
    const progress = { commitLsn: 100n, events: 1, unconfirmed: [tx(7, 100n, 1)] };
    assert.deepEqual(
      progressAfter(progress, { commitLsn: 200n, index: 0 }).unconfirmed,
      progress.unconfirmed,
    );
  });
});

describe('SweepFilter', () => {
  const progress = { commitLsn: 500n, events: 1, unconfirmed: [tx(7, 400n, 20)] };
  test('skips and counts the rows the list covers, and reports the count once', () => {
    const filter = new SweepFilter();
    assert.equal(filter.start(progress, 900n), undefined);
    assert.equal(filter.skips(progress, { sweptXmin: 7, seq: 20 }), true);
    assert.equal(filter.skips(progress, { sweptXmin: 7, seq: 21 }), false);
    assert.equal(filter.skips(progress, { sweptXmin: 8, seq: 1 }), false);
    assert.equal(filter.finish(), 1);
    assert.equal(filter.finish(), 0);
  });
  test('a record past the new slot (a failover that lost WAL) skips nothing, with a warning', () => {
    const filter = new SweepFilter();
    assert.match(filter.start(progress, 300n) ?? '', /0\/1F4\) is past the new slot \(0\/12C\)/);
    assert.equal(filter.skips(progress, { sweptXmin: 7, seq: 1 }), false);
    assert.equal(filter.finish(), 0);
  });
  test('without a record nothing is skipped', () => {
    const filter = new SweepFilter();
    assert.equal(filter.start(undefined, 300n), undefined);
    assert.equal(filter.skips(undefined, { sweptXmin: 7, seq: 1 }), false);
  });
});
