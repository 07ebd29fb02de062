// The modules that run the db builders, against a scripted Database: which statements run on which
// connection, in which order, inside which transaction, and what is released.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PgCompletionStore } from '../../src/completion.js';
import type { Connection, Database, Queryable, Session } from '../../src/db/database.js';
import { DeadLetterRetryError, listDeadLetters, retryDeadLetters } from '../../src/dead-letters.js';
import { acquireLeadership } from '../../src/leader.js';
import { readStatus } from '../../src/status.js';
import { createSlotWithSnapshot } from '../../src/wal/slot.js';
import { outboxEvent } from '../kit/events.js';

type Answer = { rows?: unknown[]; rowCount?: number } | Error;

/**
 * Records every statement as `<connection>: <first words>` and answers from `script` (the first
 * entry whose key the statement's text contains); unscripted statements return no rows.
 */
class ScriptedDatabase implements Database {
  readonly log: string[] = [];
  readonly values: unknown[][] = [];
  private sessions = 0;

  constructor(private readonly script: Record<string, Answer | (() => Answer)> = {}) {}

  query(
    text: string,
    values: readonly unknown[] = [],
  ): Promise<{ rows: unknown[]; rowCount: number | null }> {
    return this.on('pool').query(text, values);
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    this.log.push('tx: begin');
    try {
      const result = await work(this.on('tx'));
      this.log.push('tx: commit');
      return result;
    } catch (error) {
      this.log.push('tx: rollback');
      throw error;
    }
  }

  reserveTextConnection(): Promise<Connection> {
    return Promise.resolve(this.on('text'));
  }

  connectReplication(): Promise<Connection> {
    return Promise.resolve(this.on('replication'));
  }

  connectSession(applicationName: string): Promise<Session> {
    this.sessions += 1;
    const lost = new AbortController();
    return Promise.resolve({ ...this.on(`session ${this.sessions} ${applicationName}`), lost: lost.signal });
  }

  end(): Promise<void> {
    this.log.push('end');
    return Promise.resolve();
  }

  on(connection: string): Connection {
    return {
      query: (text, values = []) => {
        this.log.push(`${connection}: ${text.trim().split(/\s+/).slice(0, 3).join(' ')}`);
        this.values.push([...values]);
        const entry = Object.entries(this.script).find(([key]) => text.includes(key))?.[1];
        const answer = typeof entry === 'function' ? entry() : (entry ?? {});
        if (answer instanceof Error) return Promise.reject(answer);
        const rows = answer.rows ?? [];
        return Promise.resolve({ rows, rowCount: answer.rowCount ?? rows.length });
      },
      release: (broken) => {
        this.log.push(`${connection}: released${broken ? ' broken' : ''}`);
        return Promise.resolve();
      },
    };
  }
}

const TABLE = { schema: 'public', name: 'outbox' };

async function collect<T>(pages: AsyncIterable<T[]>): Promise<T[]> {
  const all: T[] = [];
  for await (const page of pages) all.push(...page);
  return all;
}

describe('createSlotWithSnapshot (wal/slot.ts)', () => {
  test('creates the slot on a replication connection and reads its snapshot on a text connection', async () => {
    let fetches = 0;
    const db = new ScriptedDatabase({
      CREATE_REPLICATION_SLOT: { rows: [{ consistent_point: '0/16B3748', snapshot_name: '00000003-1' }] },
      fetch: () => ({ rows: fetches++ === 0 ? [{ id: 'a' }, { id: 'b' }] : [] }),
    });
    const created = await createSlotWithSnapshot(db, 'slot', TABLE, false);
    assert.equal(created.consistentLsn, 0x16b3748n);
    assert.deepEqual(db.log, [
      'pool: insert into outbox_relay_slot',
      'replication: CREATE_REPLICATION_SLOT "slot" LOGICAL',
      'text: begin isolation level',
      'text: set transaction snapshot',
      'replication: released',
    ]);
    assert.deepEqual(await collect(created.rows), [{ id: 'a' }, { id: 'b' }]);
    assert.deepEqual(db.log.slice(5), [
      'text: declare outbox_sweep no',
      'text: fetch 1000 from',
      'text: fetch 1000 from',
      'text: commit',
      'text: released',
    ]);
  });

  test('a failed snapshot import discards the reader and still ends the replication connection', async () => {
    const db = new ScriptedDatabase({
      CREATE_REPLICATION_SLOT: { rows: [{ consistent_point: '0/1', snapshot_name: 'gone' }] },
      'set transaction snapshot': new Error('invalid snapshot identifier'),
    });
    await assert.rejects(createSlotWithSnapshot(db, 'slot', TABLE, true), /invalid snapshot identifier/);
    assert.deepEqual(db.log.slice(-2), ['text: released broken', 'replication: released']);
  });
  test('without a reader (the pool failed) the replication connection is still ended', async () => {
    const db = new ScriptedDatabase();
    db.reserveTextConnection = () => Promise.reject(new Error('connection refused'));
    await assert.rejects(createSlotWithSnapshot(db, 'slot', TABLE, false), /connection refused/);
    assert.deepEqual(db.log, ['pool: insert into outbox_relay_slot', 'replication: released']);
  });
});

describe('PgCompletionStore (completion.ts) with dead letters', () => {
  test('writes the dead letters and completes the rows in one transaction', async () => {
    const db = new ScriptedDatabase({ 'delete from': { rowCount: 2 } });
    await new PgCompletionStore(db, TABLE, 'delete').complete([
      { event: outboxEvent({ id: 'a' }), deadLetter: undefined },
      {
        event: outboxEvent({ id: 'b' }),
        deadLetter: { error: 'too large', destination: 'kafka:t', attempts: 3 },
      },
    ]);
    assert.deepEqual(db.log, [
      'tx: begin',
      'tx: insert into outbox_dead_letter',
      'tx: delete from "public"."outbox"',
      'tx: commit',
    ]);
    assert.deepEqual(db.values[0]![0], ['b'], 'only the dead letter is parked');
    assert.deepEqual(db.values[1], ['{a,b}'], 'every row of the batch is completed (one uuid[] literal)');
  });
});

describe('dead letters (dead-letters.ts)', () => {
  test('retry moves each batch in a transaction of its own until a batch is short', async () => {
    let locks = 0;
    const db = new ScriptedDatabase({
      'now()::text': { rows: [{ started: '2026-01-01 00:00:00+00' }] },
      'for update': () => ({ rows: locks++ === 0 ? [{ id: 'a' }, { id: 'b' }] : [{ id: 'c' }] }),
      'with moved': () => ({ rows: locks === 1 ? [{ id: 'a' }, { id: 'b' }] : [{ id: 'c' }] }),
    });
    assert.deepEqual(await retryDeadLetters(db, TABLE, { all: true }, 2), ['a', 'b', 'c']);
    const batch = [
      'tx: begin',
      'tx: select id from',
      'tx: delete from "public"."outbox"',
      'tx: with moved as',
      'tx: commit',
    ];
    assert.deepEqual(db.log, ['pool: select now()::text as', ...batch, ...batch]);
  });

  test('retry of an id not parked moves nothing and names it', async () => {
    const db = new ScriptedDatabase({
      'now()::text': { rows: [{ started: '2026-01-01 00:00:00+00' }] },
      'where id = any': { rows: [{ id: 'a' }] },
    });
    await assert.rejects(retryDeadLetters(db, TABLE, { ids: ['a', 'b'] }), (error: unknown) => {
      assert.ok(error instanceof DeadLetterRetryError);
      assert.match(error.message, /^no dead letter with id b:/);
      return true;
    });
    assert.ok(!db.log.includes('tx: begin'), 'no transaction started');
  });

  test('list maps the rows and counts them all', async () => {
    const db = new ScriptedDatabase({
      'count(*)': { rows: [{ total: '7' }] },
      'from outbox_dead_letter order by': {
        rows: [
          {
            id: 'a',
            aggregate_type: 'order',
            aggregate_id: 'o1',
            event_type: 'placed',
            payload: { n: 1 },
            headers: {},
            created_at: new Date('2026-01-01T00:00:00Z'),
            error: 'unroutable',
            attempts: 0,
            dead_lettered_at: new Date('2026-01-02T00:00:00Z'),
            destination: null,
            outbox_seq: '42',
          },
        ],
      },
    });
    const list = await listDeadLetters(db, 1);
    assert.equal(list.total, 7);
    assert.deepEqual(list.deadLetters[0], {
      id: 'a',
      aggregateType: 'order',
      aggregateId: 'o1',
      eventType: 'placed',
      payload: { n: 1 },
      headers: {},
      createdAt: '2026-01-01T00:00:00.000Z',
      error: 'unroutable',
      attempts: 0,
      deadLetteredAt: '2026-01-02T00:00:00.000Z',
      destination: null,
      outboxSeq: 42,
    });
  });
});

describe('readStatus (status.ts)', () => {
  test('a large outbox is counted by the planner estimate, without a count of its rows', async () => {
    const db = new ScriptedDatabase({
      'from pg_stat_activity': { rows: [{ running: false, last_error: null, last_error_at: null }] },
      'as estimate': { rows: [{ estimate: 250_000 }] },
      'count(*)': { rows: [{ count: '3' }] },
    });
    const status = await readStatus(db, 'slot', TABLE, false);
    assert.equal(status.pendingRows, 250_000);
    assert.equal(status.pendingRowsEstimated, true);
    assert.equal(status.deadLetters, 3);
    assert.equal(
      db.log.filter((line) => line.startsWith('pool: select count(*)')).length,
      1,
      'dead letters only',
    );
  });
});

describe('acquireLeadership (leader.ts)', () => {
  test('polls on one named session until the lock is free, and releases that session when done', async () => {
    let tries = 0;
    const db = new ScriptedDatabase({ pg_try_advisory_lock: () => ({ rows: [{ locked: ++tries === 3 }] }) });
    const waits: boolean[] = [];
    const leadership = await acquireLeadership(
      db,
      's',
      1,
      new AbortController().signal,
      (first) => waits.push(first),
      () => assert.fail('reachable'),
    );
    assert.ok(leadership);
    assert.deepEqual(waits, [true, false]);
    await leadership.release();
    assert.deepEqual(db.log, [
      "session 1 outbox-relay:s:lock: select pg_try_advisory_lock(hashtextextended('outbox-relay:' ||",
      "session 1 outbox-relay:s:lock: select pg_try_advisory_lock(hashtextextended('outbox-relay:' ||",
      "session 1 outbox-relay:s:lock: select pg_try_advisory_lock(hashtextextended('outbox-relay:' ||",
      'session 1 outbox-relay:s:lock: released',
    ]);
  });

  test('a session that fails is released and a new one opened', async () => {
    let tries = 0;
    const db = new ScriptedDatabase({
      pg_try_advisory_lock: () =>
        ++tries === 1 ? new Error('connection terminated') : { rows: [{ locked: true }] },
    });
    let unreachable = 0;
    const leadership = await acquireLeadership(
      db,
      's',
      1,
      new AbortController().signal,
      () => assert.fail('not held'),
      () => (unreachable += 1),
    );
    assert.ok(leadership);
    assert.equal(unreachable, 1);
    assert.deepEqual(
      db.log.filter((line) => line.endsWith('released')),
      ['session 1 outbox-relay:s:lock: released'],
    );
    assert.ok(db.log.at(-1)!.startsWith('session 2 outbox-relay:s:lock: select'));
  });
});
