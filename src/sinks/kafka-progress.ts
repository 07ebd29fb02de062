// Exactly-once to Kafka, the pure part: what a progress record says, which events it covers, and
// where a Kafka transaction ends. No I/O (kafka-transactional-sink.ts does the sending).
//
// Every event streamed from the WAL has a position: the commit LSN of its PostgreSQL transaction and
// its index among that transaction's outbox inserts (stable: the same WAL decodes to the same order).
// A Kafka transaction writes its events and one progress record, the position just past the last of
// them: { commitLsn, events } says "every event of transactions committed before commitLsn, and the
// first `events` events of the transaction committed at commitLsn, are in Kafka". Whatever the slot's
// confirmed position, an event the committed progress covers is never sent again. Positions mean
// something only on the server that produced them: the record names it (kafka-progress-server.ts).
import { formatLsn, parseLsn } from '../wal/lsn.js';
import type { WalPosition } from '../wal/event.js';
import type { Lsn } from '../wal/lsn.js';
import type { ServerIdentity } from '../wal/timeline.js';
import { decodeUnconfirmed, encodeUnconfirmed } from './kafka-unconfirmed.js';
import type { UnconfirmedTransaction } from './kafka-unconfirmed.js';

export interface Progress {
  /** The commit LSN of the last PostgreSQL transaction with events in Kafka. */
  readonly commitLsn: Lsn;
  /** How many of that transaction's events are in Kafka (all of them unless it was split). */
  readonly events: number;
  /** Transactions in Kafka the slot has not confirmed yet, for a sweep (kafka-unconfirmed.ts). */
  readonly unconfirmed?: readonly UnconfirmedTransaction[];
  /** The server (system identifier, timeline) the WAL was streamed from; absent in older records. */
  readonly server?: ServerIdentity;
}

/** True when the events up to `progress` include the one at `position`. */
export function covers(progress: Progress | undefined, position: WalPosition): boolean {
  if (!progress) return false;
  if (position.commitLsn !== progress.commitLsn) return position.commitLsn < progress.commitLsn;
  return position.index < progress.events;
}

/** The progress once the event at `position` is in Kafka too (never moves back). */
export function progressAfter(progress: Progress | undefined, position: WalPosition): Progress {
  if (covers(progress, position)) return progress!;
  const moved = { commitLsn: position.commitLsn, events: position.index + 1 };
  return progress ? { ...progress, ...moved } : moved;
}

/**
 * How many of the queued messages (their positions, in queue order; undefined for swept rows) the
 * next Kafka transaction takes: at most `max`, cut where a PostgreSQL transaction ends when the
 * batch is full and one straddles the cut, so a transaction is split only when it alone exceeds
 * `max`. Never cuts between the messages of one event (an event routed to two topics).
 */
export function transactionSize(positions: readonly (WalPosition | undefined)[], max: number): number {
  if (positions.length <= max) return positions.length;
  const last = positions[max - 1];
  const next = positions[max];
  if (!last || !next || last.commitLsn !== next.commitLsn) return max;
  // The transaction at the cut goes on past it: end the batch before that transaction began.
  let start = max - 1;
  while (start > 0 && positions[start - 1]?.commitLsn === last.commitLsn) start -= 1;
  if (start > 0) return start;
  // One transaction larger than the batch: split it, but not inside one event.
  let end = max;
  while (end > 1 && positions[end - 1]?.index === next.index) end -= 1;
  return end;
}

/** The progress record's value: JSON, the LSN as PostgreSQL prints it. */
export function encodeProgress(progress: Progress, slot: string): string {
  return JSON.stringify({
    slot,
    commitLsn: formatLsn(progress.commitLsn),
    events: progress.events,
    ...(progress.server ? { systemId: progress.server.systemId, timeline: progress.server.timeline } : {}),
    ...(progress.unconfirmed?.length ? { unconfirmed: encodeUnconfirmed(progress.unconfirmed) } : {}),
    at: new Date().toISOString(),
  });
}

/** Reads a progress record's value; undefined for anything that is not one (a tombstone). */
export function decodeProgress(value: string | undefined | null): Progress | undefined {
  if (!value) return undefined;
  const parsed = JSON.parse(value) as Record<string, unknown>;
  if (typeof parsed['commitLsn'] !== 'string' || typeof parsed['events'] !== 'number')
    throw new Error(`not a progress record: ${value}`);
  const progress = { commitLsn: parseLsn(parsed['commitLsn']), events: parsed['events'] };
  // Records from before the server or the list existed have neither.
  const server = decodeServer(parsed, value);
  const unconfirmed = parsed['unconfirmed'];
  return {
    ...progress,
    ...(server ? { server } : {}),
    ...(unconfirmed === undefined ? {} : { unconfirmed: decodeUnconfirmed(unconfirmed) }),
  };
}

function decodeServer(parsed: Record<string, unknown>, value: string): ServerIdentity | undefined {
  const { systemId, timeline } = parsed;
  if (systemId === undefined && timeline === undefined) return undefined;
  if (typeof systemId !== 'string' || typeof timeline !== 'number' || !Number.isInteger(timeline))
    throw new Error(`not a progress record (its server): ${value}`);
  return { systemId, timeline };
}
