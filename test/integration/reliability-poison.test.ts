// Poison events: a message a broker refuses for good is tried OUTBOX_MAX_ATTEMPTS times, then
// dead-lettered with its attempts, and the events behind it flow on. A broker outage is not a refusal:
// it never sends an event to the dead-letter table, however low OUTBOX_MAX_ATTEMPTS is.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { createTopics, TopicReader } from '../support/kafka.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import {
  createTestDatabase,
  dropSlotIfExists,
  KAFKA_BROKER,
  localService,
  uniqueName,
} from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

interface DeadLetterRow {
  id: string;
  error: string;
  attempts: number;
  destination: string | null;
}

async function deadLetters(db: TestDatabase): Promise<DeadLetterRow[]> {
  const { rows } = await db.pool.query<DeadLetterRow>(
    `select id::text, error, attempts, destination from outbox_dead_letter order by dead_lettered_at`,
  );
  return rows;
}

function event(type: string, aggregateId: string, seq: number, padding = 0): TestEvent {
  return { aggregateType: type, aggregateId, eventType: 'E', payload: { seq, pad: 'x'.repeat(padding) } };
}

describe('poison events on Kafka', () => {
  let db: TestDatabase;
  let relay: RelayProcess | undefined;

  before(async () => {
    db = await createTestDatabase('poison');
  });
  after(async () => {
    await relay?.stop('SIGKILL');
    await db.drop();
  });

  async function start(extra: Record<string, string>): Promise<RelayProcess> {
    await relay?.stop('SIGTERM');
    relay = startRelayProcess(
      relayEnv(db, {
        ...extra,
      }),
    );
    await relay.waitForLog('streaming');
    return relay;
  }

  test('a message above KAFKA_MAX_MESSAGE_BYTES is dead-lettered after the attempts, successors flow', async () => {
    const type = uniqueName('toolarge');
    const topic = `outbox.${type}`;
    await createTopics([topic], 1);
    const reader = await TopicReader.start([topic]);
    await start({ KAFKA_MAX_MESSAGE_BYTES: '4000', OUTBOX_MAX_ATTEMPTS: '3' });
    try {
      const [first, poison, third] = await commitEvents(db.pool, [
        event(type, 'k', 1),
        event(type, 'k', 2, 10_000),
        event(type, 'k', 3),
      ]);
      const next = await commitEvents(db.pool, [event(type, 'k', 4), event(type, 'other', 1)]);
      await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0, { timeoutMs: 60_000 });
      await reader.waitForCount(4);
      assert.deepEqual(reader.ids(), [first, third, ...next]);
      const dead = await deadLetters(db);
      assert.equal(dead.length, 1);
      assert.equal(dead[0]!.id, poison);
      assert.equal(dead[0]!.attempts, 3);
      assert.equal(dead[0]!.destination, `kafka:${topic}`);
      assert.match(dead[0]!.error, /exceeds the 4000-byte limit/);
      assert.equal(relay!.output.filter((line) => line.includes('event refused, trying again')).length, 2);
    } finally {
      await reader.stop();
    }
  });

  test('a message the broker refuses (topic max.message.bytes) is dead-lettered, successors flow', async () => {
    const type = uniqueName('refused');
    const topic = `outbox.${type}`;
    const admin = new Kafka({ brokers: [KAFKA_BROKER], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '2000' }] }],
        waitForLeaders: true,
      });
    } finally {
      await admin.disconnect();
    }
    const reader = await TopicReader.start([topic]);
    await start({ OUTBOX_MAX_ATTEMPTS: '2' });
    await db.pool.query('truncate outbox_dead_letter');
    try {
      const ids = await commitEvents(db.pool, [
        event(type, 'k', 1),
        event(type, 'k', 2, 5_000),
        event(type, 'k', 3),
      ]);
      await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0, { timeoutMs: 60_000 });
      await reader.waitForCount(2);
      assert.deepEqual(reader.ids(), [ids[0], ids[2]]);
      const dead = await deadLetters(db);
      assert.deepEqual(
        dead.map(({ id, attempts }) => ({ id, attempts })),
        [{ id: ids[1], attempts: 2 }],
      );
      assert.match(dead[0]!.error, /MESSAGE_TOO_LARGE/);
    } finally {
      await reader.stop();
    }
  });

  test('a broker outage dead-letters nothing, even with OUTBOX_MAX_ATTEMPTS=1', async () => {
    const type = uniqueName('outage');
    const topic = `outbox.${type}`;
    await createTopics([topic], 1);
    await start({ OUTBOX_MAX_ATTEMPTS: '1' });
    await db.pool.query('truncate outbox_dead_letter');
    let ids: string[];
    await localService('kafka', 'stop');
    try {
      ids = await commitEvents(
        db.pool,
        Array.from({ length: 10 }, (_, i) => event(type, `k${i % 2}`, i)),
      );
      // Retried, not refused: still pending, nothing parked.
      await waitFor(
        'several failed publish attempts',
        () => relay!.output.filter((line) => line.includes('kafka: publish failed, retrying')).length >= 3,
        { timeoutMs: 60_000 },
      );
      assert.equal(await outboxCount(db.pool), 10);
      assert.deepEqual(await deadLetters(db), []);
    } finally {
      await localService('kafka', 'start');
    }
    const reader = await TopicReader.start([topic]);
    try {
      await reader.waitForCount(10, 120_000);
      await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0, { timeoutMs: 60_000 });
      assert.deepEqual([...new Set(reader.ids())].sort(), [...ids].sort());
      assert.deepEqual(await deadLetters(db), []);
    } finally {
      await reader.stop();
    }
  });

  test('a mixed-case publication name from the configuration is quoted, not folded', async () => {
    const type = uniqueName('mixedcase');
    const topic = `outbox.${type}`;
    await createTopics([topic], 1);
    const slot = uniqueName('mixed_slot');
    const reader = await TopicReader.start([topic]);
    await relay?.stop('SIGTERM');
    relay = startRelayProcess({
      DATABASE_URL: db.url,
      OUTBOX_SLOT: slot,
      OUTBOX_PUBLICATION: 'Outbox_Pub_Mixed',
      KAFKA_BROKERS: KAFKA_BROKER,
    });
    try {
      await relay.waitForLog('streaming');
      const ids = await commitEvents(db.pool, [event(type, 'k', 1)]);
      await reader.waitForCount(1);
      assert.deepEqual(reader.ids(), ids);
      const { rows } = await db.pool.query(`select 1 from pg_publication where pubname = 'Outbox_Pub_Mixed'`);
      assert.equal(rows.length, 1);
    } finally {
      await reader.stop();
      await relay.stop('SIGTERM');
      relay = undefined;
      await dropSlotIfExists(db.pool, slot);
    }
  });
});
