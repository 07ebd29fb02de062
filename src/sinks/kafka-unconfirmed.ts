// Exactly-once to Kafka after a lost slot, the pure part: which outbox rows are in Kafka already.
// No I/O.
//
// A lost slot is recovered by sweeping the table (sweep.ts). Its rows are the events not completed,
// and some of them may be in Kafka already: transactions committed to Kafka whose rows were not
// deleted yet when the relay stopped. Rows carry no WAL position, but they carry the id of the
// transaction that wrote them (xmin) and their seq. So the progress record also lists the PostgreSQL
// transactions in Kafka that the slot has not confirmed yet (confirmed means completed): per
// transaction its xid, its commit LSN and the highest seq in Kafka (a split transaction is in Kafka
// up to there). The list is small: transactions leave it once the slot confirms them; it is capped,
// and a transaction dropped from it is only published again by a sweep (a duplicate, never a loss).
import { formatLsn, parseLsn } from '../wal/lsn.js';
import type { Lsn } from '../wal/lsn.js';
import type { Progress } from './kafka-progress.js';

export interface UnconfirmedTransaction {
  /** The PostgreSQL transaction id (32 bits, as the WAL and xmin carry it). */
  readonly xid: number;
  readonly commitLsn: Lsn;
  /** The highest outbox seq of this transaction in Kafka. */
  readonly seq: number;
}

/** At most this many transactions are listed (the oldest go first). */
export const MAX_UNCONFIRMED = 1_000;

/** The list once `published` (a Kafka transaction's events, in WAL order) is in Kafka too. */
export function withPublished(
  list: readonly UnconfirmedTransaction[],
  published: readonly UnconfirmedTransaction[],
  max = MAX_UNCONFIRMED,
): readonly UnconfirmedTransaction[] {
  if (published.length === 0) return list;
  const byXid = new Map(list.map((entry) => [entry.xid, entry]));
  for (const entry of published) {
    const known = byXid.get(entry.xid);
    // Deleting first moves the transaction to the end (the newest), whatever it was before.
    byXid.delete(entry.xid);
    byXid.set(entry.xid, known && known.seq > entry.seq ? known : entry);
  }
  const merged = [...byXid.values()];
  return merged.length > max ? merged.slice(merged.length - max) : merged;
}

/** Drops the transactions the slot confirmed (their rows are completed: no sweep sees them). */
export function withoutConfirmed(
  list: readonly UnconfirmedTransaction[],
  confirmedLsn: Lsn,
): readonly UnconfirmedTransaction[] {
  if (list.every((entry) => entry.commitLsn >= confirmedLsn)) return list;
  return list.filter((entry) => entry.commitLsn >= confirmedLsn);
}

/** True when the row `seq` written by transaction `xid` is in Kafka. */
export function coversRow(
  list: readonly UnconfirmedTransaction[] | undefined,
  xid: number,
  seq: number,
): boolean {
  const entry = list?.find((candidate) => candidate.xid === xid);
  return entry !== undefined && seq <= entry.seq;
}

/** True when `event`, a row a sweep read, is in Kafka (its transaction is listed, up to its seq). */
export function coversSweptRow(
  list: readonly UnconfirmedTransaction[] | undefined,
  event: { readonly sweptXmin?: number | undefined; readonly seq?: number | undefined },
): boolean {
  return (
    event.sweptXmin !== undefined && event.seq !== undefined && coversRow(list, event.sweptXmin, event.seq)
  );
}

/** Which rows of one slot sweep Kafka has already, and how many were skipped. */
export class SweepFilter {
  private trusted = true;
  private skippedRows = 0;

  /**
   * A sweep begins. A progress record past the new slot's consistent point is about WAL this server
   * does not have (a PostgreSQL failover that lost transactions): their xids may be reused here, so
   * no row is skipped (at-least-once). Returns the warning to log then.
   */
  start(progress: Progress | undefined, consistentLsn: Lsn): string | undefined {
    this.skippedRows = 0;
    this.trusted = !progress || progress.commitLsn <= consistentLsn;
    if (this.trusted) return undefined;
    return `the progress record (${formatLsn(progress!.commitLsn)}) is past the new slot (${formatLsn(consistentLsn)}): the sweep skips no row`;
  }

  /** True (and counted) when the swept row `event` is in Kafka. */
  skips(progress: Progress | undefined, event: Parameters<typeof coversSweptRow>[1]): boolean {
    if (!this.trusted || !coversSweptRow(progress?.unconfirmed, event)) return false;
    this.skippedRows += 1;
    return true;
  }

  /** The sweep ended: how many rows it skipped. */
  finish(): number {
    const skipped = this.skippedRows;
    this.skippedRows = 0;
    this.trusted = true;
    return skipped;
  }
}

/** The list as the progress record holds it: [xid, seq, commit LSN] per transaction. */
export function encodeUnconfirmed(list: readonly UnconfirmedTransaction[]): [number, number, string][] {
  return list.map(({ xid, seq, commitLsn }) => [xid, seq, formatLsn(commitLsn)]);
}

/** Reads the list back; a record from before the list existed has none. */
export function decodeUnconfirmed(value: unknown): readonly UnconfirmedTransaction[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Error('not a list of unconfirmed transactions');
  return value.map((entry: unknown) => {
    if (
      !Array.isArray(entry) ||
      typeof entry[0] !== 'number' ||
      typeof entry[1] !== 'number' ||
      typeof entry[2] !== 'string'
    )
      throw new Error(`not an unconfirmed transaction: ${JSON.stringify(entry)}`);
    return { xid: entry[0], seq: entry[1], commitLsn: parseLsn(entry[2]) };
  });
}
