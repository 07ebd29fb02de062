// The way of one event through the relay after the WAL: into the in-flight window, out to its
// destinations (delivery.ts), then completed with others in a batch (its row deleted or marked, or
// parked in the dead-letter table), and only then handed back to its owner, the session (or the
// sweep) whose watermark it holds back. No I/O besides the CompletionStore and Sink interfaces.
import type { CompletedEvent, CompletionStore, DeadLetter } from '../completion.js';
import type { CatchUpTracker } from '../observability/catch-up.js';
import type { Logger } from '../observability/logger.js';
import type { RelayMetrics } from '../observability/metrics.js';
import { payloadSize } from '../wal/event.js';
import type { OutboxEvent } from '../wal/event.js';
import { backoffDelay } from './backoff.js';
import { SerialBatcher } from './batcher.js';
import type { Delivery, DeliveryListener, DeliveryOutcome } from './delivery.js';
import { sleep } from './sleep.js';
import type { TransactionHandle } from './watermark.js';
import { EVENT_OVERHEAD_BYTES } from './window.js';
import type { InFlightWindow } from './window.js';

/** Who waits for an event's completion: the holder of the watermark its transaction is in. */
export interface TransactionOwner {
  /** One event of `transaction` is complete (its row is gone or parked). */
  complete(transaction: TransactionHandle): void;
}

export interface DispatcherOptions {
  readonly window: InFlightWindow;
  readonly delivery: Pick<Delivery, 'deliver'>;
  readonly completion: CompletionStore;
  readonly batchSize: number;
  readonly metrics: Pick<RelayMetrics, 'deadLettered'>;
  readonly logger: Pick<Logger, 'warn'>;
  readonly catchUp: CatchUpTracker;
  /** After every completed batch, once its owners were told (confirm, resume the stream). */
  readonly afterBatch: () => void;
  /** The pause before completion retry `attempt` (tests shorten it). */
  readonly retryDelay?: (attempt: number) => Promise<void>;
}

/** An event in flight: told its delivery outcome, it joins the next completion batch. */
class InFlight implements DeliveryListener {
  deadLetter: DeadLetter | undefined = undefined;
  deadLetterReason: string | undefined = undefined;

  constructor(
    readonly event: OutboxEvent,
    readonly transaction: TransactionHandle,
    readonly owner: TransactionOwner,
    readonly bytes: number,
    private readonly completions: SerialBatcher<InFlight>,
  ) {}

  settled(outcome: DeliveryOutcome): void {
    if (outcome.kind === 'deadLetter') {
      this.deadLetter = outcome.deadLetter;
      this.deadLetterReason = outcome.reason;
    }
    this.completions.push(this);
  }
}

export class Dispatcher {
  private readonly completions: SerialBatcher<InFlight>;
  private readonly retryDelay: (attempt: number) => Promise<void>;

  constructor(private readonly options: DispatcherOptions) {
    this.completions = new SerialBatcher(options.batchSize, (batch) => this.completeBatch(batch));
    this.retryDelay = options.retryDelay ?? ((attempt) => sleep(backoffDelay(attempt, 100, 5_000)));
  }

  /**
   * Puts `event` in flight; `owner.complete(transaction)` follows once its row is completed. The
   * caller counted it in its transaction (Watermark.addEvent) first. `sinceMs` starts its
   * end-to-end latency (the commit time, or the moment the sweep read its row).
   */
  dispatch(
    event: OutboxEvent,
    transaction: TransactionHandle,
    owner: TransactionOwner,
    sinceMs = transaction.commitTimeMs,
  ): void {
    const bytes = payloadSize(event) + EVENT_OVERHEAD_BYTES;
    const entry = new InFlight(event, transaction, owner, bytes, this.completions);
    this.options.window.add(entry.bytes);
    try {
      // Its place in the WAL (the event just counted in its transaction); none for swept rows.
      const { commitLsn } = transaction;
      const position = commitLsn === undefined ? undefined : { commitLsn, index: transaction.received - 1 };
      this.options.delivery.deliver(event, sinceMs, position, entry);
    } catch (error) {
      this.options.window.remove(entry.bytes);
      throw error;
    }
  }

  /** Waits until nothing is in flight or `deadline()` passed, then for the batch under way. */
  async drain(deadline: () => number): Promise<void> {
    await this.options.window.untilEmpty(deadline);
    // A completion batch under way usually finishes at once (then its rows are gone, so confirm after
    // it); one that cannot (the database gone, the table locked) retries forever, so only until the
    // deadline: what it held stays unconfirmed and is delivered again after the restart.
    const at = deadline();
    if (!Number.isFinite(at)) return this.completions.idle();
    const timer = new AbortController();
    await Promise.race([this.completions.idle(), sleep(Math.max(0, at - Date.now()), timer.signal)]);
    timer.abort();
  }

  private async completeBatch(batch: InFlight[]): Promise<void> {
    const { completion, logger, metrics, window, catchUp } = this.options;
    const completed: CompletedEvent[] = batch.map(({ event, deadLetter }) => ({ event, deadLetter }));
    for (let attempt = 1; ; attempt++) {
      try {
        await completion.complete(completed);
        break;
      } catch (error) {
        logger.warn({ err: error, attempt, events: batch.length }, 'completing rows failed, retrying');
        await this.retryDelay(attempt);
      }
    }
    const now = Date.now();
    for (const entry of batch) {
      if (entry.deadLetter) {
        metrics.deadLettered(entry.deadLetterReason ?? 'error');
        logger.warn(
          {
            id: entry.event.id,
            aggregateType: entry.event.aggregateType,
            destination: entry.deadLetter.destination,
            error: entry.deadLetter.error,
          },
          'event dead-lettered',
        );
      }
      catchUp.completed(now - entry.transaction.commitTimeMs);
      window.remove(entry.bytes);
      entry.owner.complete(entry.transaction);
    }
    this.options.afterBatch();
    window.notify();
  }
}
