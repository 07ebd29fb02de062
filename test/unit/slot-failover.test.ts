// wal/failover.ts: what OUTBOX_SLOT_FAILOVER=true requires of the primary, decided from its facts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assessFailover, parseSlotList } from '../../src/wal/failover.js';
import type { FailoverFacts } from '../../src/wal/failover.js';

const READY: FailoverFacts = {
  version: 170_010,
  synchronizedStandbySlots: 'standby_1',
  physicalSlots: [{ name: 'standby_1', active: true }],
};

describe('assessFailover', () => {
  test('off: nothing to check, on any version', () => {
    assert.deepEqual(assessFailover(false, { ...READY, version: 150_004, synchronizedStandbySlots: null }), {
      refusal: undefined,
      warnings: [],
    });
  });

  test('refuses a server older than 17 in one line naming the setting', () => {
    const { refusal } = assessFailover(true, { ...READY, version: 160_014, synchronizedStandbySlots: null });
    assert.equal(
      refusal,
      'true needs PostgreSQL 17 or later (failover slots), this server is 16: set it to false or upgrade',
    );
    assert.ok(!refusal.includes('\n'));
  });

  test('accepts 17 and 18 with a streaming standby slot named in synchronized_standby_slots', () => {
    assert.deepEqual(assessFailover(true, READY), { refusal: undefined, warnings: [] });
    assert.deepEqual(assessFailover(true, { ...READY, version: 180_004 }), {
      refusal: undefined,
      warnings: [],
    });
  });

  test('warns, not refuses, when synchronized_standby_slots is empty', () => {
    const verdict = assessFailover(true, { ...READY, synchronizedStandbySlots: '' });
    assert.equal(verdict.refusal, undefined);
    assert.equal(verdict.warnings.length, 1);
    assert.match(verdict.warnings[0]!, /^synchronized_standby_slots is empty/);
  });

  test('warns about a named slot that is missing, or that no standby streams from', () => {
    const verdict = assessFailover(true, {
      ...READY,
      synchronizedStandbySlots: 'standby_1, ghost, idle',
      physicalSlots: [
        { name: 'standby_1', active: true },
        { name: 'idle', active: false },
      ],
    });
    assert.deepEqual(verdict.warnings, [
      'synchronized_standby_slots names ghost, which is not a physical slot here',
      "no standby streams from physical slot idle: PostgreSQL holds the relay's stream back",
    ]);
  });
});

describe('parseSlotList', () => {
  test('comma-separated names, spaces trimmed, double quotes removed', () => {
    assert.deepEqual(parseSlotList(' a ,"B c",, d'), ['a', 'B c', 'd']);
    assert.deepEqual(parseSlotList(''), []);
  });
});
