// pipeline/session.ts with `skipBelow`: transactions completed before a PostgreSQL crash rewound the
// slot (wal/resume.ts) are neither dispatched nor waited for, and the slot is confirmed past them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TransactionOwner } from '../../src/pipeline/dispatcher.js';
import { Session } from '../../src/pipeline/session.js';
import type { SkippedChanges } from '../../src/pipeline/session.js';
import type { TransactionHandle } from '../../src/pipeline/watermark.js';
import { InFlightWindow } from '../../src/pipeline/window.js';
import type { WalChange } from '../../src/wal/event.js';
import type { WalSource } from '../../src/wal/source.js';
import { outboxEvent } from '../kit/events.js';

const begin = (commitLsn: bigint): WalChange => ({ kind: 'begin', commitLsn, commitTimeMs: 0 });
const insert = (id: string): WalChange => ({ kind: 'event', event: outboxEvent({ id }) });
const commit = (endLsn: bigint): WalChange => ({ kind: 'commit', endLsn, commitTimeMs: 0 });
/** A transaction of `ids` whose commit record spans [commitLsn, commitLsn + 8). */
const transaction = (commitLsn: bigint, ...ids: string[]): WalChange[] => [
  begin(commitLsn),
  ...ids.map(insert),
  commit(commitLsn + 8n),
];

function harness(skipBelow: bigint | undefined, startLsn = 100n) {
  const confirms: bigint[] = [];
  const source: WalSource = { confirm: (lsn) => confirms.push(lsn), pause: () => {}, resume: () => {} };
  const window = new InFlightWindow(100, Number.MAX_SAFE_INTEGER);
  const dispatched: { id: string; transaction: TransactionHandle; owner: TransactionOwner }[] = [];
  const reports: SkippedChanges[] = [];
  const session = new Session({
    source,
    startLsn,
    window,
    dispatch: (event, transaction, owner) => {
      window.add(1);
      dispatched.push({ id: event.id, transaction, owner });
    },
    stopping: new AbortController().signal,
    skipBelow,
    onSkipped: (skipped) => reports.push(skipped),
  });
  const completeAll = (): void => {
    for (const { transaction, owner } of dispatched.splice(0)) {
      window.remove(1);
      owner.complete(transaction);
    }
    session.afterBatch();
  };
  const receive = (changes: WalChange[]): void => changes.forEach((change) => session.receive(change));
  return { session, confirms, dispatched, reports, completeAll, receive };
}

describe('Session skipping what the record covers', () => {
  test('transactions whose commit starts below the record are not dispatched; the first at it is', () => {
    const { session, confirms, dispatched, reports, completeAll, receive } = harness(300n);
    receive(transaction(120n, 'a', 'b'));
    receive(transaction(200n, 'c'));
    assert.deepEqual(dispatched, [], 'nothing dispatched below the record');
    assert.equal(session.lsn, 208n, 'the watermark passed the skipped transactions');
    assert.deepEqual(reports, [], 'reported once the skipping ends');
    // Its commit record starts exactly at the recorded end LSN: not covered by it.
    receive(transaction(300n, 'd'));
    assert.deepEqual(reports, [{ events: 3, transactions: 2 }]);
    assert.equal(confirms.at(-1), 208n, 'the slot confirmed past the skipped ones at once');
    assert.deepEqual(
      dispatched.map(({ id }) => id),
      ['d'],
    );
    completeAll();
    assert.equal(confirms.at(-1), 308n);
    assert.equal(session.completedEvents, 1, 'skipped events are not counted as completed');
    receive(transaction(400n, 'e'));
    assert.equal(reports.length, 1, 'reported once per session');
  });

  test('a keepalive past the record ends the skipping (and confirms), even with nothing more to stream', () => {
    const { session, confirms, reports, receive } = harness(300n);
    receive(transaction(120n, 'a'));
    session.keepalive(250n, false);
    assert.deepEqual(reports, [], 'the server may still send transactions below the record');
    session.keepalive(320n, false);
    assert.deepEqual(reports, [{ events: 1, transactions: 1 }]);
    assert.equal(confirms.at(-1), 320n);
  });

  test('a session ending while skipping reports what it skipped, and confirms nothing more', () => {
    const { session, confirms, reports, receive } = harness(300n);
    receive(transaction(120n, 'a', 'b'));
    receive([begin(200n), insert('c')]);
    session.close();
    assert.deepEqual(reports, [{ events: 3, transactions: 1 }]);
    assert.deepEqual(confirms, []);
  });

  test('no record, or a record at or behind the slot: nothing skipped, nothing reported', () => {
    for (const skipBelow of [undefined, 100n, 50n]) {
      const { dispatched, reports, receive, session } = harness(skipBelow);
      receive(transaction(120n, 'a'));
      session.keepalive(500n, false);
      session.close();
      assert.deepEqual(
        dispatched.map(({ id }) => id),
        ['a'],
      );
      assert.deepEqual(reports, []);
    }
  });
});
