// Type-level tests of the application API: `npm run typecheck` compiles this file, and every
// `@ts-expect-error` line must be an error there (tsc reports an unused one). The runtime part only
// checks that the typed functions are the real ones; nothing here touches a database.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodePgDatabase, NodePgTransaction } from 'drizzle-orm/node-postgres';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import type pg from 'pg';
import { defineEvents, enqueue, enqueueMany } from '../../src/index.js';
import type { OutboxEventInput, OutboxExecutor } from '../../src/index.js';

type ShopEvent =
  | { aggregateType: 'order'; eventType: 'OrderPlaced'; payload: { orderId: number; totalCents: number } }
  | { aggregateType: 'order'; eventType: 'OrderCancelled'; payload: { orderId: number; reason: string } }
  | { aggregateType: 'customer'; eventType: 'CustomerRegistered'; payload: { email: string } };

const shop = defineEvents<ShopEvent>();

// Never called: these statements exist for the compiler.
async function typeChecks(tx: OutboxExecutor): Promise<void> {
  const id: string = await shop.enqueue(tx, {
    aggregateType: 'order',
    aggregateId: '1',
    eventType: 'OrderPlaced',
    payload: { orderId: 1, totalCents: 4200 },
    headers: { traceparent: '00-abc-def-01' },
  });
  const ids: string[] = await shop.enqueueMany(tx, [
    {
      aggregateType: 'order',
      aggregateId: '1',
      eventType: 'OrderCancelled',
      payload: { orderId: 1, reason: 'x' },
    },
    {
      aggregateType: 'customer',
      aggregateId: 'c',
      eventType: 'CustomerRegistered',
      payload: { email: 'a@b' },
    },
  ]);
  void id;
  void ids;

  await shop.enqueue(tx, {
    aggregateType: 'order',
    aggregateId: '1',
    // @ts-expect-error an event type the union does not have
    eventType: 'OrderShipped',
    payload: { orderId: 1, totalCents: 1 },
  });
  await shop.enqueue(tx, {
    aggregateType: 'order',
    aggregateId: '1',
    eventType: 'OrderPlaced',
    // @ts-expect-error the payload of another event type (OrderCancelled's)
    payload: { orderId: 1, reason: 'x' },
  });
  await shop.enqueue(tx, {
    aggregateType: 'order',
    aggregateId: '1',
    eventType: 'OrderPlaced',
    // @ts-expect-error a payload field of the wrong type
    payload: { orderId: '1', totalCents: 4200 },
  });
  // @ts-expect-error an aggregate type that does not go with the event type
  await shop.enqueue(tx, {
    aggregateType: 'customer',
    aggregateId: '1',
    eventType: 'OrderPlaced',
    payload: { orderId: 1, totalCents: 1 },
  });
  // @ts-expect-error aggregateId is required
  await shop.enqueue(tx, {
    aggregateType: 'customer',
    eventType: 'CustomerRegistered',
    payload: { email: 'a' },
  });
  await shop.enqueue(tx, {
    aggregateType: 'customer',
    aggregateId: 'c',
    eventType: 'CustomerRegistered',
    payload: { email: 'a' },
    // @ts-expect-error header values are strings
    headers: { attempt: 1 },
  });
  await shop.enqueueMany(tx, [
    // @ts-expect-error each element of enqueueMany is checked too
    { aggregateType: 'order', aggregateId: '1', eventType: 'OrderPlaced', payload: { email: 'a' } },
  ]);

  // The generic functions take the union as a type argument, with the same checks.
  await enqueue<ShopEvent>(tx, {
    aggregateType: 'customer',
    aggregateId: 'c',
    eventType: 'CustomerRegistered',
    payload: { email: 'a' },
  });
  await enqueue<ShopEvent>(tx, {
    aggregateType: 'customer',
    aggregateId: 'c',
    // @ts-expect-error the type argument is not inferred from the event: it is checked against ShopEvent
    eventType: 'Other',
    payload: { email: 'a' },
  });
  await enqueueMany<ShopEvent>(tx, [
    // @ts-expect-error a payload missing a field
    { aggregateType: 'order', aggregateId: '1', eventType: 'OrderPlaced', payload: { orderId: 1 } },
  ]);

  // Untyped: any strings, any payload.
  await enqueue(tx, {
    aggregateType: 'anything',
    aggregateId: 'x',
    eventType: 'Whatever',
    payload: [1, 'two'],
  });
  await enqueueMany(tx, [
    { aggregateType: 'a', aggregateId: 'b', eventType: 'c', payload: null, id: 'uuid' },
  ]);
  // @ts-expect-error even untyped, eventType is a string
  await enqueue(tx, { aggregateType: 'a', aggregateId: 'b', eventType: 1, payload: {} });

  // The input type names one member of the union.
  const cancelled: OutboxEventInput<ShopEvent> = {
    aggregateType: 'order',
    aggregateId: '1',
    eventType: 'OrderCancelled',
    payload: { orderId: 1, reason: 'r' },
  };
  void cancelled;
}

// What the executor accepts: drizzle databases and transactions, pg clients and pools.
type DrizzleTx = NodePgTransaction<Record<string, never>, ExtractTablesWithRelations<Record<string, never>>>;
function executorChecks(
  db: NodePgDatabase,
  tx: DrizzleTx,
  client: pg.PoolClient,
  pool: pg.Pool,
): OutboxExecutor[] {
  // @ts-expect-error not a database handle
  const wrong: OutboxExecutor = { execute: () => Promise.resolve() };
  return [db, tx, client, pool, wrong];
}

describe('enqueue types', () => {
  test('the typed functions are the runtime ones', () => {
    assert.equal(typeof typeChecks, 'function');
    assert.equal(typeof executorChecks, 'function');
    assert.equal(typeof shop.enqueue, 'function');
    assert.equal(typeof shop.enqueueMany, 'function');
  });
});
