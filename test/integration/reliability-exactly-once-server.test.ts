// Exactly-once to Kafka: a progress record covers only WAL of the server it was streamed from. A
// record forged before the relay starts stands for one written while streaming another server (a
// failover that lost WAL, a restore into another cluster): one of another system identifier, or of a
// later timeline of this system, whose position lies far ahead (or whose swept-row list names the
// xids of the rows in the table), must make the relay skip nothing: every event is delivered. The
// same record naming this very server still skips what it covers.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { createTopics } from '../support/kafka.js';
import { EventCounter, OutboxLoad } from '../support/load.js';
import { deliveryContext, probesOf, waitForOutboxEmpty } from '../support/probes.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import {
  adminQuery,
  createTestDatabase,
  dropSlotIfExists,
  KAFKA_BROKER,
  uniqueName,
} from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const EVENTS = 600;
const kafka = new Kafka({
  clientId: 'outbox-relay-tests',
  brokers: [KAFKA_BROKER],
  logLevel: logLevel.NOTHING,
});

interface Identity {
  readonly systemId: string;
  readonly timeline: number;
}

type Forge = (real: Identity) => Identity;
const CASES: readonly { name: string; forge: Forge; skips: boolean }[] = [
  { name: 'another system identifier', forge: (real) => ({ ...real, systemId: '1' }), skips: false },
  {
    name: 'a later timeline of this system',
    forge: (real) => ({ ...real, timeline: real.timeline + 1 }),
    skips: false,
  },
  { name: 'this very server', forge: (real) => real, skips: true },
];

async function serverIdentity(): Promise<Identity> {
  const { rows } = await adminQuery<{ system_id: string; timeline: number }>(
    `select (select system_identifier::text from pg_control_system()) as system_id,
            (select timeline_id from pg_control_checkpoint()) as timeline`,
  );
  return { systemId: rows[0]!.system_id, timeline: Number(rows[0]!.timeline) };
}

/** The relay's settings, a progress topic of its own (compacted, as the relay creates it). */
async function setup(prefix: string) {
  const db = await createTestDatabase(prefix);
  const type = uniqueName(prefix);
  const topic = `outbox.${type}`;
  const progressTopic = `${type}.progress`;
  const transactionalId = `${type}.relay`;
  await createTopics([topic]);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [
      {
        topic: progressTopic,
        numPartitions: 1,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      },
    ],
    waitForLeaders: true,
  });
  await admin.disconnect();
  const counter = await EventCounter.start(topic);
  const env = relayEnv(db, {
    KAFKA_EXACTLY_ONCE: 'true',
    KAFKA_PROGRESS_TOPIC: progressTopic,
    KAFKA_TRANSACTIONAL_ID: transactionalId,
  });
  return { db, type, counter, env, progressTopic, transactionalId };
}

/** Writes a progress record as a relay streaming `server` would have (visible to read_committed). */
async function forgeProgress(
  progressTopic: string,
  transactionalId: string,
  record: Record<string, unknown>,
): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({
      topic: progressTopic,
      acks: -1,
      messages: [{ key: transactionalId, value: JSON.stringify({ slot: 'forged', ...record }) }],
    });
  } finally {
    await producer.disconnect();
  }
}

/** Starts the relay once, so its slot exists (no sweep at the next start), and stops it. */
async function createSlot(env: Record<string, string>): Promise<void> {
  const relay = startRelayProcess(env);
  try {
    await relay.waitForLog('streaming');
    assert.equal(await relay.stop('SIGTERM'), 0);
  } finally {
    await relay.stop('SIGKILL');
  }
}

async function commitEvents(db: TestDatabase, type: string): Promise<OutboxLoad> {
  const load = await OutboxLoad.start(db.url, { aggregateType: type, maxEvents: EVENTS, maxBatch: 100 });
  await load.waitForCommitted(EVENTS);
  await load.stop();
  return load;
}

/** Whether the relay delivered every event once, or skipped every one (rows completed, none sent). */
async function assertOutcome(
  db: TestDatabase,
  relay: RelayProcess,
  counter: EventCounter,
  load: OutboxLoad,
  skips: boolean,
): Promise<void> {
  const probes = await probesOf(relay);
  if (skips) {
    await waitForOutboxEmpty(db, relay);
    await waitFor('every event counted as skipped', async () => {
      return (await probes.metric('outbox_relay_kafka_events_skipped_total')) === load.committed;
    });
    assert.equal(counter.received, 0, 'nothing sent for events the record covers');
    return;
  }
  await counter.waitForAll(load, undefined, () => deliveryContext(db, relay));
  await waitForOutboxEmpty(db, relay);
  assert.deepEqual(counter.missing(load), [], 'every committed event delivered');
  assert.equal(counter.delivered, load.committed);
  assert.equal(counter.duplicates, 0, 'no event delivered twice');
  assert.equal(await probes.metric('outbox_relay_kafka_events_skipped_total'), 0);
}

describe('exactly-once: a progress record far ahead, streamed events', () => {
  for (const { name, forge, skips } of CASES)
    test(`written while streaming ${name}: ${skips ? 'covers the events' : 'skips no event'}`, async () => {
      const { db, type, counter, env, progressTopic, transactionalId } = await setup('eos_server');
      let relay: RelayProcess | undefined;
      try {
        await createSlot(env);
        await forgeProgress(progressTopic, transactionalId, {
          commitLsn: 'FFFFFF/0',
          events: 0,
          ...forge(await serverIdentity()),
        });
        const load = await commitEvents(db, type);
        relay = startRelayProcess(env);
        if (!skips)
          await relay.waitForLog(/^kafka: the progress record \(FFFFFF\/0#0\) was written .*: set aside/);
        await assertOutcome(db, relay, counter, load, skips);
        assert.equal(await relay.stop('SIGTERM'), 0);
      } finally {
        await relay?.stop('SIGKILL');
        await counter.stop();
        await db.drop();
      }
    });
});

describe('exactly-once: a progress record listing the rows, a lost slot swept', () => {
  for (const { name, forge, skips } of CASES)
    test(`written while streaming ${name}: ${skips ? 'covers the rows' : 'skips no row'}`, async () => {
      const { db, type, counter, env, progressTopic, transactionalId } = await setup('eos_server_sweep');
      let relay: RelayProcess | undefined;
      try {
        await createSlot(env);
        await dropSlotIfExists(db.pool, db.slot);
        const load = await commitEvents(db, type);
        // Every row's transaction listed up to its highest seq, before any position of the new slot.
        const { rows } = await db.pool.query<{ xid: string; seq: string }>(
          'select xmin::text as xid, max(seq)::text as seq from outbox group by xmin',
        );
        await forgeProgress(progressTopic, transactionalId, {
          commitLsn: '0/1',
          events: 0,
          unconfirmed: rows.map((row) => [Number(row.xid), Number(row.seq), '0/1']),
          ...forge(await serverIdentity()),
        });
        relay = startRelayProcess(env);
        await relay.waitForLog('slot created');
        await assertOutcome(db, relay, counter, load, skips);
        assert.equal(await relay.stop('SIGTERM'), 0);
      } finally {
        await relay?.stop('SIGKILL');
        await counter.stop();
        await db.drop();
      }
    });
});
