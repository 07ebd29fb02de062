// One replication session: the changes of one connection to the slot in, one confirm point out.
// No I/O besides the WalSource it is given.
//
// State:
// - `watermark` tracks the transactions received and which are finished (watermark.ts);
// - `transaction` is the one being received, between its begin and its commit;
// - `backlog` holds the changes the socket had already read when the window filled (at most one
//   read, 64 KiB) or the relay began to stop: they wait undispatched, so no more than the window is
//   ever in flight, and are dispatched once the window is back at half.
// - `skip` (optional) passes over transactions already completed before a PostgreSQL crash rewound
//   the slot (wal/resume.ts): their events are neither dispatched nor counted as in flight, and the
//   watermark moves past them as they commit. It ends at the first transaction at or past the
//   recorded position, at a keepalive past it, or with the session.
// The rule: a transaction's LSN is confirmed only once every one of its events is complete, and never
// past a transaction still arriving. This class is the only caller of `confirm`.
import type { OutboxEvent, WalChange } from '../wal/event.js';
import type { Lsn } from '../wal/lsn.js';
import type { WalSource } from '../wal/source.js';
import type { TransactionOwner } from './dispatcher.js';
import { Watermark } from './watermark.js';
import type { TransactionHandle } from './watermark.js';
import type { InFlightWindow } from './window.js';

export interface SessionOptions {
  readonly source: WalSource;
  /** The slot's confirmed position: where this session starts. */
  readonly startLsn: Lsn;
  readonly window: InFlightWindow;
  /** Puts an event in flight; the session's complete() follows once its row is completed. */
  readonly dispatch: (event: OutboxEvent, transaction: TransactionHandle, owner: TransactionOwner) => void;
  /** Aborted when the relay stops: changes are held back and the stream is never resumed. */
  readonly stopping: AbortSignal;
  /** A keepalive found nothing in flight and nothing held back (the relay logs "caught up"). */
  readonly onIdle?: (lsn: Lsn) => void;
  /** The session confirmed `lsn` to the slot. */
  readonly onConfirm?: (lsn: Lsn) => void;
  /** Transactions whose commit LSN is below this are complete already: skipped (wal/resume.ts). */
  readonly skipBelow?: Lsn | undefined;
  /** Once per session when `skipBelow` is set: how much was skipped. */
  readonly onSkipped?: (skipped: SkippedChanges) => void;
}

export interface SkippedChanges {
  readonly events: number;
  readonly transactions: number;
}

export class Session implements TransactionOwner {
  private readonly watermark: Watermark;
  private transaction: TransactionHandle | undefined;
  private readonly backlog: WalChange[] = [];
  private moved = false;
  private closed = false;
  private completed = 0;
  /** Still skipping (wal/resume.ts), and whether the transaction being received is skipped. */
  private skipping: boolean;
  private skippingTransaction = false;
  private readonly skipped = { events: 0, transactions: 0 };

  constructor(private readonly options: SessionOptions) {
    this.watermark = new Watermark(options.startLsn);
    this.skipping = options.skipBelow !== undefined && options.skipBelow > options.startLsn;
    // A new connection reads from the start, whatever the previous one was doing.
    options.window.resetPause();
  }

  /** The highest LSN confirmed (or safe to confirm). */
  get lsn(): Lsn {
    return this.watermark.lsn;
  }

  /** Events completed in this session (the confirmed-position record waits for new ones). */
  get completedEvents(): number {
    return this.completed;
  }

  /** Commit time of the oldest transaction received and not finished, or undefined when idle. */
  get oldestPendingCommitTimeMs(): number | undefined {
    return this.watermark.oldestPendingCommitTimeMs;
  }

  /** Dispatches a change, or keeps it for later while the window is full or the relay stops. */
  receive(change: WalChange): void {
    if (this.options.window.paused || this.backlog.length > 0 || this.options.stopping.aborted) {
      this.backlog.push(change);
      return;
    }
    this.apply(change);
  }

  /**
   * A primary keepalive. With nothing in flight and no transaction half-received (nor held back),
   * the server's position is safe to confirm, so an idle outbox does not pin WAL.
   */
  keepalive(serverLsn: Lsn, replyRequested: boolean): void {
    // Everything before the server's position was sent: no transaction left to skip.
    if (this.skipping && serverLsn >= this.options.skipBelow! && this.backlog.length === 0) {
      if (!this.skippingTransaction) this.endSkip();
    }
    // The server's position covers the backlog too: it is idle only once the backlog is dispatched.
    const idle = this.backlog.length === 0 && this.watermark.idleAt(serverLsn);
    if (idle || replyRequested) this.confirm();
    if (this.backlog.length === 0 && this.watermark.idle) this.options.onIdle?.(this.watermark.lsn);
  }

  /** One event of `transaction` is complete; the confirm waits for the end of its batch. */
  complete(transaction: TransactionHandle): void {
    this.completed += 1;
    if (this.watermark.complete(transaction)) this.moved = true;
  }

  /** After a completion batch: confirm what it finished, and resume reading once there is room. */
  afterBatch(): void {
    if (this.moved) {
      this.moved = false;
      this.confirm();
    }
    const { window, stopping, source } = this.options;
    if (!stopping.aborted && window.resumeIfHalf()) {
      // The backlog may fill the window again, which pauses anew; read more only once it is empty.
      if (this.replayBacklog() && !window.paused) source.resume();
    }
  }

  /**
   * A status update with the watermark: periodically (it also resets the walsender's timeout while
   * the socket is paused) and once more at the end of a graceful stop.
   */
  reportStatus(): void {
    this.confirm();
  }

  /** Stops reading: the relay is stopping (what was received stays held back). */
  pause(): void {
    this.options.source.pause();
  }

  /** The connection ended: events still in flight finish, but nothing more is confirmed on it. */
  close(): void {
    this.closed = true;
    if (this.skipping) this.endSkip();
  }

  private confirm(): void {
    if (this.closed) return;
    this.options.source.confirm(this.watermark.lsn);
    this.options.onConfirm?.(this.watermark.lsn);
  }

  /** Whether the transaction whose commit record starts at `commitLsn` was completed already. */
  private skips(commitLsn: Lsn): boolean {
    if (!this.skipping) return false;
    if (commitLsn < this.options.skipBelow!) return true;
    this.endSkip();
    return false;
  }

  private endSkip(): void {
    this.skipping = false;
    this.options.onSkipped?.({ ...this.skipped });
    // The slot moves past what was skipped now, not at the next keepalive.
    this.confirm();
  }

  /** Dispatches held-back changes until the window is full again; true when none is left. */
  private replayBacklog(): boolean {
    let next = 0;
    while (next < this.backlog.length && !this.options.window.paused) this.apply(this.backlog[next++]!);
    this.backlog.splice(0, next);
    return this.backlog.length === 0;
  }

  private apply(change: WalChange): void {
    switch (change.kind) {
      case 'begin':
        this.skippingTransaction = this.skips(change.commitLsn);
        this.transaction = this.watermark.begin(change.commitTimeMs, change.commitLsn);
        return;
      case 'event': {
        const transaction = this.transaction;
        if (!transaction) throw new Error('protocol error: insert outside a transaction');
        if (this.skippingTransaction) {
          this.skipped.events += 1;
          return;
        }
        this.watermark.addEvent(transaction);
        this.options.dispatch(change.event, transaction, this);
        if (this.options.window.pauseIfFull()) this.options.source.pause();
        return;
      }
      case 'commit': {
        const transaction = this.transaction;
        this.transaction = undefined;
        if (this.skippingTransaction) {
          // Finished with no event in flight; confirmed with the next confirm, not one by one.
          this.skippingTransaction = false;
          this.skipped.transactions += 1;
          if (transaction) this.watermark.commit(transaction, change.endLsn);
          return;
        }
        if (transaction && this.watermark.commit(transaction, change.endLsn)) this.confirm();
        return;
      }
    }
  }
}
