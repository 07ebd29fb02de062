import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Watermark } from '../../src/pipeline/watermark.js';

describe('Watermark', () => {
  test('moves to a transaction end only when its commit arrived and its events completed', () => {
    const watermark = new Watermark(100n);
    const tx = watermark.begin(0);
    watermark.addEvent(tx);
    watermark.addEvent(tx);
    assert.equal(watermark.commit(tx, 200n), false);
    assert.equal(watermark.complete(tx), false);
    assert.equal(watermark.lsn, 100n);
    assert.equal(watermark.complete(tx), true);
    assert.equal(watermark.lsn, 200n);
    assert.equal(watermark.idle, true);
  });

  test('never passes an unfinished transaction, even when later ones finish first', () => {
    const watermark = new Watermark(0n);
    const first = watermark.begin(0);
    watermark.addEvent(first);
    watermark.commit(first, 10n);
    const second = watermark.begin(0);
    watermark.addEvent(second);
    watermark.commit(second, 20n);
    watermark.complete(second);
    assert.equal(watermark.lsn, 0n);
    watermark.complete(first);
    assert.equal(watermark.lsn, 20n);
  });

  test('holds a large transaction back until its commit, however many pieces completed', () => {
    const watermark = new Watermark(0n);
    const tx = watermark.begin(0);
    for (let i = 0; i < 5000; i++) {
      watermark.addEvent(tx);
      watermark.complete(tx);
    }
    assert.equal(watermark.lsn, 0n);
    assert.equal(watermark.idle, false);
    watermark.commit(tx, 99n);
    assert.equal(watermark.lsn, 99n);
  });

  test('a transaction without outbox events finishes at its commit', () => {
    const watermark = new Watermark(5n);
    assert.equal(watermark.commit(watermark.begin(0), 50n), true);
    assert.equal(watermark.lsn, 50n);
  });

  test('confirms a keepalive position only when idle', () => {
    const watermark = new Watermark(10n);
    const tx = watermark.begin(0);
    assert.equal(watermark.idleAt(500n), false, 'a half-received transaction blocks it');
    watermark.commit(tx, 20n);
    assert.equal(watermark.idleAt(500n), true);
    assert.equal(watermark.lsn, 500n);
    assert.equal(watermark.idleAt(400n), false, 'never moves backwards');
    assert.equal(watermark.lsn, 500n);
  });

  test('reports the commit time of the oldest unfinished transaction', () => {
    const watermark = new Watermark(0n);
    const a = watermark.begin(1_000);
    watermark.addEvent(a);
    watermark.commit(a, 1n);
    const b = watermark.begin(2_000);
    watermark.addEvent(b);
    watermark.commit(b, 2n);
    assert.equal(watermark.oldestPendingCommitTimeMs, 1_000);
    watermark.complete(a);
    assert.equal(watermark.oldestPendingCommitTimeMs, 2_000);
    watermark.complete(b);
    assert.equal(watermark.oldestPendingCommitTimeMs, undefined);
  });

  test('stays correct across many transactions (compaction of finished ones)', () => {
    const watermark = new Watermark(0n);
    const open = [];
    for (let i = 1; i <= 10_000; i++) {
      const tx = watermark.begin(i);
      watermark.addEvent(tx);
      watermark.commit(tx, BigInt(i));
      open.push(tx);
    }
    // Finish in reverse order: the watermark may only move at the very end.
    for (const tx of open.slice(1).reverse()) watermark.complete(tx);
    assert.equal(watermark.lsn, 0n);
    watermark.complete(open[0]!);
    assert.equal(watermark.lsn, 10_000n);
    assert.equal(watermark.idle, true);
  });

  test('refuses to complete more events than were added', () => {
    const watermark = new Watermark(0n);
    assert.throws(() => watermark.complete(watermark.begin(0)), /more events completed than were added/);
  });
});
