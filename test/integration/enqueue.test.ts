// The application API: enqueue/enqueueMany through a drizzle transaction and through a pg client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { drizzle } from 'drizzle-orm/node-postgres';
import { defineEvents, enqueue, enqueueMany } from '../../src/enqueue.js';
import { createTestDatabase } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';

interface OutboxRow {
  id: string;
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  payload: unknown;
  headers: Record<string, string>;
}

describe('enqueue', () => {
  let db: TestDatabase;

  before(async () => {
    db = await createTestDatabase('enqueue');
  });
  after(async () => {
    await db.drop();
  });

  async function rows(ids: string[]): Promise<OutboxRow[]> {
    const { rows } = await db.pool.query<OutboxRow>(
      'select id, aggregate_type, aggregate_id, event_type, payload, headers from outbox where id = any($1::uuid[])',
      [ids],
    );
    return ids.map((id) => rows.find((row) => row.id === id)!);
  }

  test('enqueueMany inserts through a drizzle transaction and returns the ids in order', async () => {
    const ids = await drizzle(db.pool).transaction((tx) =>
      enqueueMany(tx, [
        { aggregateType: 'order', aggregateId: '1', eventType: 'OrderPlaced', payload: { n: 1 } },
        {
          aggregateType: 'order',
          aggregateId: '1',
          eventType: 'OrderPaid',
          payload: { n: 2 },
          headers: { a: 'b' },
        },
      ]),
    );
    assert.equal(ids.length, 2);
    const [first, second] = await rows(ids);
    assert.deepEqual(first!.payload, { n: 1 });
    assert.equal(second!.event_type, 'OrderPaid');
    assert.deepEqual(second!.headers, { a: 'b' });
  });

  test('enqueue inserts through a pg client inside BEGIN, with a caller-chosen id', async () => {
    const client = await db.pool.connect();
    const id = '6f1c1a52-34a8-4c53-9d3b-3b9c2f0c6e01';
    try {
      await client.query('begin');
      assert.equal(
        await enqueue(client, { id, aggregateType: 'user', aggregateId: 'u', eventType: 'E', payload: [1] }),
        id,
      );
      await client.query('commit');
    } finally {
      client.release();
    }
    const [row] = await rows([id]);
    assert.equal(row!.aggregate_type, 'user');
    assert.deepEqual(row!.payload, [1]);
  });

  test('events of a rolled-back drizzle transaction are not in the outbox', async () => {
    let ids: string[] = [];
    await drizzle(db.pool)
      .transaction(async (tx) => {
        ids = await enqueueMany(tx, [
          { aggregateType: 'order', aggregateId: '9', eventType: 'E', payload: {} },
        ]);
        tx.rollback();
      })
      .catch(() => undefined);
    assert.equal(ids.length, 1);
    const { rows: found } = await db.pool.query('select 1 from outbox where id = $1', [ids[0]]);
    assert.equal(found.length, 0);
  });

  test('rejects an invalid event before touching the database, naming the field', async () => {
    await assert.rejects(
      enqueue(db.pool, { aggregateType: '', aggregateId: 'x', eventType: 'E', payload: {} }),
      { name: 'OutboxEventError', message: 'aggregateType must be a non-empty string' },
    );
    const before = await db.pool.query('select count(*)::int as n from outbox');
    await assert.rejects(
      enqueueMany(db.pool, [
        { aggregateType: 'order', aggregateId: '1', eventType: 'E', payload: {} },
        { aggregateType: 'order', aggregateId: '1', eventType: 'E', payload: {}, headers: { n: 1 as never } },
      ]),
      { message: 'events[1].headers.n must be a string, not a number' },
    );
    const after = await db.pool.query('select count(*)::int as n from outbox');
    assert.deepEqual(after.rows, before.rows);
  });

  test('typed events from defineEvents go in like untyped ones', async () => {
    type Shop = { aggregateType: 'order'; eventType: 'OrderPlaced'; payload: { orderId: number } };
    const shop = defineEvents<Shop>();
    const id = await drizzle(db.pool).transaction((tx) =>
      shop.enqueue(tx, {
        aggregateType: 'order',
        aggregateId: '7',
        eventType: 'OrderPlaced',
        payload: { orderId: 7 },
      }),
    );
    const [row] = await rows([id]);
    assert.deepEqual(row!.payload, { orderId: 7 });
    assert.deepEqual(row!.headers, {});
  });
});
