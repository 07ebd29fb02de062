// LSN bookkeeping: which WAL position the relay may confirm to PostgreSQL. No I/O.
//
// Transactions arrive whole and in commit order (pgoutput, proto_version 1), but their events finish
// out of order: different destinations confirm at different speeds. A transaction is finished when
// its commit was received and every one of its events is completed (published and its row deleted or
// marked, or dead-lettered). The watermark is the end LSN of the last transaction such that it and
// every transaction before it are finished: confirming it can never skip an unfinished event.

import type { Lsn } from '../wal/lsn.js';

export interface TransactionHandle {
  /** Events of this transaction not yet completed. */
  pending: number;
  /** Set by the commit message; undefined while the transaction is still arriving. */
  endLsn: Lsn | undefined;
  readonly commitTimeMs: number;
  /** The commit LSN its begin message announced; undefined for the sweep's rows. */
  readonly commitLsn: Lsn | undefined;
  /** Events added so far: the next event's index in the transaction (WalPosition.index). */
  received: number;
}

export class Watermark {
  private readonly open: TransactionHandle[] = [];
  private head = 0;
  private confirmed: Lsn;

  constructor(confirmedLsn: Lsn) {
    this.confirmed = confirmedLsn;
  }

  /** The highest LSN that is safe to report as flushed. */
  get lsn(): Lsn {
    return this.confirmed;
  }

  /** True when no transaction is half-received or has unfinished events. */
  get idle(): boolean {
    return this.head === this.open.length;
  }

  /** Commit time of the oldest transaction not yet finished, or undefined when idle. */
  get oldestPendingCommitTimeMs(): number | undefined {
    return this.open[this.head]?.commitTimeMs;
  }

  begin(commitTimeMs: number, commitLsn?: Lsn): TransactionHandle {
    const transaction: TransactionHandle = {
      pending: 0,
      endLsn: undefined,
      commitTimeMs,
      commitLsn,
      received: 0,
    };
    this.open.push(transaction);
    return transaction;
  }

  addEvent(transaction: TransactionHandle): void {
    transaction.pending += 1;
    transaction.received += 1;
  }

  /** Returns true when the watermark moved. */
  commit(transaction: TransactionHandle, endLsn: Lsn): boolean {
    transaction.endLsn = endLsn;
    return this.advance();
  }

  /** Returns true when the watermark moved. */
  complete(transaction: TransactionHandle, events = 1): boolean {
    transaction.pending -= events;
    if (transaction.pending < 0) throw new Error('watermark: more events completed than were added');
    return this.advance();
  }

  /**
   * A position the server reported with nothing in flight: every change before it has been received
   * and finished, so confirming it lets PostgreSQL recycle WAL that other tables produced.
   */
  idleAt(serverLsn: Lsn): boolean {
    if (!this.idle || serverLsn <= this.confirmed) return false;
    this.confirmed = serverLsn;
    return true;
  }

  private advance(): boolean {
    let moved = false;
    while (this.head < this.open.length) {
      const transaction = this.open[this.head]!;
      if (transaction.endLsn === undefined || transaction.pending > 0) break;
      if (transaction.endLsn > this.confirmed) {
        this.confirmed = transaction.endLsn;
        moved = true;
      }
      this.head += 1;
    }
    // Drop finished transactions in chunks, not on every step (shift() is linear).
    if (this.head > 1024 && this.head * 2 > this.open.length) {
      this.open.splice(0, this.head);
      this.head = 0;
    }
    return moved;
  }
}
