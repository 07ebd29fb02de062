// Decoding on a hot standby (PostgreSQL 16+; scripts/test-matrix.sh runs test/failover from 16 on).
// A primary and a physical standby of their own (test/support/replicated-postgres.ts, without slot
// synchronisation); the relay's DATABASE_URL leads to the standby, where its slot is created (the
// table swept from the standby's exported snapshot) and streamed, and OUTBOX_PRIMARY_URL to the
// primary, which takes every write. Writers commit on the primary under load: every event arrives
// once, in order per aggregate, its row is deleted on the primary, and the idle slot on the standby
// moves with the heartbeats written on the primary. Then the settings that cannot work end with exit
// 2 and one line naming the setting, a standby of PostgreSQL 15 (the system's) among them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createTopics, TopicReader } from '../support/kafka.js';
import type { ReceivedMessage } from '../support/kafka.js';
import { createReplicatedPostgres, serverVersion } from '../support/replicated-postgres.js';
import type { PostgresNode, ReplicatedPostgres } from '../support/replicated-postgres.js';
import { assertNoProcessLeft, BROKER_ENV, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { uniqueName } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const SLOT = 'outbox_relay';
/** Events in the outbox before the relay first starts: the sweep's, read on the standby. */
const EVENTS_BEFORE = 600;
const WRITERS = 3;
const AGGREGATES_PER_WRITER = 40;
const TRANSACTIONS_PER_WRITER = 100;
const PER_TRANSACTION = 20;

/**
 * Commits `transactions` of PER_TRANSACTION events on the primary, one after the other, to the
 * writer's own aggregates, each event numbered in its aggregate's commit order.
 */
async function write(
  node: PostgresNode,
  type: string,
  writer: string,
  transactions: number,
): Promise<string[]> {
  const client = new pg.Client({ connectionString: node.url });
  await client.connect();
  const next = new Map<string, number>();
  const ids: string[] = [];
  try {
    for (let t = 0; t < transactions; t++) {
      const rows = Array.from({ length: PER_TRANSACTION }, (_, i) => {
        const aggregate = `${writer}-${(t * PER_TRANSACTION + i) % AGGREGATES_PER_WRITER}`;
        const n = next.get(aggregate) ?? 0;
        next.set(aggregate, n + 1);
        return { aggregate, n };
      });
      const { rows: inserted } = await client.query<{ id: string }>(
        `insert into outbox (id, aggregate_type, aggregate_id, event_type, payload)
         select gen_random_uuid(), $1, a, 'Happened', jsonb_build_object('n', n)
           from unnest($2::text[], $3::int[]) with ordinality as r(a, n, o) order by o
         returning id::text`,
        [type, rows.map((row) => row.aggregate), rows.map((row) => row.n)],
      );
      ids.push(...inserted.map(({ id }) => id));
    }
    return ids;
  } finally {
    await client.end();
  }
}

/** Aggregates whose events did not arrive numbered 0, 1, 2, ... (each once, in commit order). */
function outOfOrder(messages: readonly ReceivedMessage[]): string[] {
  const seen = new Map<string, number[]>();
  for (const message of messages) {
    const numbers = seen.get(message.key) ?? [];
    numbers.push((JSON.parse(message.value) as { n: number }).n);
    seen.set(message.key, numbers);
  }
  return [...seen].filter(([, numbers]) => numbers.some((n, index) => n !== index)).map(([key]) => key);
}

async function slotLsn(node: PostgresNode): Promise<string | undefined> {
  const rows = await node.query<{ lsn: string }>(
    'select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1',
    [SLOT],
  );
  return rows[0]?.lsn;
}

async function exitLine(
  env: Record<string, string>,
  args: string[] = ['run'],
): Promise<[number | string, string]> {
  const relay = startRelayProcess({ OUTBOX_SLOT: SLOT, ...BROKER_ENV.kafka, ...env }, args);
  const code = await relay.exited;
  return [code, relay.output.filter((line) => line.startsWith('outbox-relay:')).join('\n')];
}

describe(`decoding on a hot standby, PostgreSQL ${serverVersion(16)}`, () => {
  // One pair for the first two tests: the second one starts nothing that changes it.
  let cluster: ReplicatedPostgres;
  before(async () => {
    cluster = await createReplicatedPostgres({ synchronizedStandbySlots: false, slotSync: false });
  });
  after(() => cluster?.destroy());

  test('the relay streams from the standby and writes to OUTBOX_PRIMARY_URL: every event once, in order per aggregate, rows deleted on the primary, the idle slot moving with heartbeats', async () => {
    let relay: RelayProcess | undefined;
    let reader: TopicReader | undefined;
    try {
      const type = uniqueName('standby');
      await createTopics([`outbox.${type}`], 3);
      reader = await TopicReader.start([`outbox.${type}`]);
      const before = await write(cluster.primary, type, 'before', EVENTS_BEFORE / PER_TRANSACTION);
      const env = {
        DATABASE_URL: cluster.standby.url,
        OUTBOX_PRIMARY_URL: cluster.primary.url,
        OUTBOX_SLOT: SLOT,
        ...BROKER_ENV.kafka,
        OUTBOX_HEARTBEAT_INTERVAL_MS: '500',
      };
      // Migrations go to the primary (the standby is read-only and replays them).
      const [migrated, migrateLine] = await exitLine(env, ['migrate']);
      assert.equal(migrated, 0, migrateLine);

      relay = startRelayProcess(env);
      await relay.waitForLog('DATABASE_URL is a hot standby: decoding there, writing to OUTBOX_PRIMARY_URL');
      const created = await relay.waitForLog('slot created');
      assert.equal(created['events'], EVENTS_BEFORE, 'the sweep read the rows on the standby');
      await relay.waitForLog('streaming');
      const batches = await Promise.all(
        Array.from({ length: WRITERS }, (_, w) =>
          write(cluster.primary, type, `w${w}`, TRANSACTIONS_PER_WRITER),
        ),
      );
      const committed = [...before, ...batches.flat()];
      await waitFor(
        `all ${committed.length} events published`,
        () => new Set(reader!.ids()).size >= committed.length,
        { timeoutMs: 180_000 },
      );
      const received = reader.ids();
      assert.deepEqual(new Set(received), new Set(committed), 'exactly the committed events');
      assert.equal(received.length, committed.length, 'each once');
      assert.deepEqual(outOfOrder(reader.messages), [], 'in order per aggregate');
      await waitFor(
        'every row deleted on the primary',
        async () =>
          (await cluster.primary.query<{ n: string }>('select count(*) as n from outbox'))[0]!.n === '0',
      );

      // Where things are: the slot on the standby only, its bookkeeping written on the primary.
      assert.equal(await slotLsn(cluster.primary), undefined, 'no slot on the primary');
      const [bookkeeping] = await cluster.primary.query<{ swept: boolean }>(
        'select swept_at is not null as swept from outbox_relay_slot where slot_name = $1',
        [SLOT],
      );
      assert.equal(bookkeeping?.swept, true);

      // Idle: nothing is written but the heartbeats on the primary (every 500 ms), and the standby's
      // slot moves, twice within 10 s each (the primary's own standby snapshots come every 15 s at most).
      for (const round of [1, 2]) {
        const idleAt = await slotLsn(cluster.standby);
        await waitFor(
          `the idle slot on the standby to move past ${idleAt} (${round})`,
          async () => {
            const [row] = await cluster.standby.query<{ moved: boolean }>(
              `select confirmed_flush_lsn > $2::pg_lsn as moved from pg_replication_slots where slot_name = $1`,
              [SLOT, idleAt],
            );
            return row?.moved === true;
          },
          { timeoutMs: 10_000, intervalMs: 250 },
        );
      }

      // `status` reads the standby, where the slot is.
      const status = startRelayProcess(env, ['status', '--json']);
      assert.equal(await status.exited, 0, status.output.join('\n'));
      const report = JSON.parse(status.output.find((line) => line.startsWith('{'))!) as Record<
        string,
        unknown
      >;
      assert.equal(report['slotExists'], true);
      assert.equal(report['relayRunning'], true);

      assert.equal(await relay.stop(), 0);
      relay = undefined;
    } finally {
      await relay?.stop('SIGKILL');
      await reader?.stop();
    }
  });

  test('settings that cannot work end with exit 2 and one line naming the setting', async () => {
    const { primary, standby } = cluster;
    const cases: [Record<string, string>, RegExp][] = [
      [
        { DATABASE_URL: standby.url },
        /^outbox-relay: configuration error: OUTBOX_PRIMARY_URL: required: DATABASE_URL leads to a hot standby/,
      ],
      [
        { DATABASE_URL: standby.url, OUTBOX_PRIMARY_URL: standby.url },
        /^outbox-relay: configuration error: OUTBOX_PRIMARY_URL: leads to a hot standby \(pg_is_in_recovery\(\)\): expected the primary/,
      ],
      [
        { DATABASE_URL: standby.url, OUTBOX_PRIMARY_URL: primary.url.replace(/\/app$/, '/postgres') },
        /^outbox-relay: configuration error: OUTBOX_PRIMARY_URL: expected the primary of DATABASE_URL's standby/,
      ],
      [
        { DATABASE_URL: standby.url, OUTBOX_PRIMARY_URL: primary.url, OUTBOX_SLOT_FAILOVER: 'true' },
        /^outbox-relay: configuration error: OUTBOX_SLOT_FAILOVER: true needs the slot on the primary/,
      ],
    ];
    for (const [env, line] of cases) {
      const [code, output] = await exitLine(env);
      assert.equal(code, 2, output);
      assert.match(output, line);
      assert.ok(!output.includes('\n'), 'one line');
    }
  });

  test('a hot standby of PostgreSQL 15 is refused with exit 2: decoding on a standby needs 16', async () => {
    // The pair above stops first: this one takes the same ports.
    await cluster.destroy();
    const old = await createReplicatedPostgres({
      synchronizedStandbySlots: false,
      slotSync: false,
      version: 15,
    });
    try {
      const [code, output] = await exitLine({
        DATABASE_URL: old.standby.url,
        OUTBOX_PRIMARY_URL: old.primary.url,
      });
      assert.equal(code, 2, output);
      assert.equal(
        output,
        'outbox-relay: configuration error: DATABASE_URL: leads to a hot standby of PostgreSQL 15: decoding on a standby needs 16 or later; point it at the primary or upgrade',
      );
    } finally {
      await old.destroy();
    }
  });
});
