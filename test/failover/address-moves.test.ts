// The relay behind a name that moves (test/support/tcp-proxy.ts stands in for a DNS name or virtual
// IP): the address moves to the promoted standby and the relay follows without a restart, resuming
// from the synchronised slot on the new timeline. Then the address moves back to the former primary,
// started again on its own (split brain): the relay refuses its older timeline and stays not ready,
// so nothing of its forked history is published. PostgreSQL 17+ (test/failover).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { createTopics, TopicReader } from '../support/kafka.js';
import { createReplicatedPostgres, serverVersion } from '../support/replicated-postgres.js';
import type { PostgresNode } from '../support/replicated-postgres.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { commitEvents } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { probeUrl } from '../kit/metrics.js';
import { assertNoProcessLeft, BROKER_ENV, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { PG_PORT, uniqueName } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const SLOT = 'outbox_relay';

function events(type: string, count: number): TestEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    aggregateType: type,
    aggregateId: `a${i % 50}`,
    eventType: 'E',
    payload: { i },
  }));
}

async function commitOn(node: PostgresNode, type: string, count: number): Promise<string[]> {
  const pool = new pg.Pool({ connectionString: node.url, max: 1 });
  try {
    await pool.query('create table if not exists business_rows (id serial primary key, note text)');
    const ids: string[] = [];
    for (let done = 0; done < count; done += 100) ids.push(...(await commitEvents(pool, events(type, 100))));
    return ids;
  } finally {
    await pool.end();
  }
}

async function slotOn(node: PostgresNode): Promise<{ active: boolean; lsn: string } | undefined> {
  const rows = await node.query<{ active: boolean; lsn: string }>(
    'select active, confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1',
    [SLOT],
  );
  return rows[0];
}

describe(`the database address moves, PostgreSQL ${serverVersion()}`, () => {
  test('the relay follows it to the promoted standby without a restart, and refuses the former primary when it points back', async () => {
    const cluster = await createReplicatedPostgres({ synchronizedStandbySlots: true });
    const proxy = await startTcpProxy(PG_PORT + 72, cluster.primary.port);
    let relay: RelayProcess | undefined;
    let reader: TopicReader | undefined;
    try {
      const type = uniqueName('moves');
      await createTopics([`outbox.${type}`], 1);
      reader = await TopicReader.start([`outbox.${type}`]);
      relay = startRelayProcess({
        DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/app`,
        OUTBOX_SLOT: SLOT,
        ...BROKER_ENV.kafka,
        OUTBOX_SLOT_FAILOVER: 'true',
      });
      await relay.waitForLog('streaming');
      const before = await commitOn(cluster.primary, type, 1_000);
      await waitFor('the first events published', () => before.every((id) => reader!.ids().includes(id)));
      await waitFor(
        'the slot synchronised to the standby',
        async () => {
          await cluster.primary.query('select pg_log_standby_snapshot()');
          const rows = await cluster.standby.query<{ ok: boolean }>(
            'select synced and not temporary as ok from pg_replication_slots where slot_name = $1',
            [SLOT],
          );
          return rows[0]?.ok === true;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );

      await cluster.stopPrimary();
      await cluster.promoteStandby();
      proxy.retarget(cluster.standby.port);
      const moved = await relay.waitForLog(/^timeline \d+ \(was \d+\): a promoted standby/);
      assert.ok(Number(moved['timeline']) > 1);
      const afterMove = await commitOn(cluster.standby, type, 1_000);
      await waitFor('the events committed on the new primary published', () =>
        afterMove.every((id) => reader!.ids().includes(id)),
      );
      const sweeps = relay.output.filter((line) => line.includes('replication slot missing'));
      assert.equal(sweeps.length, 1, 'the first start created the slot; the move swept nothing');
      const received = reader.ids();
      assert.equal(new Set(received).size, before.length + afterMove.length, 'nothing lost, nothing else');

      // Split brain: the former primary comes back on its own, with a write the new primary never saw.
      await cluster.startFormerPrimary();
      const forked = await commitOn(cluster.primary, type, 100);
      const slotBefore = await slotOn(cluster.primary);
      proxy.retarget(cluster.primary.port);
      const refused = await relay.waitForLog(/^refusing to stream from timeline 1 /);
      assert.match(String(refused['msg']), /point DATABASE_URL at the current primary$/);
      const readyz = await fetch(`${await probeUrl(relay)}/readyz`);
      assert.equal(readyz.status, 503);
      assert.match(JSON.stringify(await readyz.json()), /refusing to stream from timeline 1/);
      assert.deepEqual(
        await slotOn(cluster.primary),
        { ...slotBefore!, active: false },
        'its slot untouched',
      );
      assert.ok(!forked.some((id) => reader!.ids().includes(id)), 'nothing of the forked history published');
      console.log(
        `[failover figures] ${JSON.stringify({ version: cluster.version, scenario: 'address moves', events: received.length, duplicates: received.length - new Set(received).size })}`,
      );
      assert.equal(await relay.stop('SIGKILL'), 'SIGKILL');
      relay = undefined;
    } finally {
      await relay?.stop('SIGKILL');
      await reader?.stop();
      await proxy.close();
      await cluster.destroy();
    }
  });
});
