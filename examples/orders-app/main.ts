// A small drizzle application using the outbox: each business change and its event are written in
// one transaction, so an event exists exactly when its change committed. The relay (`npm run
// example:relay`) publishes the events; the consumers under examples/consumers/ receive them.
//
//   npm run example:app             places three orders and cancels one
//
// In your application import from 'outbox-relay' instead of '../../src/index.js'.
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { defineEvents, migrateDatabase } from '../../src/index.js';
import { DATABASE_URL, say } from '../env.js';
import { CREATE_ORDERS, orders } from './schema.js';
import type { ShopEvent } from './schema.js';

// Typed enqueue: eventType and payload are checked against ShopEvent at compile time.
const shop = defineEvents<ShopEvent>();

async function placeOrder(
  db: ReturnType<typeof drizzle>,
  customer: string,
  totalCents: number,
): Promise<{ orderId: number; eventId: string }> {
  return db.transaction(async (tx) => {
    const [order] = await tx.insert(orders).values({ customer, totalCents }).returning({ id: orders.id });
    const eventId = await shop.enqueue(tx, {
      aggregateType: 'order',
      aggregateId: String(order!.id),
      eventType: 'OrderPlaced',
      payload: { orderId: order!.id, customer, totalCents },
    });
    return { orderId: order!.id, eventId };
  });
}

async function cancelOrder(db: ReturnType<typeof drizzle>, orderId: number, reason: string): Promise<string> {
  return db.transaction(async (tx) => {
    await tx.update(orders).set({ status: 'cancelled' }).where(eq(orders.id, orderId));
    return shop.enqueue(tx, {
      aggregateType: 'order',
      aggregateId: String(orderId),
      eventType: 'OrderCancelled',
      payload: { orderId, reason },
    });
  });
}

/** The example database, created on first use (your application's exists already). */
async function ensureDatabase(): Promise<void> {
  const url = new URL(DATABASE_URL);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    const { rows } = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (rows.length === 0) await admin.query(`create database "${name.replaceAll('"', '""')}"`);
  } finally {
    await admin.end();
  }
}

async function main(): Promise<void> {
  await ensureDatabase();
  // What `outbox-relay migrate` does on deploy: the outbox tables and publication.
  await migrateDatabase(DATABASE_URL);
  const pool = new pg.Pool({ connectionString: DATABASE_URL });
  try {
    await pool.query(CREATE_ORDERS);
    const db = drizzle(pool);
    const placed = [];
    for (const [customer, totalCents] of [
      ['ada', 4200],
      ['grace', 1999],
      ['linus', 350],
    ] as const) {
      const { orderId, eventId } = await placeOrder(db, customer, totalCents);
      placed.push(orderId);
      say(`order ${orderId} placed by ${customer}: event OrderPlaced ${eventId}`);
    }
    const cancelled = placed[2]!;
    const eventId = await cancelOrder(db, cancelled, 'customer changed their mind');
    say(`order ${cancelled} cancelled: event OrderCancelled ${eventId}`);
  } finally {
    await pool.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`orders app failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
