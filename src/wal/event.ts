import type { Lsn } from './lsn.js';

/** One committed outbox row, as decoded from the WAL. */
export interface OutboxEvent {
  readonly id: string;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly eventType: string;
  /** The payload exactly as PostgreSQL printed the jsonb value: the message body, never re-serialised. */
  readonly payload: string;
  /**
   * The same payload as UTF-8 bytes, on events decoded from the WAL (their `payload` text is then
   * decoded only when a format reads it): formats that send the payload unchanged send these bytes.
   */
  readonly payloadBytes?: Buffer | undefined;
  readonly headers: Readonly<Record<string, string>>;
  /** ISO 8601. */
  readonly createdAt: string;
  /**
   * created_at and headers exactly as PostgreSQL printed them (microseconds, the jsonb text), for a
   * format that repeats the columns themselves (debezium); absent on events not read from a row.
   */
  readonly columns?: { readonly createdAt: string; readonly headers: string } | undefined;
  /**
   * The id of the transaction that wrote the row, from the WAL; absent for rows a sweep read (those
   * are visible by construction). Completion waits for it to be visible (completion.ts).
   */
  readonly xid?: number;
  /** The row's outbox.seq (absent when the row did not carry it). */
  readonly seq?: number | undefined;
  /**
   * The id of the transaction that wrote the row, for rows a sweep read (their xmin): exactly-once
   * to Kafka skips the rows its progress covers (kafka-unconfirmed.ts). Completion ignores it.
   */
  readonly sweptXmin?: number | undefined;
}

/** The payload as a message body: its bytes where the event has them, else its text. */
export function payloadBody(event: OutboxEvent): string | Buffer {
  return event.payloadBytes ?? event.payload;
}

/** An upper bound of the payload's UTF-8 bytes (a UTF-16 unit is at most three). */
export function payloadBytesBound(event: OutboxEvent): number {
  return event.payloadBytes ? event.payloadBytes.length : event.payload.length * 3;
}

/** The payload's size as the in-flight window counts it: its bytes, or its UTF-16 units. */
export function payloadSize(event: OutboxEvent): number {
  return event.payloadBytes ? event.payloadBytes.length : event.payload.length;
}

/**
 * Where an event sits in the WAL: its transaction's commit LSN and its index among that
 * transaction's outbox inserts. The same WAL always decodes to the same positions.
 */
export interface WalPosition {
  readonly commitLsn: Lsn;
  readonly index: number;
}

/** What the WAL hands the relay, in commit order: whole transactions, framed by begin and commit. */
export type WalChange =
  | { readonly kind: 'begin'; readonly commitLsn: Lsn; readonly commitTimeMs: number }
  | { readonly kind: 'event'; readonly event: OutboxEvent }
  | { readonly kind: 'commit'; readonly endLsn: Lsn; readonly commitTimeMs: number };
