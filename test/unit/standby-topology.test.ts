// wal/standby.ts: whether DATABASE_URL and OUTBOX_PRIMARY_URL make a setup that works, decided from
// the two servers' facts (decoding on a hot standby, PostgreSQL 16+).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assessTopology } from '../../src/wal/standby.js';
import type { ServerFacts } from '../../src/wal/standby.js';

const PRIMARY: ServerFacts = {
  version: 160_014,
  inRecovery: false,
  systemId: '7714207915425130146',
  database: 'app',
  hotStandbyFeedback: false,
};
const STANDBY: ServerFacts = { ...PRIMARY, inRecovery: true, hotStandbyFeedback: true };

function refusal(verdict: ReturnType<typeof assessTopology>): string {
  assert.equal(verdict.kind, 'refused');
  const line = `${verdict.setting}: ${verdict.message}`;
  assert.ok(!line.includes('\n'), 'one line');
  return line;
}

describe('assessTopology', () => {
  test('a primary alone: everything goes there, on any version', () => {
    assert.deepEqual(assessTopology({ ...PRIMARY, version: 150_004 }, undefined, true), {
      kind: 'primary',
      warnings: [],
    });
  });

  test('a primary with OUTBOX_PRIMARY_URL set: that setting is not used, and a warning says so', () => {
    const verdict = assessTopology(PRIMARY, PRIMARY, false);
    assert.equal(verdict.kind, 'primary');
    assert.match(String(verdict.kind === 'primary' && verdict.warnings[0]), /OUTBOX_PRIMARY_URL is not used/);
  });

  test('a standby of 16 or later with its primary: decoding on the standby', () => {
    assert.deepEqual(assessTopology(STANDBY, PRIMARY, false), { kind: 'standby', warnings: [] });
    assert.equal(assessTopology({ ...STANDBY, version: 180_004 }, PRIMARY, false).kind, 'standby');
  });

  test('a standby without OUTBOX_PRIMARY_URL is refused, naming that setting', () => {
    assert.match(refusal(assessTopology(STANDBY, undefined, false)), /^OUTBOX_PRIMARY_URL: required: /);
  });

  test('a standby of PostgreSQL 15 is refused: decoding on a standby needs 16', () => {
    assert.equal(
      refusal(assessTopology({ ...STANDBY, version: 150_004 }, PRIMARY, false)),
      'DATABASE_URL: leads to a hot standby of PostgreSQL 15: decoding on a standby needs 16 or later; point it at the primary or upgrade',
    );
  });

  test('OUTBOX_PRIMARY_URL leading to a standby is refused', () => {
    assert.match(
      refusal(assessTopology(STANDBY, STANDBY, false)),
      /^OUTBOX_PRIMARY_URL: leads to a hot standby/,
    );
  });

  test('OUTBOX_PRIMARY_URL leading to another cluster or database is refused', () => {
    assert.match(
      refusal(assessTopology(STANDBY, { ...PRIMARY, systemId: '1' }, false)),
      /^OUTBOX_PRIMARY_URL: expected the primary of DATABASE_URL's standby \(system 7714207915425130146, database app\), not system 1/,
    );
    assert.match(
      refusal(assessTopology(STANDBY, { ...PRIMARY, database: 'other' }, false)),
      /^OUTBOX_PRIMARY_URL: .* not system \d+, database other$/,
    );
  });

  test('a failover slot cannot live on a standby', () => {
    assert.match(
      refusal(assessTopology(STANDBY, PRIMARY, true)),
      /^OUTBOX_SLOT_FAILOVER: true needs the slot on the primary/,
    );
  });

  test('hot_standby_feedback off on the standby is a warning', () => {
    const verdict = assessTopology({ ...STANDBY, hotStandbyFeedback: false }, PRIMARY, false);
    assert.equal(verdict.kind, 'standby');
    assert.match(String(verdict.kind === 'standby' && verdict.warnings[0]), /^hot_standby_feedback is off/);
  });
});
