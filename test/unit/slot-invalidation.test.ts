// wal/invalidation.ts: why a slot cannot stream, and how many recreations an hour the relay allows.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { invalidationOf, RecreationBudget, SlotRecreationLimitError } from '../../src/wal/invalidation.js';

const VALID = { invalidationReason: null, walStatus: 'reserved', confirmedFlushLsn: '0/1' };

describe('invalidationOf', () => {
  test('a valid slot has no reason', () => assert.equal(invalidationOf(VALID), undefined));

  test("PostgreSQL 17+'s invalidation_reason is taken as it is", () => {
    for (const reason of ['wal_removed', 'rows_removed', 'wal_level_insufficient', 'idle_timeout'])
      assert.equal(invalidationOf({ ...VALID, walStatus: 'lost', invalidationReason: reason }), reason);
  });

  test("before 17, wal_status 'lost' is wal_removed", () =>
    assert.equal(invalidationOf({ ...VALID, walStatus: 'lost' }), 'wal_removed'));

  test('a slot without a confirmed position never finished its creation', () =>
    assert.equal(invalidationOf({ ...VALID, confirmedFlushLsn: null }), 'unconfirmed'));
});

describe('RecreationBudget', () => {
  test('allows `perHour` recreations in any hour, then refuses until the oldest is an hour old', () => {
    const budget = new RecreationBudget(2);
    assert.equal(budget.take(0), true);
    assert.equal(budget.take(1_000), true);
    assert.equal(budget.take(2_000), false);
    assert.equal(budget.take(3_599_999), false);
    assert.equal(budget.take(3_600_000), true, 'the first one left the window');
    assert.equal(budget.take(3_600_001), false);
  });

  test('0 allows none: the first invalidation stops the relay', () =>
    assert.equal(new RecreationBudget(0).take(0), false));

  test('the error names the slot, the reason and the setting, in one line', () => {
    const { message } = new SlotRecreationLimitError('outbox_relay', 'idle_timeout', 3);
    assert.match(
      message,
      /^replication slot outbox_relay was invalidated \(idle_timeout\) more than OUTBOX_SLOT_MAX_RECREATIONS_PER_HOUR=3 times/,
    );
    assert.ok(!message.includes('\n'));
  });
});
