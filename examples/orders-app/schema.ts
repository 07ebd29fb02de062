// The example application's own table and its events. In your application the events union is the
// one place that says which events exist and what their payloads look like.
import { integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';

export const orders = pgTable('orders', {
  id: serial('id').primaryKey(),
  customer: text('customer').notNull(),
  totalCents: integer('total_cents').notNull(),
  status: text('status', { enum: ['placed', 'cancelled'] })
    .notNull()
    .default('placed'),
  placedAt: timestamp('placed_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Created by the app at start; a real application would ship it as a migration of its own. */
export const CREATE_ORDERS = `
  create table if not exists orders (
    id serial primary key,
    customer text not null,
    total_cents integer not null,
    status text not null default 'placed',
    placed_at timestamptz not null default now()
  )`;

/** Every event the orders service publishes, discriminated by eventType. */
export type ShopEvent =
  | {
      aggregateType: 'order';
      eventType: 'OrderPlaced';
      payload: { orderId: number; customer: string; totalCents: number };
    }
  | {
      aggregateType: 'order';
      eventType: 'OrderCancelled';
      payload: { orderId: number; reason: string };
    };
