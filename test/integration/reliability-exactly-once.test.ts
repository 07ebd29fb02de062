// Exactly-once to Kafka (KAFKA_EXACTLY_ONCE=true): the relay is SIGKILLed while events flow, a
// transaction larger than the in-flight window is killed midway, Kafka is stopped for 30 s and
// PostgreSQL restarted under load, and a read_committed consumer (the kafkajs default) counts every
// event: none lost, none twice, each key in commit order.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import type { TestContext } from 'node:test';
import { stopAndCrashPostgres } from '../support/postgres-outage.js';
import { createTopics } from '../support/kafka.js';
import { EventCounter, OutboxLoad } from '../support/load.js';
import type { LoadOptions } from '../support/load.js';
import { deliveryContext, probesOf, waitForOutboxEmpty } from '../support/probes.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, KAFKA_BROKER, localService, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { Teardown } from '../kit/teardown.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const KILLS = 5;
const MIN_EVENTS = 20_000;
const EXACTLY_ONCE = { KAFKA_EXACTLY_ONCE: 'true', OUTBOX_MAX_IN_FLIGHT: '1000' };

/** A database, its topic and a counter reading it; the relays and load started through it end with the test. */
async function exactlyOnceSetup(t: TestContext, prefix: string, extra: Record<string, string> = {}) {
  const teardown = new Teardown(t);
  const db = teardown.add(await createTestDatabase(prefix), (started) => started.drop());
  const type = uniqueName(prefix);
  const topic = `outbox.${type}`;
  await createTopics([topic]);
  const counter = teardown.add(await EventCounter.start(topic), (started) => started.stop());
  const env = relayEnv(db, { ...EXACTLY_ONCE, ...extra });
  return {
    db,
    type,
    counter,
    env,
    startRelay: (): RelayProcess => teardown.add(startRelayProcess(env), (relay) => relay.stop('SIGKILL')),
    startLoad: async (options: Omit<LoadOptions, 'aggregateType'>): Promise<OutboxLoad> =>
      teardown.add(await OutboxLoad.start(db.url, { aggregateType: type, ...options }), (load) =>
        load.stop(),
      ),
  };
}

/** Kills the relay with SIGKILL and starts a new one, once it delivered more since its start. */
async function killAndRestart(
  relay: RelayProcess,
  counter: EventCounter,
  startRelay: () => RelayProcess,
): Promise<RelayProcess> {
  const received = counter.received;
  await waitFor('the relay to deliver', () => counter.received > received + 500, { timeoutMs: 60_000 });
  await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 1_300));
  relay.child.kill('SIGKILL');
  assert.equal(await relay.exited, 'SIGKILL');
  const next = startRelay();
  await next.waitForLog('streaming');
  return next;
}

async function assertExactlyOnce(
  t: TestContext,
  db: TestDatabase,
  relay: RelayProcess,
  counter: EventCounter,
  load: OutboxLoad,
): Promise<void> {
  await counter.waitForAll(load, undefined, () => deliveryContext(db, relay));
  await waitForOutboxEmpty(db, relay);
  t.diagnostic(
    `${load.committed} events in ${load.committedByAggregate.size} aggregates: ` +
      `${counter.received} received, ${counter.duplicates} duplicates`,
  );
  assert.deepEqual(counter.missing(load), [], 'every committed event delivered');
  assert.equal(counter.delivered, load.committed);
  assert.deepEqual(counter.orderViolations.slice(0, 10), [], 'per-aggregate commit order');
  assert.equal(counter.duplicates, 0, 'no event delivered twice');
}

test('exactly-once: 5 SIGKILLs under load lose nothing and duplicate nothing', async (t) => {
  const { db, counter, startRelay, startLoad } = await exactlyOnceSetup(t, 'eos_crash');
  let relay = startRelay();
  await relay.waitForLog('streaming');
  const load = await startLoad({ eventsPerSecond: 2_000 });
  for (let kill = 1; kill <= KILLS; kill++) {
    relay = await killAndRestart(relay, counter, startRelay);
    t.diagnostic(`kill ${kill}: ${load.committed} committed, ${counter.delivered} delivered so far`);
  }
  await load.waitForCommitted(MIN_EVENTS);
  await load.stop();
  assert.ok(load.committed >= MIN_EVENTS);
  assert.equal(load.committedByAggregate.size, 100);
  await assertExactlyOnce(t, db, relay, counter, load);
  assert.equal(await relay.stop('SIGTERM'), 0);
});

test('exactly-once: a transaction larger than the window, killed midway, is not duplicated', async (t) => {
  // 6,000 events in one transaction, a window of 1,000, Kafka transactions of at most 500.
  const { db, counter, startRelay, startLoad } = await exactlyOnceSetup(t, 'eos_large', {
    KAFKA_BATCH_SIZE: '500',
  });
  let relay = startRelay();
  await relay.waitForLog('streaming');
  const load = await startLoad({ writers: 1, minBatch: 6_000, maxBatch: 6_000, maxEvents: 6_000 });
  await load.stop();
  assert.equal(load.committed, 6_000);
  await waitFor('part of the transaction delivered', () => counter.received >= 1_000, { timeoutMs: 60_000 });
  relay.child.kill('SIGKILL');
  await relay.exited;
  const partial = counter.received;
  t.diagnostic(`killed with ${partial} of 6000 events in Kafka`);
  assert.ok(partial < 6_000, 'killed midway');
  relay = startRelay();
  await relay.waitForLog('streaming');
  await assertExactlyOnce(t, db, relay, counter, load);
  assert.equal(await relay.stop('SIGTERM'), 0);
});

test('exactly-once: Kafka stopped for 30 s under load, nothing lost, nothing twice', async (t) => {
  const { db, counter, startRelay, startLoad } = await exactlyOnceSetup(t, 'eos_outage');
  const relay = startRelay();
  await relay.waitForLog('streaming');
  const load = await startLoad({ eventsPerSecond: 800 });
  await waitFor('delivery under way', () => counter.delivered > 1_000, { timeoutMs: 60_000 });
  await localService('kafka', 'stop');
  const stoppedAt = Date.now();
  try {
    await relay.waitForLog('kafka: transactional producer not ready, retrying', 60_000);
    await waitFor('30 s of outage', () => Date.now() - stoppedAt >= 30_000, { timeoutMs: 40_000 });
  } finally {
    await localService('kafka', 'start');
  }
  t.diagnostic(`outage of ${Math.round((Date.now() - stoppedAt) / 1000)} s, ${load.committed} committed`);
  const delivered = counter.delivered;
  await waitFor('delivery resumed', () => counter.delivered > delivered + 1_000, { timeoutMs: 120_000 });
  await load.stop();
  await assertExactlyOnce(t, db, relay, counter, load);
  assert.equal(relay.child.exitCode, null, 'the same relay process delivered everything');
  assert.equal(await relay.stop('SIGTERM'), 0);
});

test('exactly-once: PostgreSQL stopped and crashed under load, nothing lost, nothing twice', async (t) => {
  const { db, counter, startRelay, startLoad } = await exactlyOnceSetup(t, 'eos_pgrestart');
  const relay = startRelay();
  await relay.waitForLog('streaming');
  const load = await startLoad({ eventsPerSecond: 1_000 });
  await stopAndCrashPostgres(t, relay, counter, load, () => deliveryContext(db, relay));
  await load.stop();
  await assertExactlyOnce(t, db, relay, counter, load);
  assert.equal(relay.child.exitCode, null, 'the same relay process delivered everything');
  assert.equal(await relay.stop('SIGTERM'), 0);
});

test('exactly-once: a progress topic that is not compacted ends start-up with exit 2 and one line', async () => {
  const db = await createTestDatabase('eos_config');
  const progressTopic = uniqueName('progress');
  await createTopics([progressTopic], 1);
  const relay = startRelayProcess(relayEnv(db, { ...EXACTLY_ONCE, KAFKA_PROGRESS_TOPIC: progressTopic }));
  try {
    assert.equal(await relay.exited, 2);
    const line = await relay.waitForLine(/configuration error/);
    assert.match(
      line,
      new RegExp(`KAFKA_PROGRESS_TOPIC.*${progressTopic} has cleanup.policy=delete: set it to compact`),
    );
  } finally {
    await relay.stop('SIGKILL');
    await db.drop();
  }
});

test('exactly-once: a new slot replaces a progress record from older WAL (as after a failover)', async (t) => {
  const { db, counter, startRelay, startLoad } = await exactlyOnceSetup(t, 'eos_newslot');
  // A record far ahead of this server's WAL, as a promoted standby sees its old primary's progress:
  // kept, it would skip every new event.
  const admin = new Kafka({ brokers: [KAFKA_BROKER], logLevel: logLevel.NOTHING });
  const producer = admin.producer();
  await producer.connect();
  await producer.send({
    topic: 'outbox-relay.progress',
    messages: [
      {
        key: `outbox-relay.${db.name}.${db.slot}`,
        value: JSON.stringify({ slot: db.slot, commitLsn: 'FFFFFF/0', events: 1 }),
      },
    ],
  });
  await producer.disconnect();
  const relay = startRelay();
  await relay.waitForLog('slot created');
  await relay.waitForLog('streaming');
  const load = await startLoad({ maxEvents: 2_000 });
  await load.waitForCommitted(2_000);
  await load.stop();
  await assertExactlyOnce(t, db, relay, counter, load);
  assert.equal(await relay.stop('SIGTERM'), 0);
});

test('exactly-once: an idle relay reports a lost Kafka on /readyz, and its return', async (t) => {
  const { startRelay } = await exactlyOnceSetup(t, 'eos_ready');
  const relay = startRelay();
  await relay.waitForLog('streaming');
  const probes = await probesOf(relay);
  await waitFor('ready', async () => (await probes.readyStatus()) === 200);
  await localService('kafka', 'stop');
  try {
    await waitFor('not ready', async () => (await probes.readyStatus()) === 503, { timeoutMs: 30_000 });
  } finally {
    await localService('kafka', 'start');
  }
  await waitFor('ready again', async () => (await probes.readyStatus()) === 200, { timeoutMs: 60_000 });
  assert.equal(await relay.stop('SIGTERM'), 0);
});
