// Failover of the primary (PostgreSQL 17+ only: this file sits outside test/integration, which every
// version runs; scripts/test-matrix.sh adds test/failover for 17 and later). A primary and a physical standby of their own
// (test/support/replicated-postgres.ts); writers commit events for many aggregates without pause while
// the relay streams them to Kafka; then the primary goes away (a clean stop, or SIGKILL of every
// one of its processes), the standby is promoted, and the relay is restarted on the new primary's URL
// (docs/postgres-setup.md "How the relay reaches the new primary"). Every committed event is counted
// on the topic: none lost; with failover slots the relay resumes from the synchronised slot (no
// sweep), without them it recreates the slot and sweeps the table.
//
// Kafka rather than RabbitMQ: a topic keeps every message, so the reader sees each duplicate, and
// reading it back needs no queue of its own to be declared before the relay starts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { createTopics, TopicReader } from '../support/kafka.js';
import { createReplicatedPostgres, serverVersion } from '../support/replicated-postgres.js';
import type { ReplicatedPostgres } from '../support/replicated-postgres.js';
import { assertNoProcessLeft, BROKER_ENV, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { uniqueName } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const SLOT = 'outbox_relay';
/** Events committed after the new primary took over. */
const EVENTS_AFTER = 3_000;
/** Events committed before the primary goes, at least. */
const EVENTS_BEFORE = 2_000;
const PER_TRANSACTION = 20;
const AGGREGATES = 300;
const WRITERS = 3;
const MAX_IN_FLIGHT = 1_000;
const PACE_MS = 25;

interface Scenario {
  readonly failoverSlots: boolean;
  readonly primaryEnds: 'clean stop' | 'SIGKILL';
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/** Writers committing events in transactions of PER_TRANSACTION until `target` are committed. */
class Writers {
  /** Ids of events whose commit was acknowledged. */
  readonly committed: string[] = [];
  /** Transactions whose commit failed with the primary: committed or not, the new primary knows. */
  readonly unsure: { txn: string; ids: string[] }[] = [];
  /** How many events the writers commit before they stop; set once the new primary took over. */
  target = Number.POSITIVE_INFINITY;
  private pool: pg.Pool;
  /** Resolved when the writers are pointed at another server. */
  private switched = deferred();
  private readonly done: Promise<void>;

  constructor(url: string, type: string) {
    this.pool = Writers.poolOf(url);
    this.done = Promise.all(Array.from({ length: WRITERS }, () => this.write(type))).then(() => undefined);
  }

  private static poolOf(url: string): pg.Pool {
    const pool = new pg.Pool({ connectionString: url, max: WRITERS });
    pool.on('error', () => undefined);
    return pool;
  }

  private async write(type: string): Promise<void> {
    while (this.committed.length < this.target) {
      const txn = randomUUID();
      const ids = Array.from({ length: PER_TRANSACTION }, () => randomUUID());
      const { pool, switched } = this;
      try {
        await this.commit(pool, txn, ids, type);
        this.committed.push(...ids);
        // A steady load (about 2,000 events a second), so the primary goes away mid-stream.
        await new Promise((resolve) => setTimeout(resolve, PACE_MS));
      } catch {
        this.unsure.push({ txn, ids });
        // The server went away: wait until the test points the writers at the new primary.
        if (pool === this.pool) await switched.promise;
      }
    }
  }

  private async commit(pool: pg.Pool, txn: string, ids: string[], type: string): Promise<void> {
    const client = await pool.connect();
    // The server dying between two statements is an 'error' event, reported by the next query.
    const ignore = (): void => undefined;
    client.on('error', ignore);
    let broken = true;
    try {
      await client.query('begin');
      await client.query('insert into commits (txn) values ($1)', [txn]);
      await client.query(
        `insert into outbox (id, aggregate_type, aggregate_id, event_type, payload)
         select id, $2, 'agg-' || (floor(random() * ${AGGREGATES}))::int, 'Happened', jsonb_build_object('txn', $3::text)
           from unnest($1::uuid[]) as id`,
        [ids, type, txn],
      );
      await client.query('commit');
      broken = false;
    } finally {
      client.off('error', ignore);
      client.release(broken);
    }
  }

  /** Points the writers at `url` (the promoted standby); those waiting go on. */
  async switchTo(url: string): Promise<void> {
    const old = this.pool;
    this.pool = Writers.poolOf(url);
    const { resolve } = this.switched;
    this.switched = deferred();
    resolve();
    await old.end().catch(() => undefined);
  }

  async finished(): Promise<void> {
    await this.done;
    await this.pool.end();
  }
}

function relayOn(url: string, failoverSlots: boolean): RelayProcess {
  return startRelayProcess({
    DATABASE_URL: url,
    OUTBOX_SLOT: SLOT,
    ...BROKER_ENV.kafka,
    OUTBOX_SLOT_FAILOVER: String(failoverSlots),
    OUTBOX_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
    OUTBOX_SHUTDOWN_TIMEOUT_MS: '2000',
  });
}

async function syncedSlot(cluster: ReplicatedPostgres): Promise<boolean> {
  // The standby takes the slot over once its restart_lsn moves, at the primary's next standby
  // snapshot (every 15 s): ask for one now.
  await cluster.primary.query('select pg_log_standby_snapshot()');
  const rows = await cluster.standby.query<{ synced: boolean; temporary: boolean }>(
    `select synced, temporary from pg_replication_slots where slot_name = $1`,
    [SLOT],
  );
  return rows[0]?.synced === true && !rows[0].temporary;
}

async function runScenario({ failoverSlots, primaryEnds }: Scenario): Promise<void> {
  const cluster = await createReplicatedPostgres({ synchronizedStandbySlots: failoverSlots });
  let relay: RelayProcess | undefined;
  let reader: TopicReader | undefined;
  try {
    await cluster.primary.query('create table commits (txn uuid primary key)');
    const type = uniqueName('failover');
    await createTopics([`outbox.${type}`], 3);
    reader = await TopicReader.start([`outbox.${type}`]);
    relay = relayOn(cluster.primary.url, failoverSlots);
    await relay.waitForLog('streaming');
    const writers = new Writers(cluster.primary.url, type);

    // Under way: the slot synchronised (with failover slots), events committed and published.
    if (failoverSlots)
      await waitFor('the slot synchronised to the standby', () => syncedSlot(cluster), {
        timeoutMs: 60_000,
        intervalMs: 500,
      });
    await waitFor(
      `${EVENTS_BEFORE} events committed, some published`,
      () => writers.committed.length >= EVENTS_BEFORE && reader!.messages.length > 0,
      { timeoutMs: 120_000 },
    );
    const downAt = Date.now();
    if (primaryEnds === 'clean stop') await cluster.stopPrimary();
    else await cluster.killPrimary();
    await cluster.promoteStandby();
    const promotedAt = Date.now();
    // The operator's restart with the new URL. A relay whose database is gone cannot complete its
    // in-flight rows, and retries that through a SIGTERM: it is killed, as after a grace period.
    await relay.stop('SIGKILL');
    relay = relayOn(cluster.standby.url, failoverSlots);
    await writers.switchTo(cluster.standby.url);
    await relay.waitForLog('streaming');
    const streamingAt = Date.now();
    writers.target = writers.committed.length + EVENTS_AFTER;
    await writers.finished();
    assert.ok(writers.unsure.length > 0, 'the writers were writing when the primary went');

    // What the new primary holds: every acknowledged commit, and those of the unsure ones it has.
    const unsureTxns = writers.unsure.map(({ txn }) => txn);
    const survived = new Set(
      (
        await cluster.standby.query<{ txn: string }>(
          'select txn::text from commits where txn = any($1::uuid[])',
          [unsureTxns],
        )
      ).map(({ txn }) => txn),
    );
    const expected = new Set([
      ...writers.committed,
      ...writers.unsure.filter(({ txn }) => survived.has(txn)).flatMap(({ ids }) => ids),
    ]);
    await waitFor(
      async () => `every committed event (${expected.size}); ${await reader!.describe()}`,
      () => {
        const received = new Set(reader!.ids());
        return [...expected].every((id) => received.has(id));
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    const resumedAt = Date.now();
    await waitFor(
      'every row completed on the new primary',
      async () => (await cluster.standby.query('select 1 from outbox limit 1')).length === 0,
      { timeoutMs: 60_000 },
    );
    const ids = reader.ids();
    const unique = new Set(ids);
    const lost = [...expected].filter((id) => !unique.has(id));
    const extra = [...unique].filter((id) => !expected.has(id));
    const duplicates = ids.length - unique.size;
    const swept = relay.output.some((line) => line.includes('replication slot missing'));
    const created = relay.output.find((line) => line.includes('"msg":"slot created"'));
    const figures = {
      version: cluster.version,
      scenario: `${primaryEnds}, failover slots ${failoverSlots ? 'on' : 'off'}`,
      events: expected.size,
      lost: lost.length,
      duplicates,
      extra: extra.length,
      unsureTransactions: writers.unsure.length,
      swept: swept ? Number((JSON.parse(created ?? '{}') as { events?: number }).events ?? 0) : 'no sweep',
      primaryDownToPromotedMs: promotedAt - downAt,
      primaryDownToStreamingMs: streamingAt - downAt,
      primaryDownToAllDeliveredMs: resumedAt - downAt,
    };
    console.log(`[failover figures] ${JSON.stringify(figures)}`);

    assert.deepEqual(lost, [], 'no committed event lost');
    // Published again: the in-flight window, plus (failover slots) what the standby's copy of the
    // slot had not caught up with; the sync worker copies it every 200 ms under load.
    assert.ok(duplicates <= MAX_IN_FLIGHT, `${duplicates} duplicates, at most ${MAX_IN_FLIGHT}`);
    // With synchronized_standby_slots the relay never sees a transaction the standby lacks.
    if (failoverSlots) assert.deepEqual(extra, [], 'no event of a transaction the new primary does not have');
    if (failoverSlots) {
      assert.equal(swept, false, 'the relay resumed from the synchronised slot: no sweep');
      assert.equal(created, undefined, 'no slot created on the new primary');
    } else {
      assert.equal(swept, true, 'the slot was lost with the primary: recreated and the table swept');
      assert.ok(created, 'slot created on the new primary');
    }
    const slot = await cluster.standby.query<{ failover: boolean }>(
      'select failover from pg_replication_slots where slot_name = $1',
      [SLOT],
    );
    assert.equal(slot[0]?.failover, failoverSlots, 'the slot on the new primary keeps the setting');
    assert.equal(await relay.stop('SIGTERM'), 0);
    relay = undefined;
  } finally {
    await relay?.stop('SIGKILL');
    await reader?.stop();
    await cluster.destroy();
  }
}

describe(`failover of the primary, PostgreSQL ${serverVersion()}`, () => {
  test('clean switchover with failover slots: resumes from the synchronised slot, nothing lost, no sweep', () =>
    runScenario({ failoverSlots: true, primaryEnds: 'clean stop' }));

  test('primary SIGKILLed with failover slots: resumes from the synchronised slot, nothing lost, no sweep', () =>
    runScenario({ failoverSlots: true, primaryEnds: 'SIGKILL' }));

  test('primary SIGKILLed without failover slots: the slot is recreated and the table swept, nothing lost', () =>
    runScenario({ failoverSlots: false, primaryEnds: 'SIGKILL' }));
});
