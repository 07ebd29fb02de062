// End to end with Kafka, what only Kafka's scenarios check (relay.test.ts runs the ones shared with
// RabbitMQ): PostgreSQL WAL -> relay CLI -> real Kafka broker.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTopics, TopicReader } from '../support/kafka.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, currentWalLsn, localService, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

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
    relay = await startStreaming(relayEnv(db));
  });
  after(async () => {
    await relay?.stop('SIGKILL');
    await db.drop();
  });

  test('keeps rows and the slot position until the broker confirms, then completes them', async () => {
    const type = uniqueName('outage');
    const topic = `outbox.${type}`;
    await createTopics([topic]);
    await localService('kafka', 'stop');
    // Heartbeats and keepalives may still move an idle slot up to the events' transaction, never
    // past it: its position stays below the WAL's end right after their commit.
    let afterEvents = '';
    const slotBehind = async (): Promise<boolean> => {
      const { rows } = await db.pool.query<{ behind: boolean }>(
        `select confirmed_flush_lsn < $2::pg_lsn as behind from pg_replication_slots where slot_name = $1`,
        [db.slot, afterEvents],
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
      afterEvents = await currentWalLsn(db.pool);
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
