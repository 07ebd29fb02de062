// Exactly-once to Kafka with two relays on one slot: the standby takes over from a killed leader
// within seconds without a duplicate, and a leader that was frozen while the standby took over is
// fenced when it wakes: Kafka refuses its writes, and it stops.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { TestContext } from 'node:test';
import { createTopics } from '../support/kafka.js';
import { EventCounter, OutboxLoad } from '../support/load.js';
import { deliveryContext, waitForOutboxEmpty } from '../support/probes.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import { createTestDatabase, PG_PORT, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { Teardown } from '../kit/teardown.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const TAKEOVER_MS = 5_000;

/**
 * Two relays on one slot, the leader reaching PostgreSQL through a proxy when `proxied`; they, the
 * load and the rest end with the test.
 */
async function twoRelays(
  t: TestContext,
  prefix: string,
  extra: Record<string, string> = {},
  proxied = false,
) {
  const teardown = new Teardown(t);
  const db = teardown.add(await createTestDatabase(prefix), (started) => started.drop());
  const proxy = proxied
    ? teardown.add(await startTcpProxy(0, PG_PORT), (started) => started.close())
    : undefined;
  const type = uniqueName(prefix);
  const topic = `outbox.${type}`;
  await createTopics([topic]);
  const counter = teardown.add(await EventCounter.start(topic), (started) => started.stop());
  const env = relayEnv(db, { KAFKA_EXACTLY_ONCE: 'true', ...extra });
  const leaderUrl = proxy ? db.url.replace(`:${PG_PORT}/`, `:${proxy.port}/`) : db.url;
  // A frozen leader is woken to be killed.
  const leader = teardown.add(startRelayProcess({ ...env, DATABASE_URL: leaderUrl }), (relay) => {
    relay.child.kill('SIGCONT');
    return relay.stop('SIGKILL');
  });
  await leader.waitForLog('streaming');
  const standby = teardown.add(startRelayProcess(env), (relay) => relay.stop('SIGKILL'));
  await standby.waitForLog('standby: another instance holds the slot, waiting');
  const startLoad = async (eventsPerSecond: number): Promise<OutboxLoad> =>
    teardown.add(await OutboxLoad.start(db.url, { aggregateType: type, eventsPerSecond }), (load) =>
      load.stop(),
    );
  return { db, proxy, counter, leader, standby, startLoad };
}

async function assertAllOnce(db: TestDatabase, counter: EventCounter, load: OutboxLoad): Promise<void> {
  await counter.waitForAll(load, undefined, () => deliveryContext(db));
  await waitForOutboxEmpty(db);
  assert.deepEqual(counter.missing(load), [], 'every committed event delivered');
  assert.deepEqual(counter.orderViolations.slice(0, 10), [], 'per-aggregate commit order');
  assert.equal(counter.duplicates, 0, 'no event delivered twice');
}

test('exactly-once: the standby takes over from a SIGKILLed leader within 5 s, no duplicate', async (t) => {
  const { db, counter, leader, standby, startLoad } = await twoRelays(t, 'eos_ha');
  const load = await startLoad(1_500);
  await waitFor('delivery under way', () => counter.delivered > 3_000, { timeoutMs: 60_000 });
  const killedAt = Date.now();
  leader.child.kill('SIGKILL');
  await leader.exited;
  await standby.waitForLog('streaming', 30_000);
  const takeoverMs = Date.now() - killedAt;
  const delivered = counter.delivered;
  await waitFor('the new leader delivering', () => counter.delivered > delivered + 1_000, {
    timeoutMs: 60_000,
  });
  await load.stop();
  await assertAllOnce(db, counter, load);
  t.diagnostic(`takeover ${takeoverMs} ms; ${load.committed} events, ${counter.duplicates} duplicates`);
  assert.ok(takeoverMs < TAKEOVER_MS, `standby streaming ${takeoverMs} ms after the kill`);
  assert.equal(await standby.stop('SIGTERM'), 0);
});

test('exactly-once: a frozen leader resumed after the takeover is fenced and stops', async (t) => {
  // Small Kafka transactions keep the leader's queue non-empty under this load: it has writes
  // pending at the moment it is frozen.
  const { db, proxy, counter, leader, standby, startLoad } = await twoRelays(
    t,
    'eos_fence',
    { KAFKA_BATCH_SIZE: '20' },
    true,
  );
  const load = await startLoad(3_000);
  await waitFor('delivery under way', () => counter.delivered > 2_000, { timeoutMs: 60_000 });
  assert.equal((await oldLeaderSessions(db)).length, 2, 'the lock session and the walsender');
  // Frozen, and cut off from PostgreSQL, as in a network partition: its connections (the lock
  // session, the walsender) end on the server's side, and the standby takes the slot while the
  // old leader still believes it leads. (Ending them with pg_terminate_backend instead can leave
  // the walsender blocked for good writing its goodbye to a client that no longer reads.)
  leader.child.kill('SIGSTOP');
  assert.ok(proxy, 'the leader reaches PostgreSQL through the proxy');
  proxy.retarget(PG_PORT);
  // A backend ends when it next touches its closed socket; a walsender stuck in a write ends at
  // the latest at wal_sender_timeout (60 s in the test clusters), so the wait allows for that.
  await waitFor(
    async () => `the old leader's sessions ended; left: ${await describeSessions(db)}`,
    async () => (await oldLeaderSessions(db)).length === 0,
    { timeoutMs: 90_000 },
  );
  await standby.waitForLog('kafka: transactional producer ready', 30_000);
  await standby.waitForLog('streaming', 30_000);
  const delivered = counter.delivered;
  await waitFor('the new leader delivering', () => counter.delivered > delivered + 1_000, {
    timeoutMs: 60_000,
  });

  leader.child.kill('SIGCONT');
  await leader.waitForLog('kafka: producer fenced: another instance took over the slot', 30_000);
  assert.equal(await leader.exited, 1, 'the fenced leader stops (exit 1)');
  await load.stop();
  await assertAllOnce(db, counter, load);
  t.diagnostic(`${load.committed} events, ${counter.duplicates} duplicates`);
  assert.equal(await standby.stop('SIGTERM'), 0);
});

/** The backends holding the relay's advisory lock and its slot. */
async function oldLeaderSessions(db: TestDatabase): Promise<number[]> {
  const { rows } = await db.pool.query<{ pid: number }>(
    `select pid from pg_locks where locktype = 'advisory' and granted and database =
       (select oid from pg_database where datname = current_database())
     union all select active_pid from pg_replication_slots where slot_name = $1 and active_pid is not null`,
    [db.slot],
  );
  return rows.map(({ pid }) => pid);
}

/** What the old leader's sessions are doing, for a wait that timed out. */
async function describeSessions(db: TestDatabase): Promise<string> {
  const pids = await oldLeaderSessions(db);
  const { rows } = await db.pool.query<{ line: string }>(
    `select concat_ws(' ', pid, backend_type, state, wait_event_type, wait_event,
       now() - state_change) as line from pg_stat_activity where pid = any($1)`,
    [pids],
  );
  return rows.map(({ line }) => line).join('; ') || pids.join(', ');
}
