// wal/confirmed-position.ts: the recorder writes the confirmed position at most once per interval,
// only for positions reached by completing events, and flushes on a graceful stop.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Queryable } from '../../src/db/database.js';
import { PositionRecorder, readConfirmedPosition } from '../../src/wal/confirmed-position.js';
import { waitFor } from '../kit/wait.js';

const SERVER = { systemId: '7441', timeline: 2 };

/** Records each write's values (slot, system id, timeline, LSN); `failing` writes throw. */
class FakeDatabase implements Queryable {
  readonly writes: unknown[][] = [];
  failing = false;
  row: Record<string, unknown> | undefined;
  query(text: string, values: readonly unknown[] = []) {
    if (text.startsWith('select')) return Promise.resolve({ rows: this.row ? [this.row] : [], rowCount: 1 });
    if (this.failing) return Promise.reject(new Error('connection refused'));
    this.writes.push([...values]);
    return Promise.resolve({ rows: [], rowCount: 1 });
  }
  get lsns(): unknown[] {
    return this.writes.map((values) => values[3]);
  }
}

function recorder(db: FakeDatabase, minIntervalMs = 80) {
  const errors: unknown[] = [];
  const started = new PositionRecorder({
    db,
    slot: 's',
    minIntervalMs,
    onError: (error) => errors.push(error),
  });
  started.streamingFrom(SERVER);
  return { recorder: started, errors };
}

describe('PositionRecorder', () => {
  test('writes the first position at once, then the latest one per interval', async () => {
    const db = new FakeDatabase();
    const { recorder: positions } = recorder(db);
    positions.confirmed(0x100n, 1);
    await waitFor('the first write', () => db.writes.length === 1);
    assert.deepEqual(db.writes[0], ['s', '7441', 2, '0/100']);
    positions.confirmed(0x200n, 2);
    positions.confirmed(0x300n, 3);
    assert.equal(db.writes.length, 1, 'the next one waits for the interval');
    await waitFor('the second write', () => db.writes.length === 2);
    assert.deepEqual(db.lsns, ['0/100', '0/300'], 'only the latest of the interval');
    positions.close();
  });

  test('a position reached without a newly completed event (keepalives, skipped transactions) is not written', async () => {
    const db = new FakeDatabase();
    const { recorder: positions } = recorder(db, 0);
    positions.confirmed(0x100n, 1);
    await waitFor('the first write', () => db.writes.length === 1);
    positions.confirmed(0x500n, 1);
    await positions.flush();
    assert.deepEqual(db.lsns, ['0/100']);
    // A new session counts its own events from 0.
    positions.streamingFrom(SERVER);
    positions.confirmed(0x600n, 0);
    positions.confirmed(0x700n, 1);
    await positions.flush();
    assert.deepEqual(db.lsns, ['0/100', '0/700']);
    positions.close();
  });

  test('flush writes what waits for the interval now; close stops writing', async () => {
    const db = new FakeDatabase();
    const { recorder: positions } = recorder(db, 60_000);
    positions.confirmed(0x100n, 1);
    positions.confirmed(0x200n, 2);
    await positions.flush();
    assert.deepEqual(db.lsns, ['0/100', '0/200']);
    positions.close();
    positions.confirmed(0x300n, 3);
    await positions.flush();
    assert.deepEqual(db.lsns, ['0/100', '0/200']);
  });

  test('a failed write is retried; a position of the previous server is never written for the next', async () => {
    const db = new FakeDatabase();
    const { recorder: positions, errors } = recorder(db, 20);
    db.failing = true;
    positions.confirmed(0x100n, 1);
    await waitFor('a failed write', () => errors.length > 0);
    db.failing = false;
    await waitFor('the retry', () => db.writes.length === 1);
    assert.deepEqual(db.lsns, ['0/100']);
    db.failing = true;
    positions.confirmed(0x200n, 2);
    await waitFor('another failed write', () => errors.length > 1);
    positions.streamingFrom({ ...SERVER, timeline: 3 });
    db.failing = false;
    await positions.flush();
    assert.deepEqual(db.lsns, ['0/100'], 'timeline 2 position not written once on timeline 3');
    positions.confirmed(0x50n, 1);
    await positions.flush();
    assert.deepEqual(db.writes.at(-1), ['s', '7441', 3, '0/50'], 'a new timeline starts its own record');
    positions.close();
  });

  test('a position not written when its session ended is dropped, not written on the next connection', async () => {
    const db = new FakeDatabase();
    const { recorder: positions, errors } = recorder(db, 20);
    db.failing = true;
    positions.confirmed(0x100n, 1);
    await waitFor('a failed write', () => errors.length > 0);
    positions.sessionEnded();
    db.failing = false;
    await positions.flush();
    assert.deepEqual(db.writes, []);
    positions.streamingFrom(SERVER);
    positions.confirmed(0x200n, 1);
    await positions.flush();
    assert.deepEqual(db.lsns, ['0/200']);
    positions.close();
  });

  test('the record reads back as a position, or nothing when a column is empty', async () => {
    const db = new FakeDatabase();
    assert.equal(await readConfirmedPosition(db, 's'), undefined);
    db.row = { system_id: '7441', timeline: '2', confirmed_lsn: '1/A0' };
    assert.deepEqual(await readConfirmedPosition(db, 's'), { ...SERVER, lsn: 0x1000000a0n });
    db.row = { system_id: '7441', timeline: '2', confirmed_lsn: null };
    assert.equal(await readConfirmedPosition(db, 's'), undefined);
  });
});
