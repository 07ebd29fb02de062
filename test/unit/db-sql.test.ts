// The SQL builders of src/db: identifiers quoted by one helper, names and data passed as values
// (never pasted into the text), one value per placeholder, and the shapes the callers rely on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as completionSql from '../../src/db/completion-sql.js';
import { run, statement } from '../../src/db/database.js';
import type { Statement } from '../../src/db/database.js';
import * as deadLetterSql from '../../src/db/dead-letter-sql.js';
import { insertOutboxRows } from '../../src/db/enqueue-sql.js';
import * as heartbeatSql from '../../src/db/heartbeat-sql.js';
import { quoteIdent, quoteLiteral, quoteTable } from '../../src/db/identifiers.js';
import * as lockSql from '../../src/db/lock-sql.js';
import * as monitorSql from '../../src/db/monitor-sql.js';
import * as positionSql from '../../src/db/position-sql.js';
import * as preflightSql from '../../src/db/preflight-sql.js';
import * as slotSql from '../../src/db/slot-sql.js';
import * as statusSql from '../../src/db/status-sql.js';
import { outboxEvent } from '../kit/events.js';

// A name that would break out of any quoting done by hand.
const HOSTILE = `x"'; drop table outbox; --`;
const TABLE = { schema: 'public', name: 'outbox' };
const ODD_TABLE = { schema: 'my"schema', name: `out'box` };
const QUOTED_ODD_TABLE = `"my""schema"."out'box"`;

/** Every builder, called with the hostile name wherever it takes a name or a value. */
function everyStatement(): Record<string, Statement> {
  const at = new Date(0);
  return {
    walLevel: preflightSql.walLevel(),
    tableExists: preflightSql.tableExists({ schema: HOSTILE, name: HOSTILE }),
    publicationOf: preflightSql.publicationOf(HOSTILE),
    createPublication: preflightSql.createPublication('pub', TABLE),
    publicationHasTable: preflightSql.publicationHasTable(HOSTILE, { schema: HOSTILE, name: HOSTILE }),
    readSlot: slotSql.readSlot(HOSTILE),
    slotSwept: slotSql.slotSwept(HOSTILE),
    markSlotSwept: slotSql.markSlotSwept(HOSTILE),
    dropSlot: slotSql.dropSlot(HOSTILE),
    registerSlot: slotSql.registerSlot(HOSTILE),
    createSlotExportingSnapshot: slotSql.createSlotExportingSnapshot('slot'),
    createFailoverSlot: slotSql.createSlotExportingSnapshot('slot', true),
    alterSlotFailover: slotSql.alterSlotFailover('slot', true),
    failoverSettings: preflightSql.failoverSettings(),
    beginSnapshotRead: slotSql.beginSnapshotRead(),
    useSnapshot: slotSql.useSnapshot('00000003-00000002-1'),
    declareSweepCursor: slotSql.declareSweepCursor(TABLE, false),
    fetchSweepPage: slotSql.fetchSweepPage(),
    endSnapshotRead: slotSql.endSnapshotRead(),
    tryLeaderLock: lockSql.tryLeaderLock(HOSTILE),
    migrationLock: lockSql.migrationLock(),
    emitLogicalMessage: heartbeatSql.emitLogicalMessage(HOSTILE, HOSTILE),
    slotLag: monitorSql.slotLag(HOSTILE),
    recordLastError: monitorSql.recordLastError(HOSTILE, HOSTILE, at),
    readConfirmedPosition: positionSql.readConfirmedPosition(HOSTILE),
    recordConfirmedPosition: positionSql.recordConfirmedPosition(HOSTILE, HOSTILE, 2, '0/16B3748'),
    finishRowsDelete: completionSql.finishRows(TABLE, 'delete', [HOSTILE]),
    finishRowsMark: completionSql.finishRows(TABLE, 'mark', [HOSTILE]),
    runningXids: completionSql.runningXids([7]),
    insertDeadLetters: completionSql.insertDeadLetters(TABLE, [
      { event: outboxEvent({ id: HOSTILE }), error: HOSTILE, destination: HOSTILE, attempts: 1 },
    ]),
    listParked: deadLetterSql.listParked(10),
    countParked: deadLetterSql.countParked(),
    retryStart: deadLetterSql.retryStart(),
    parkedAmong: deadLetterSql.parkedAmong([HOSTILE]),
    lockRetryBatch: deadLetterSql.lockRetryBatch(HOSTILE, [HOSTILE], 500),
    deleteFinishedRows: deadLetterSql.deleteFinishedRows(TABLE, [HOSTILE]),
    moveBackToOutbox: deadLetterSql.moveBackToOutbox(TABLE, [HOSTILE]),
    slotStatus: statusSql.slotStatus(HOSTILE),
    relaySessions: statusSql.relaySessions(HOSTILE, [HOSTILE]),
    estimatedRows: statusSql.estimatedRows(TABLE),
    countPending: statusSql.countPending(TABLE, false),
    countDeadLetters: statusSql.countDeadLetters(),
    insertOutboxRows: insertOutboxRows([
      { aggregateType: HOSTILE, aggregateId: HOSTILE, eventType: HOSTILE, payload: HOSTILE, headers: {} },
    ]),
  };
}

function highestPlaceholder(text: string): number {
  return Math.max(0, ...[...text.matchAll(/\$(\d+)/g)].map((match) => Number(match[1])));
}

describe('db identifiers', () => {
  test('quoteIdent, quoteTable and quoteLiteral double the quote they are wrapped in', () => {
    assert.equal(quoteIdent('outbox'), '"outbox"');
    assert.equal(quoteIdent('a"b'), '"a""b"');
    assert.equal(quoteTable(ODD_TABLE), QUOTED_ODD_TABLE);
    assert.equal(quoteLiteral(`it's`), `'it''s'`);
  });
});

describe('db builders', () => {
  test('names and data go in as values wherever PostgreSQL takes a parameter', () => {
    for (const [name, built] of Object.entries(everyStatement())) {
      assert.ok(!built.text.includes(HOSTILE), `${name}: the text holds no value`);
    }
  });

  test('each statement has exactly one value per placeholder', () => {
    for (const [name, built] of Object.entries(everyStatement())) {
      assert.equal(built.values.length, highestPlaceholder(built.text), name);
    }
  });

  test('identifiers pasted into the text are quoted by quoteIdent / quoteTable', () => {
    const odd = (text: string): void => assert.ok(text.includes(QUOTED_ODD_TABLE), text);
    odd(preflightSql.createPublication('pub', ODD_TABLE).text);
    odd(slotSql.declareSweepCursor(ODD_TABLE, false).text);
    odd(completionSql.finishRows(ODD_TABLE, 'delete', []).text);
    odd(completionSql.finishRows(ODD_TABLE, 'mark', []).text);
    odd(completionSql.insertDeadLetters(ODD_TABLE, []).text);
    odd(deadLetterSql.deleteFinishedRows(ODD_TABLE, []).text);
    odd(deadLetterSql.moveBackToOutbox(ODD_TABLE, []).text);
    odd(statusSql.countPending(ODD_TABLE, true).text);
    assert.deepEqual(
      statusSql.estimatedRows(ODD_TABLE).values,
      [QUOTED_ODD_TABLE],
      'regclass takes it quoted',
    );
    assert.match(preflightSql.createPublication('my"pub', TABLE).text, /^create publication "my""pub" for/);
    assert.equal(
      slotSql.createSlotExportingSnapshot('my"slot').text,
      'CREATE_REPLICATION_SLOT "my""slot" LOGICAL pgoutput EXPORT_SNAPSHOT',
    );
    assert.equal(slotSql.useSnapshot(`a'b`).text, `set transaction snapshot 'a''b'`);
  });

  test('a failover slot is created with the option list (17+), and its flag altered by name', () => {
    assert.equal(
      slotSql.createSlotExportingSnapshot('my"slot', true).text,
      `CREATE_REPLICATION_SLOT "my""slot" LOGICAL pgoutput (SNAPSHOT 'export', FAILOVER true)`,
    );
    assert.equal(
      slotSql.createSlotExportingSnapshot('s', false).text,
      'CREATE_REPLICATION_SLOT "s" LOGICAL pgoutput EXPORT_SNAPSHOT',
    );
    assert.equal(
      slotSql.alterSlotFailover('my"slot', true).text,
      'ALTER_REPLICATION_SLOT "my""slot" (FAILOVER true)',
    );
    assert.equal(slotSql.alterSlotFailover('s', false).text, 'ALTER_REPLICATION_SLOT "s" (FAILOVER false)');
  });

  test('the slot is read on every version: columns of newer servers through to_jsonb', () => {
    const { text } = slotSql.readSlot('s');
    assert.match(text, /\(to_jsonb\(s\) ->> 'failover'\)::boolean as failover/);
    assert.match(text, /to_jsonb\(s\) ->> 'invalidation_reason' as invalidation_reason/);
    assert.match(
      preflightSql.failoverSettings().text,
      /current_setting\('synchronized_standby_slots', true\)/,
    );
  });

  test('the sweep reads every row, or only the unprocessed ones in mark mode, oldest first', () => {
    assert.equal(
      slotSql.declareSweepCursor(TABLE, false).text,
      'declare outbox_sweep no scroll cursor for select *, xmin::text as outbox_relay_xmin from "public"."outbox"  order by seq',
    );
    assert.equal(
      slotSql.declareSweepCursor(TABLE, true).text,
      'declare outbox_sweep no scroll cursor for select *, xmin::text as outbox_relay_xmin from "public"."outbox" where processed_at is null order by seq',
    );
    assert.equal(slotSql.fetchSweepPage().text, 'fetch 1000 from outbox_sweep');
  });

  test('completion deletes, or marks only rows not marked yet', () => {
    const ids = ['8a1c2f5e-0000-4000-8000-000000000001', '8a1c2f5e-0000-4000-8000-000000000002'];
    const deleted = completionSql.finishRows(TABLE, 'delete', ids);
    assert.equal(deleted.text, 'delete from "public"."outbox" where id = any($1::uuid[])');
    // One array literal: PostgreSQL's text of uuids needs no quoting.
    const literal = '{8a1c2f5e-0000-4000-8000-000000000001,8a1c2f5e-0000-4000-8000-000000000002}';
    assert.deepEqual(deleted.values, [literal]);
    const marked = completionSql.finishRows(TABLE, 'mark', ids);
    assert.equal(
      marked.text,
      'update "public"."outbox" set processed_at = now() where id = any($1::uuid[]) and processed_at is null',
    );
    assert.deepEqual(marked.values, [literal]);
  });

  test('dead letters are one column array per field, in the order of the events', () => {
    const { values } = completionSql.insertDeadLetters(TABLE, [
      {
        event: outboxEvent({ id: 'a', headers: { trace: 't' } }),
        error: 'too large',
        destination: 'kafka:orders',
        attempts: 3,
      },
      {
        event: outboxEvent({ id: 'b', createdAt: '' }),
        error: 'unroutable',
        destination: undefined,
        attempts: 0,
      },
    ]);
    assert.equal(values.length, 10);
    const [ids, , , , payloads, headers, createdAt, errors, destinations, attempts] = values as unknown[][];
    assert.deepEqual(ids, ['a', 'b']);
    assert.deepEqual(payloads, ['{}', '{}'], 'the payload as stored, not serialised again');
    assert.deepEqual(headers, ['{"trace":"t"}', '{}']);
    assert.equal(createdAt![0], '2026-01-01T00:00:00Z');
    assert.ok(!Number.isNaN(Date.parse(createdAt![1] as string)), 'a missing created_at becomes now');
    assert.deepEqual(errors, ['too large', 'unroutable']);
    assert.deepEqual(destinations, ['kafka:orders', null]);
    assert.deepEqual(attempts, [3, 0]);
  });

  test('dead letters are listed and retried in their original outbox order', () => {
    const order = /order by outbox_seq nulls first, created_at, dead_lettered_at, id/;
    assert.match(deadLetterSql.listParked(5).text, order);
    assert.deepEqual(deadLetterSql.listParked(5).values, [5]);
    const batch = deadLetterSql.lockRetryBatch('2026-01-01 00:00:00+00', null, 500);
    assert.match(batch.text, order);
    assert.match(batch.text, /for update$/);
    assert.deepEqual(batch.values, ['2026-01-01 00:00:00+00', null, 500]);
    assert.match(deadLetterSql.moveBackToOutbox(TABLE, ['a']).text, order);
  });

  test('status counts every row, or the unprocessed ones in mark mode', () => {
    assert.equal(
      statusSql.countPending(TABLE, false).text,
      'select count(*)::text as count from "public"."outbox" ',
    );
    assert.equal(
      statusSql.countPending(TABLE, true).text,
      'select count(*)::text as count from "public"."outbox" where processed_at is null',
    );
  });

  test('enqueue inserts the events in one statement, in order, PostgreSQL choosing missing ids', () => {
    const { text, values } = insertOutboxRows([
      { aggregateType: 'order', aggregateId: 'o1', eventType: 'placed', payload: { n: 1 }, headers: {} },
      {
        id: '00000000-0000-4000-8000-000000000001',
        aggregateType: 'order',
        aggregateId: 'o1',
        eventType: 'paid',
        payload: 'text',
        headers: { trace: 't' },
      },
    ]);
    assert.match(text, /^insert into outbox \(/);
    assert.match(text, /with ordinality .* order by n/s);
    assert.deepEqual(values, [
      [null, '00000000-0000-4000-8000-000000000001'],
      ['order', 'order'],
      ['o1', 'o1'],
      ['placed', 'paid'],
      ['{"n":1}', '"text"'],
      ['{}', '{"trace":"t"}'],
    ]);
  });

  test('the leader lock is keyed by the slot, the migration lock by a fixed name', () => {
    assert.match(
      lockSql.tryLeaderLock('s').text,
      /pg_try_advisory_lock\(hashtextextended\('outbox-relay:' \|\| \$1, 0\)\)/,
    );
    assert.deepEqual(lockSql.tryLeaderLock('s').values, ['s']);
    assert.match(
      lockSql.migrationLock().text,
      /pg_advisory_lock\(hashtextextended\('outbox-relay:migrate', 0\)\)/,
    );
  });
});

describe('db run', () => {
  test('passes text and values through, and counts no rows as 0', async () => {
    const seen: unknown[] = [];
    const db = {
      query: (text: string, values?: readonly unknown[]) => {
        seen.push(text, values);
        return Promise.resolve({ rows: [{ locked: true }], rowCount: null });
      },
    };
    const result = await run(db, statement<{ locked: boolean }>('select $1', [1]));
    assert.deepEqual(seen, ['select $1', [1]]);
    assert.deepEqual(result, { rows: [{ locked: true }], rowCount: 0 });
  });
});
