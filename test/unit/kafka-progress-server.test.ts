// sinks/kafka-progress-server.ts: what a progress record may cover on the server streamed now.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { covers } from '../../src/sinks/kafka-progress.js';
import type { Progress } from '../../src/sinks/kafka-progress.js';
import { needsHistory, progressOnServer, progressScope } from '../../src/sinks/kafka-progress-server.js';
import { coversRow } from '../../src/sinks/kafka-unconfirmed.js';

const OLD = { systemId: '7441', timeline: 2 };
const PROMOTED = { systemId: '7441', timeline: 3 };
const RESTORED = { systemId: '9000', timeline: 2 };
/** Timeline 3's history: timeline 1 ended at 0x100, timeline 2 at 0x500. */
const HISTORY = new Map([
  [1, 0x100n],
  [2, 0x500n],
]);

/** Far past the switch point, with transactions listed below, at and past it. */
const AHEAD: Progress = {
  commitLsn: 0x900n,
  events: 2,
  server: OLD,
  unconfirmed: [
    { xid: 700, commitLsn: 0x400n, seq: 10 },
    { xid: 701, commitLsn: 0x500n, seq: 11 },
    { xid: 702, commitLsn: 0x800n, seq: 12 },
  ],
};

describe('progressScope', () => {
  test('the same system and timeline: everything the record says', () => {
    assert.deepEqual(progressScope(OLD, { ...OLD }, undefined), { kind: 'all' });
  });
  test('a record of no server (an earlier version) is taken as the current one', () => {
    assert.deepEqual(progressScope(undefined, PROMOTED, undefined), { kind: 'all' });
  });
  test('a later timeline: only below where it left the recorded one', () => {
    assert.deepEqual(progressScope(OLD, PROMOTED, HISTORY), { kind: 'below', switchpoint: 0x500n });
    assert.deepEqual(progressScope({ ...OLD, timeline: 1 }, PROMOTED, HISTORY), {
      kind: 'below',
      switchpoint: 0x100n,
    });
  });
  test('a later timeline whose switch point is not known: nothing', () => {
    const unread = progressScope(OLD, PROMOTED, undefined);
    assert.equal(unread.kind, 'none');
    assert.match(unread.kind === 'none' ? unread.reason : '', /not known \(no timeline history\)/);
    // Timeline 2 is no ancestor of a timeline 3 that forked from timeline 1.
    const sibling = progressScope(OLD, PROMOTED, new Map([[1, 0x100n]]));
    assert.match(sibling.kind === 'none' ? sibling.reason : '', /not an ancestor in its history/);
  });
  test('an earlier timeline than the record (a former primary): nothing', () => {
    const scope = progressScope(PROMOTED, OLD, HISTORY);
    assert.equal(scope.kind, 'none');
    assert.match(scope.kind === 'none' ? scope.reason : '', /on the earlier timeline 2/);
  });
  test('another system: nothing, whatever its timeline', () => {
    const scope = progressScope(OLD, RESTORED, HISTORY);
    assert.deepEqual(scope, {
      kind: 'none',
      reason: 'written while streaming system 7441 timeline 2, this is system 9000',
    });
  });
});

describe('needsHistory', () => {
  test('only for a record of an earlier timeline of the same system', () => {
    assert.equal(needsHistory(OLD, PROMOTED), true);
    assert.equal(needsHistory(OLD, OLD), false);
    assert.equal(needsHistory(PROMOTED, OLD), false);
    assert.equal(needsHistory(OLD, RESTORED), false);
    assert.equal(needsHistory(undefined, PROMOTED), false);
  });
});

describe('progressOnServer', () => {
  test('the same server: unchanged, no warning', () => {
    assert.deepEqual(progressOnServer(AHEAD, OLD, undefined), { progress: AHEAD, warning: undefined });
  });

  test('a record of no server is named as the current one, without a warning', () => {
    const judged = progressOnServer({ commitLsn: 0x900n, events: 2 }, PROMOTED, undefined);
    assert.deepEqual(judged, {
      progress: { commitLsn: 0x900n, events: 2, server: PROMOTED },
      warning: undefined,
    });
  });

  test('another system: set aside, so no new event or swept row is skipped', () => {
    const judged = progressOnServer(AHEAD, RESTORED, undefined);
    assert.equal(covers(judged.progress, { commitLsn: 0x10n, index: 0 }), false);
    assert.equal(coversRow(judged.progress?.unconfirmed, 700, 1), false);
    assert.equal(judged.progress, undefined);
    assert.match(
      judged.warning!,
      /^the progress record \(0\/900#2\) was written while streaming system 7441 timeline 2, this is system 9000: set aside/,
    );
  });

  test('a later timeline: positions and swept transactions at or past the switch point are cut', () => {
    const judged = progressOnServer(AHEAD, PROMOTED, HISTORY);
    assert.deepEqual(judged.progress, {
      commitLsn: 0x500n,
      events: 0,
      server: PROMOTED,
      unconfirmed: [{ xid: 700, commitLsn: 0x400n, seq: 10 }],
    });
    // Before the switch point: shared history, still covered.
    assert.equal(covers(judged.progress, { commitLsn: 0x4ffn, index: 99 }), true);
    assert.equal(coversRow(judged.progress?.unconfirmed, 700, 10), true);
    // At and past it: the new timeline's own transactions (LSNs and xids reused), never skipped.
    assert.equal(covers(judged.progress, { commitLsn: 0x500n, index: 0 }), false);
    assert.equal(covers(judged.progress, { commitLsn: 0x600n, index: 0 }), false);
    assert.equal(coversRow(judged.progress?.unconfirmed, 701, 1), false);
    assert.equal(coversRow(judged.progress?.unconfirmed, 702, 1), false);
    assert.match(judged.warning!, /timeline 3 left at 0\/500: it covers only positions and swept/);
  });

  test('a later timeline: a record wholly before the switch point covers what it says, quietly', () => {
    const before: Progress = {
      commitLsn: 0x300n,
      events: 4,
      server: OLD,
      unconfirmed: [{ xid: 700, commitLsn: 0x300n, seq: 10 }],
    };
    assert.deepEqual(progressOnServer(before, PROMOTED, HISTORY), {
      progress: { ...before, server: PROMOTED },
      warning: undefined,
    });
  });

  test('only the list past the switch point: the positions stay, the list is cut', () => {
    const judged = progressOnServer({ ...AHEAD, commitLsn: 0x450n }, PROMOTED, HISTORY);
    assert.equal(judged.progress?.commitLsn, 0x450n);
    assert.equal(judged.progress?.events, 2);
    assert.deepEqual(judged.progress?.unconfirmed, [{ xid: 700, commitLsn: 0x400n, seq: 10 }]);
    assert.ok(judged.warning);
  });

  test('a later timeline without its history: set aside', () => {
    const judged = progressOnServer(AHEAD, PROMOTED, undefined);
    assert.equal(judged.progress, undefined);
    assert.match(judged.warning!, /not known \(no timeline history\): set aside/);
  });

  test('no record: nothing to judge', () => {
    assert.deepEqual(progressOnServer(undefined, OLD, undefined), {
      progress: undefined,
      warning: undefined,
    });
  });
});
