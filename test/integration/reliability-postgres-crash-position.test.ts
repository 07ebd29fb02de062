// A PostgreSQL crash rewinds a logical slot to the position it last wrote to disk (at a checkpoint,
// and only when the slot was dirty for another reason). The relay's own record of the position it
// confirmed (outbox_relay_slot.confirmed_lsn, wal/confirmed-position.ts) lets it skip what it had
// already delivered and completed: after the crash, 0 of those events are published again, whether
// the relay was stopped before the crash and started after it, or kept running and reconnected.
//
// To make the rewind certain, a transaction is held open across the load: while it is the oldest
// one decoding must keep, the slot's restart position cannot move, so PostgreSQL never saves the
// slot again after the CHECKPOINT taken before the load. Without the record, the relay would publish
// all N events again (the test checks that the slot really was behind them).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { createTopics, TopicReader } from '../support/kafka.js';
import { outboxCount } from '../support/outbox.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { adminQuery, createTestDatabase, currentWalLsn, localService, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';
import { parseLsn } from '../../src/wal/lsn.js';

after(assertNoProcessLeft);

const TRANSACTIONS = 20;
const EVENTS_PER_TRANSACTION = 10;
const N = TRANSACTIONS * EVENTS_PER_TRANSACTION;

/**
 * Commits one transaction of `count` events; returns their ids and the WAL insert position just
 * before its COMMIT, which its commit record (and so its end LSN) is past.
 */
async function commitBatch(
  client: pg.Client,
  type: string,
  count: number,
  tag: string,
): Promise<{ ids: string[]; beforeCommit: bigint }> {
  await client.query('begin');
  const { rows } = await client.query<{ id: string }>(
    `insert into outbox (aggregate_type, aggregate_id, event_type, payload)
       select $1, 'a' || (g % 5), 'E', jsonb_build_object('tag', $2::text, 'i', g)
         from generate_series(1, $3) g
     returning id`,
    [type, tag, count],
  );
  const { rows: at } = await client.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
  await client.query('commit');
  return { ids: rows.map((row) => row.id), beforeCommit: parseLsn(at[0]!.lsn) };
}

async function recordedPosition(
  db: TestDatabase,
): Promise<{ system_id: string; timeline: string; confirmed_lsn: string } | undefined> {
  const { rows } = await db.pool.query<{ system_id: string; timeline: string; confirmed_lsn: string }>(
    `select system_id, timeline::text, confirmed_lsn::text from outbox_relay_slot
       where slot_name = $1 and confirmed_lsn is not null`,
    [db.slot],
  );
  return rows[0];
}

async function slotConfirmed(db: TestDatabase): Promise<bigint> {
  const { rows } = await db.pool.query<{ lsn: string }>(
    `select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1`,
    [db.slot],
  );
  return parseLsn(rows[0]!.lsn);
}

interface Scenario {
  readonly db: TestDatabase;
  readonly type: string;
  readonly reader: TopicReader;
  readonly writer: pg.Client;
  /** Holds the slot's restart position: opened before the CHECKPOINT, ended by the crash. */
  readonly pin: pg.Client;
}

async function setUp(prefix: string): Promise<Scenario> {
  const db = await createTestDatabase(prefix);
  const type = uniqueName(prefix);
  await createTopics([`outbox.${type}`], 1);
  const reader = await TopicReader.start([`outbox.${type}`]);
  const writer = new pg.Client({ connectionString: db.url });
  const pin = new pg.Client({ connectionString: db.url });
  for (const client of [writer, pin]) {
    // The crash ends their connections: no test failure.
    client.on('error', () => undefined);
    await client.connect();
  }
  return { db, type, reader, writer, pin };
}

async function tearDown(scenario: Scenario): Promise<void> {
  await Promise.all([scenario.writer.end(), scenario.pin.end()].map((end) => end.catch(() => undefined)));
  await scenario.reader.stop();
  await scenario.db.drop();
}

/**
 * With the relay streaming: pins the slot's restart position, checkpoints, waits until the slot has
 * moved past the checkpoint (so it was saved once, there), then commits N events and waits until
 * they are delivered and their rows completed. Returns the ids, the WAL position before the load,
 * and the position before the last COMMIT.
 */
async function deliverBehindCheckpoint(
  { db, type, reader, writer, pin }: Scenario,
  relay: RelayProcess,
): Promise<{ ids: string[]; beforeLoad: bigint; beforeLastCommit: bigint }> {
  await relay.waitForLog('streaming');
  await pin.query('begin');
  await pin.query(`insert into business_rows (note) values ('held open until the crash')`);
  await adminQuery('checkpoint');
  const checkpointed = parseLsn(await currentWalLsn(db.pool));
  const warmUp = await commitBatch(writer, type, 1, 'warm-up');
  await waitFor('the slot past the checkpoint', async () => (await slotConfirmed(db)) > checkpointed);
  const beforeLoad = parseLsn(await currentWalLsn(db.pool));
  const ids: string[] = [];
  let beforeLastCommit = 0n;
  for (let t = 0; t < TRANSACTIONS; t++) {
    const batch = await commitBatch(writer, type, EVENTS_PER_TRANSACTION, `load-${t}`);
    ids.push(...batch.ids);
    beforeLastCommit = batch.beforeCommit;
  }
  const expected = [...warmUp.ids, ...ids];
  await waitFor('the N events delivered', () => expected.every((id) => reader.ids().includes(id)), {
    timeoutMs: 60_000,
  });
  await waitFor('their rows completed', async () => (await outboxCount(db.pool)) === 0);
  return { ids, beforeLoad, beforeLastCommit };
}

/** The relay's "skipped" line after the crash: it skipped at least the N events, from behind them. */
async function assertSkipped(relay: RelayProcess, beforeLoad: bigint): Promise<void> {
  const skipped = await relay.waitForLog(
    /^skipped transactions completed before the slot was rewound/,
    90_000,
  );
  // The slot really was rewound to before the load: without the record all N would be published again.
  assert.ok(
    parseLsn(String(skipped['from'])) <= beforeLoad,
    `the slot resumed from ${String(skipped['from'])}, not behind the load`,
  );
  assert.ok(Number(skipped['events']) >= N, `skipped ${String(skipped['events'])} events, expected >= ${N}`);
  assert.ok(Number(skipped['transactions']) >= TRANSACTIONS);
}

/** A marker committed after the crash arrives; every event arrived exactly once. */
async function assertNoDuplicates({ db, type, reader }: Scenario, ids: string[]): Promise<void> {
  // The writer's connection ended with the crash.
  const writer = new pg.Client({ connectionString: db.url });
  await writer.connect();
  const marker = await commitBatch(writer, type, 1, 'marker').finally(() => writer.end());
  await waitFor('the marker', () => reader.ids().includes(marker.ids[0]!), { timeoutMs: 90_000 });
  await waitFor('the marker completed', async () => (await outboxCount(db.pool)) === 0);
  const received = reader.ids();
  const duplicates = received.filter((id, index) => received.indexOf(id) !== index);
  assert.deepEqual(duplicates.length, 0, `${duplicates.length} events published twice`);
  assert.ok(
    ids.every((id) => received.includes(id)),
    'every event delivered',
  );
}

async function crashPostgres(): Promise<void> {
  await localService('postgres', 'kill');
  await localService('postgres', 'start');
}

test('a PostgreSQL crash after N events were completed: the relay restarted after it publishes none of them again', async () => {
  const scenario = await setUp('pgcrashpos');
  const { db } = scenario;
  const env = relayEnv(db);
  let relay = startRelayProcess(env);
  try {
    const { ids, beforeLoad, beforeLastCommit } = await deliverBehindCheckpoint(scenario, relay);
    // A graceful stop writes the record at once.
    assert.equal(await relay.stop('SIGTERM'), 0);
    const record = await recordedPosition(db);
    assert.ok(record, 'the position was recorded');
    assert.ok(parseLsn(record.confirmed_lsn) > beforeLastCommit, `recorded ${record.confirmed_lsn}`);
    const { rows } = await adminQuery<{ system_id: string; timeline: string }>(
      `select system_identifier::text as system_id,
              (select timeline_id from pg_control_checkpoint())::text as timeline
         from pg_control_system()`,
    );
    assert.deepEqual({ system_id: record.system_id, timeline: record.timeline }, rows[0]);

    await crashPostgres();
    relay = startRelayProcess(env);
    await assertSkipped(relay, beforeLoad);
    await assertNoDuplicates(scenario, ids);
    assert.equal(await relay.stop('SIGTERM'), 0);
  } finally {
    await relay.stop('SIGKILL');
    await tearDown(scenario);
  }
});

test('a PostgreSQL crash after N events were completed: the running relay reconnects and publishes none of them again', async () => {
  const scenario = await setUp('pgcrashrun');
  const { db } = scenario;
  const relay = startRelayProcess(relayEnv(db));
  try {
    const { ids, beforeLoad, beforeLastCommit } = await deliverBehindCheckpoint(scenario, relay);
    // Written within about a second of the confirm, while the relay runs.
    await waitFor('the position recorded past the last transaction', async () => {
      const record = await recordedPosition(db);
      return record !== undefined && parseLsn(record.confirmed_lsn) > beforeLastCommit;
    });
    const streamed = relay.output.filter((line) => line.includes('"msg":"streaming"')).length;
    await crashPostgres();
    await waitFor(
      'streaming again after the crash',
      () => relay.output.filter((line) => line.includes('"msg":"streaming"')).length > streamed,
      { timeoutMs: 90_000 },
    );
    await assertSkipped(relay, beforeLoad);
    await assertNoDuplicates(scenario, ids);
    assert.equal(relay.child.exitCode, null, 'the relay kept running');
    assert.equal(await relay.stop('SIGTERM'), 0);
  } finally {
    await relay.stop('SIGKILL');
    await tearDown(scenario);
  }
});
