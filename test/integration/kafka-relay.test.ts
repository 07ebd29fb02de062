// The walking skeleton end to end: PostgreSQL WAL -> relay CLI -> real Kafka broker.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTopics, TopicReader } from '../support/kafka.js';
import { commitEvents, currentWalLsn, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { startRelayProcess } from '../support/relay.js';
import type { RelayProcess } from '../support/relay.js';
import { createTestDatabase, KAFKA_BROKER, localService, uniqueName } from '../support/services.js';
import type { TestDatabase } from '../support/services.js';
import { waitFor } from '../support/wait.js';

function relayEnv(db: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: db.url, OUTBOX_SLOT: db.slot, KAFKA_BROKERS: KAFKA_BROKER, ...extra };
}

async function startStreaming(env: Record<string, string>): Promise<RelayProcess> {
  const relay = startRelayProcess(env);
  await relay.waitForLog('streaming');
  return relay;
}

describe('relay with Kafka', () => {
  let db: TestDatabase;
  let relay: RelayProcess | undefined;

  before(async () => {
    db = await createTestDatabase('kafka');
  });
  after(async () => {
    await relay?.stop('SIGKILL');
    await db.drop();
  });

  test('publishes each committed event once, keyed by aggregate id, with the contract headers', async () => {
    const type = uniqueName('order');
    const topic = `outbox.${type}`;
    await createTopics([topic]);
    const reader = await TopicReader.start([topic]);
    relay = await startStreaming(relayEnv(db));
    const events: TestEvent[] = [
      {
        aggregateType: type,
        aggregateId: 'o-1',
        eventType: 'OrderPlaced',
        payload: { total: 12.5, items: ['a'] },
        headers: { traceparent: '00-abc-01' },
      },
      { aggregateType: type, aggregateId: 'o-2', eventType: 'OrderPlaced', payload: { total: 3 } },
    ];
    const ids = await commitEvents(db.pool, events);
    const messages = await reader.waitForCount(2);
    // Anything extra would arrive with the ones we waited for: wait for the rows to be completed too.
    await waitFor('rows deleted', async () => (await outboxCount(db.pool)) === 0);
    await reader.stop();

    assert.deepEqual(messages.map((m) => m.headers['id']).sort(), [...ids].sort());
    for (const [index, event] of events.entries()) {
      const message = messages.find((m) => m.headers['id'] === ids[index])!;
      assert.equal(message.key, event.aggregateId);
      assert.deepEqual(JSON.parse(message.value), event.payload);
      assert.equal(message.headers['aggregate_type'], type);
      assert.equal(message.headers['aggregate_id'], event.aggregateId);
      assert.equal(message.headers['event_type'], 'OrderPlaced');
      assert.match(message.headers['created_at']!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      for (const [name, value] of Object.entries(event.headers ?? {}))
        assert.equal(message.headers[name], value);
    }
  });

  test('publishes nothing from a rolled-back transaction', async () => {
    const type = uniqueName('rollback');
    const topic = `outbox.${type}`;
    await createTopics([topic]);
    const reader = await TopicReader.start([topic]);
    const [rolledBack] = await commitEvents(
      db.pool,
      [{ aggregateType: type, aggregateId: 'r', eventType: 'Lost', payload: {} }],
      { rollback: true },
    );
    const [marker] = await commitEvents(db.pool, [
      { aggregateType: type, aggregateId: 'm', eventType: 'Marker', payload: {} },
    ]);
    await reader.waitForCount(1);
    await waitFor('rows deleted', async () => (await outboxCount(db.pool)) === 0);
    await reader.stop();
    assert.deepEqual(reader.ids(), [marker]);
    assert.ok(!reader.ids().includes(rolledBack!));
  });

  test('keeps commit order per aggregate across many concurrent transactions', async () => {
    const type = uniqueName('ordered');
    const topic = `outbox.${type}`;
    await createTopics([topic]);
    const reader = await TopicReader.start([topic]);
    const aggregates = 12;
    const transactionsPerWriter = 40;
    // Four writers commit concurrently; each owns three aggregates and numbers its events.
    await Promise.all(
      Array.from({ length: 4 }, async (_, writer) => {
        for (let t = 0; t < transactionsPerWriter; t++) {
          const events: TestEvent[] = [];
          for (let k = 0; k < 3; k++) {
            const aggregate = writer * 3 + k;
            events.push({
              aggregateType: type,
              aggregateId: `agg-${aggregate}`,
              eventType: 'Step',
              payload: { seq: t * 2 },
            });
            events.push({
              aggregateType: type,
              aggregateId: `agg-${aggregate}`,
              eventType: 'Step',
              payload: { seq: t * 2 + 1 },
            });
          }
          await commitEvents(db.pool, events);
        }
      }),
    );
    const total = aggregates * transactionsPerWriter * 2;
    await reader.waitForCount(total);
    await waitFor('rows deleted', async () => (await outboxCount(db.pool)) === 0);
    await reader.stop();

    assert.equal(new Set(reader.ids()).size, total);
    const byKey = new Map<string, number[]>();
    for (const message of reader.messages) {
      const seqs = byKey.get(message.key) ?? [];
      seqs.push((JSON.parse(message.value) as { seq: number }).seq);
      byKey.set(message.key, seqs);
    }
    assert.equal(byKey.size, aggregates);
    for (const [key, seqs] of byKey) {
      assert.deepEqual(
        seqs,
        Array.from({ length: transactionsPerWriter * 2 }, (_, i) => i),
        `order of ${key}`,
      );
    }
  });

  test('keeps rows and the slot position until the broker confirms, then completes them', async () => {
    const type = uniqueName('outage');
    const topic = `outbox.${type}`;
    await createTopics([topic]);
    await localService('kafka', 'stop');
    // Heartbeats may still move an idle slot up to the events' transaction, never past it.
    const beforeEvents = await currentWalLsn(db.pool);
    const slotBehind = async (): Promise<boolean> => {
      const { rows } = await db.pool.query<{ behind: boolean }>(
        `select confirmed_flush_lsn <= $2::pg_lsn as behind from pg_replication_slots where slot_name = $1`,
        [db.slot, beforeEvents],
      );
      return rows[0]!.behind;
    };
    try {
      await commitEvents(
        db.pool,
        Array.from({ length: 20 }, (_, i) => ({
          aggregateType: type,
          aggregateId: `k${i % 3}`,
          eventType: 'E',
          payload: { i },
        })),
      );
      await relay!.waitForLog('kafka: publish failed, retrying');
      assert.equal(await outboxCount(db.pool), 20);
      assert.ok(await slotBehind(), 'the slot must not pass undelivered events');
    } finally {
      await localService('kafka', 'start');
    }
    const reader = await TopicReader.start([topic]);
    await reader.waitForCount(20, 120_000);
    await waitFor('rows deleted', async () => (await outboxCount(db.pool)) === 0, { timeoutMs: 60_000 });
    await reader.stop();
    assert.equal(new Set(reader.ids()).size, 20);
    await waitFor('the slot to pass the delivered events', async () => !(await slotBehind()));
  });

  test('a graceful stop and restart loses nothing and resends nothing confirmed', async () => {
    const type = uniqueName('restart');
    const topic = `outbox.${type}`;
    await createTopics([topic]);
    const reader = await TopicReader.start([topic]);
    const first = await commitEvents(
      db.pool,
      Array.from({ length: 50 }, (_, i) => ({
        aggregateType: type,
        aggregateId: `a${i % 5}`,
        eventType: 'E',
        payload: { i },
      })),
    );
    await reader.waitForCount(50);
    await waitFor('rows deleted', async () => (await outboxCount(db.pool)) === 0);
    assert.equal(await relay!.stop('SIGTERM'), 0);

    const second = await commitEvents(
      db.pool,
      Array.from({ length: 50 }, (_, i) => ({
        aggregateType: type,
        aggregateId: `a${i % 5}`,
        eventType: 'E',
        payload: { i: 50 + i },
      })),
    );
    relay = await startStreaming(relayEnv(db));
    await reader.waitForCount(100);
    await waitFor('rows deleted', async () => (await outboxCount(db.pool)) === 0);
    // A resent confirmed event would arrive before the second batch ends, making the count reach 100 early.
    await reader.stop();
    assert.deepEqual([...reader.ids()].sort(), [...first, ...second].sort());
  });
});

describe('relay in mark mode', () => {
  test('marks delivered rows, and UPDATE or DELETE of outbox rows publish nothing', async () => {
    const db = await createTestDatabase('mark');
    const type = uniqueName('marked');
    const topic = `outbox.${type}`;
    await createTopics([topic]);
    const reader = await TopicReader.start([topic]);
    const relay = await startStreaming(relayEnv(db, { OUTBOX_COMPLETION: 'mark' }));
    try {
      const [id] = await commitEvents(db.pool, [
        { aggregateType: type, aggregateId: 'x', eventType: 'Created', payload: { v: 1 } },
      ]);
      await reader.waitForCount(1);
      await waitFor('row marked', async () => (await outboxCount(db.pool, 'processed_at is not null')) === 1);
      await db.pool.query(`update outbox set payload = '{"v": 2}' where id = $1`, [id]);
      await db.pool.query(`delete from outbox where id = $1`, [id]);
      const [marker] = await commitEvents(db.pool, [
        { aggregateType: type, aggregateId: 'y', eventType: 'Marker', payload: {} },
      ]);
      await waitFor(
        'marker delivered and marked',
        async () =>
          reader.ids().includes(marker!) && (await outboxCount(db.pool, 'processed_at is not null')) === 1,
      );
      assert.deepEqual(reader.ids(), [id, marker]);
    } finally {
      await reader.stop();
      assert.equal(await relay.stop('SIGTERM'), 0);
      await db.drop();
    }
  });
});
