// Exactly-once progress records for tests: a relay environment with a progress topic of its own, and
// records forged as a relay streaming some server would have written them.
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { relayEnv, startRelayProcess } from '../kit/relay.js';
import { KAFKA_BROKER, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { createTopics } from './kafka.js';
import { EventCounter, OutboxLoad } from './load.js';

const kafka = new Kafka({
  clientId: 'outbox-relay-tests',
  brokers: [KAFKA_BROKER],
  logLevel: logLevel.NOTHING,
});

export interface ProgressSetup {
  readonly type: string;
  readonly counter: EventCounter;
  readonly env: Record<string, string>;
  readonly progressTopic: string;
  readonly transactionalId: string;
}

/** An events topic and its counter, and a progress topic of its own (compacted, as the relay makes it). */
export async function progressSetup(
  db: Pick<TestDatabase, 'url' | 'slot'>,
  prefix: string,
): Promise<ProgressSetup> {
  const type = uniqueName(prefix);
  const progressTopic = `${type}.progress`;
  const transactionalId = `${type}.relay`;
  await createTopics([`outbox.${type}`]);
  const admin = kafka.admin();
  await admin.connect();
  try {
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
  } finally {
    await admin.disconnect();
  }
  const counter = await EventCounter.start(`outbox.${type}`);
  const env = relayEnv(db as TestDatabase, {
    KAFKA_EXACTLY_ONCE: 'true',
    KAFKA_PROGRESS_TOPIC: progressTopic,
    KAFKA_TRANSACTIONAL_ID: transactionalId,
  });
  return { type, counter, env, progressTopic, transactionalId };
}

/** Writes a progress record (not in a transaction: visible to read_committed readers at once). */
export async function forgeProgress(setup: ProgressSetup, record: Record<string, unknown>): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({
      topic: setup.progressTopic,
      acks: -1,
      messages: [{ key: setup.transactionalId, value: JSON.stringify({ slot: 'forged', ...record }) }],
    });
  } finally {
    await producer.disconnect();
  }
}

/** Starts the relay once, so its slot exists (no sweep at the next start), and stops it. */
export async function createSlot(env: Record<string, string>): Promise<void> {
  const relay = startRelayProcess(env);
  try {
    await relay.waitForLog('streaming');
    assert.equal(await relay.stop('SIGTERM'), 0);
  } finally {
    await relay.stop('SIGKILL');
  }
}

/** Commits `events` events of aggregate type `type` (writers, batches of up to 100). */
export async function commitEvents(url: string, type: string, events: number): Promise<OutboxLoad> {
  const load = await OutboxLoad.start(url, { aggregateType: type, maxEvents: events, maxBatch: 100 });
  await load.waitForCommitted(events);
  await load.stop();
  return load;
}
