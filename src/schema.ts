// The outbox tables. `drizzle-kit generate` turns this file into the SQL under migrations/,
// so the application's schema and the relay's migrations cannot disagree.
import { sql } from 'drizzle-orm';
import {
  bigint,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';

/** PostgreSQL's WAL position type, kept as its text form (e.g. 0/16B3748). */
const pgLsn = customType<{ data: string }>({ dataType: () => 'pg_lsn' });

export const outbox = pgTable(
  'outbox',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    aggregateType: text('aggregate_type').notNull(),
    aggregateId: text('aggregate_id').notNull(),
    eventType: text('event_type').notNull(),
    payload: jsonb('payload').notNull(),
    headers: jsonb('headers').$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    processedAt: timestamp('processed_at', { withTimezone: true, mode: 'date' }),
    // Insertion order. The WAL carries commit order; rows read back from the table (the sweep of a
    // new slot) need this to keep an aggregate's events in order: created_at is the transaction's
    // start, shared by all its rows, and ids are random.
    seq: bigint('seq', { mode: 'number' }).generatedAlwaysAsIdentity(),
  },
  // Pending rows are what the slot-loss sweep and `status` read in `mark` mode.
  (table) => [
    index('outbox_pending_idx')
      .on(table.seq)
      .where(sql`${table.processedAt} is null`),
  ],
);

export const outboxDeadLetter = pgTable('outbox_dead_letter', {
  id: uuid('id').primaryKey(),
  aggregateType: text('aggregate_type').notNull(),
  aggregateId: text('aggregate_id').notNull(),
  eventType: text('event_type').notNull(),
  payload: jsonb('payload').notNull(),
  headers: jsonb('headers').$type<Record<string, string>>().notNull().default({}),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
  error: text('error').notNull(),
  attempts: integer('attempts').notNull().default(1),
  deadLetteredAt: timestamp('dead_lettered_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  destination: text('destination'),
  // The event's outbox.seq when it was parked: `outbox-relay dead-letters retry` puts events back in
  // their original order, which neither dead_lettered_at (a refused event is retried while its
  // successors flow) nor created_at (shared by a transaction's events) keeps. Null on rows parked
  // before this column existed.
  outboxSeq: bigint('outbox_seq', { mode: 'number' }),
});

/**
 * One row per replication slot the relay created: whether its creation sweep finished (wal/slot.ts),
 * the leader's last warning or error, which `outbox-relay status` reads from another process
 * (observability/slot-monitor.ts), and the position the relay last confirmed with every event before
 * it completed, on which cluster and timeline (wal/confirmed-position.ts): PostgreSQL may rewind the
 * slot to its last checkpoint after a crash, this record does not.
 */
export const outboxRelaySlot = pgTable('outbox_relay_slot', {
  slotName: text('slot_name').primaryKey(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  sweptAt: timestamp('swept_at', { withTimezone: true, mode: 'date' }),
  lastError: text('last_error'),
  lastErrorAt: timestamp('last_error_at', { withTimezone: true, mode: 'date' }),
  // IDENTIFY_SYSTEM's systemid: an unsigned 64-bit number, beyond bigint's range.
  systemId: text('system_id'),
  timeline: bigint('timeline', { mode: 'number' }),
  confirmedLsn: pgLsn('confirmed_lsn'),
  confirmedAt: timestamp('confirmed_at', { withTimezone: true, mode: 'date' }),
});
