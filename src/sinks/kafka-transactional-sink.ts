// Kafka sink, exactly-once (KAFKA_EXACTLY_ONCE=true): one transactional kafkajs producer.
//
// Messages queue in publish order (WAL order) and leave in Kafka transactions, one at a time. Each
// transaction holds whole PostgreSQL transactions where it can (kafka-progress.ts decides the cut)
// and one progress record, keyed by the transactional id, saying how far the WAL is now in Kafka.
// Read_committed consumers see a transaction's events and its progress record together or not at all.
//
// Connecting initialises the producer, which fences any older producer of the same transactional
// id (a leader that lost the slot) and ends its open transaction, then reads the progress record
// back. A message the committed progress covers is confirmed without being sent: after a crash, a
// restart or a takeover, the WAL the slot streams again is skipped as far as Kafka already has it.
// Any failure inside a transaction aborts it and starts over the same way (a new producer, the
// progress read again), so a commit whose answer was lost is never sent twice. A fenced producer
// cannot recover: the relay is told to stop (onFatal), and another instance leads.
//
// A batch the broker refuses for a message's sake is sent again one message per transaction to find
// that message, which is rejected (and dead-lettered by the relay). Rows of a slot sweep carry no
// position: they are sent in transactions too, without moving the progress, unless the progress
// lists their transaction as in Kafka and not yet confirmed (kafka-unconfirmed.ts): then they are
// skipped like covered WAL. What the progress covers depends on the server streamed now: each
// replication session tells the sink which one it is (kafka-progress-server.ts).
import { ConfigError } from '../config-fields.js';
import { backoffDelay } from '../pipeline/backoff.js';
import { sleep } from '../pipeline/sleep.js';
import { formatLsn } from '../wal/lsn.js';
import type { Lsn } from '../wal/lsn.js';
import type { ServerIdentity, TimelineHistory } from '../wal/timeline.js';
import { isFenced, messageRefusal } from './kafka-errors.js';
import { kafkaSizeRefusal } from './kafka-message.js';
import { covers } from './kafka-progress.js';
import { needsHistory } from './kafka-progress-server.js';
import { RefusalSearch } from './kafka-refusal-search.js';
import { SweepFilter } from './kafka-unconfirmed.js';
import { TransactionalProducer } from './kafka-transactions.js';
import type { TransactionalProducerOptions } from './kafka-transactions.js';
import { UndeliverableError } from './sink.js';
import type { Publication, Sink, SinkMessage } from './sink.js';

export interface KafkaTransactionalSinkOptions extends TransactionalProducerOptions {
  readonly maxMessageBytes: number;
  /** Most messages per Kafka transaction. */
  readonly maxBatchMessages: number;
  readonly onPublishError?: (error: unknown) => void;
  readonly onReadyChange?: (ready: boolean) => void;
  readonly onFatal?: ((error: Error) => void) | undefined;
}

export class KafkaTransactionalSink implements Sink {
  readonly name = 'kafka';
  /** The producer, and the progress committed last (read back at connect, moved by each commit). */
  readonly transactions: TransactionalProducer;
  private readonly queue: Publication[] = [];
  private readonly refusals = new RefusalSearch();
  /** Rows of a slot sweep that Kafka has already. */
  private readonly sweep = new SweepFilter();
  /** Serialises transactions and reconnections. */
  private exclusive: Promise<unknown> = Promise.resolve();
  private pumping = false;
  /** A transaction or a reconnection is under way: its outcome says whether Kafka is reachable. */
  private busy = false;
  private stopIdleProbe: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private connected = false;
  private closing = false;
  private readonly closed = new AbortController();

  constructor(private readonly options: KafkaTransactionalSinkOptions) {
    this.transactions = new TransactionalProducer(options);
  }

  get ready(): boolean {
    return this.connected;
  }

  /** Initialises the producer (fencing older ones) and reads the progress back; retries until done. */
  async connect(): Promise<void> {
    await this.serially(() => this.reconnect());
    if (!this.pumping) {
      this.pumping = true;
      void this.pump();
      // While nothing is sent, a metadata request every few seconds tells /readyz whether Kafka is there.
      this.stopIdleProbe = this.transactions.probeWhileIdle(
        () => !this.busy && this.queue.length === 0 && !this.closing,
        (reachable) => this.setConnected(reachable),
      );
    }
  }

  publish(publication: Publication): void {
    const tooLarge = kafkaSizeRefusal(publication, this.options.maxMessageBytes);
    if (tooLarge) return publication.failed(tooLarge);
    if (this.alreadyCommitted(publication)) {
      this.options.metrics.skipped(1);
      return publication.confirmed();
    }
    this.queue.push(publication);
    this.wakeUp();
  }

  async close(): Promise<void> {
    this.closing = true;
    this.closed.abort();
    this.stopIdleProbe?.();
    this.wakeUp();
    await this.transactions.close();
  }

  /**
   * A new slot: the progress record is replaced by one at its consistent point, which covers the
   * WAL before it (all in the table, swept) and nothing after. Without this, a record from before a
   * PostgreSQL failover, whose LSNs the new primary reuses, would skip new events.
   */
  async slotCreated(consistentLsn: Lsn): Promise<void> {
    const skipped = this.sweep.finish();
    if (skipped > 0)
      this.options.logger.info(
        `kafka: the table sweep skipped ${skipped} rows the committed progress covers`,
      );
    await this.serially(async () => {
      while (!this.closing) {
        try {
          await this.transactions.replaceProgress({ commitLsn: consistentLsn, events: 0 });
          return;
        } catch (error) {
          await this.failed(error, []);
        }
      }
    });
  }

  /**
   * A replication session streams from `identity`: the progress covers only what holds there. Reads
   * the timeline's history when the progress was written on an earlier timeline. Not serialised with
   * transactions (a stop must not wait behind a reconnection): a commit under way is judged again.
   */
  async serverIdentified(
    identity: ServerIdentity,
    timelineHistory: (timeline: number) => Promise<TimelineHistory | undefined>,
  ): Promise<void> {
    const recorded = this.transactions.committed?.server;
    const history = needsHistory(recorded, identity) ? await timelineHistory(identity.timeline) : undefined;
    this.transactions.serverIdentified(identity, history);
  }

  sweepStarting(consistentLsn: Lsn): void {
    const warning = this.sweep.start(this.transactions.committed, consistentLsn);
    if (warning) this.options.logger.warn(`kafka: ${warning}`);
  }

  /** The slot confirmed `lsn` (its transactions are completed). */
  walConfirmed(lsn: Lsn): void {
    this.transactions.walConfirmed(lsn);
  }

  private alreadyCommitted({ position, destination, event }: SinkMessage): boolean {
    const committed = this.transactions.committed;
    if (position === undefined) {
      return this.sweep.skips(committed, event);
    }
    return covers(committed, position) && !this.refusals.isRefused({ position, destination });
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    // After the current tick: the rest of the socket read joins the same transaction.
    if (wake) setImmediate(wake);
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.exclusive.then(async () => {
      this.busy = true;
      try {
        return await work();
      } finally {
        this.busy = false;
      }
    });
    this.exclusive = result.catch(() => undefined);
    return result;
  }

  private async pump(): Promise<void> {
    while (!this.closing) {
      if (this.queue.length === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      await this.serially(() => this.sendNext());
    }
  }

  /** One transaction from the head of the queue; on failure, what to do about it. */
  private async sendNext(): Promise<void> {
    if (this.closing || this.queue.length === 0) return;
    const max = this.options.maxBatchMessages;
    const head = this.queue.slice(0, max + 1).map((publication) => publication.position);
    const count = this.refusals.nextSize(head, max);
    const batch = this.queue.slice(0, count);
    try {
      await this.transactions.commit(batch);
      this.queue.splice(0, count);
      this.refusals.sent(batch);
      this.setConnected(true);
      for (const publication of batch) publication.confirmed();
    } catch (error) {
      await this.failed(error, batch);
    }
  }

  private async failed(error: unknown, batch: readonly Publication[]): Promise<void> {
    const { logger, onPublishError } = this.options;
    onPublishError?.(error);
    if (isFenced(error)) {
      // Another instance initialised our transactional id: it leads now. Nothing here may be sent.
      logger.error({ err: error }, 'kafka: producer fenced: another instance took over the slot');
      return this.stopFor(
        new Error('kafka: producer fenced by another instance of this slot', { cause: error }),
      );
    }
    const refusal = messageRefusal(error);
    if (refusal && batch.length === 1) {
      const publication = batch[0]!;
      this.refusals.refusedAlone(publication);
      this.queue.splice(0, 1);
      publication.failed(new UndeliverableError(refusal.message, refusal.reason, { cause: error }));
    } else if (refusal) {
      this.refusals.search(batch.length);
    } else {
      this.setConnected(false);
      logger.warn({ err: error, messages: batch.length }, 'kafka: transaction failed, retrying');
    }
    // Whatever state the failure left the producer in, a new one starts from a known point.
    await this.reconnect();
  }

  /** A new producer (ending any transaction of an older one), then the progress read back. */
  private async reconnect(): Promise<void> {
    const { logger, onPublishError, transactionalId } = this.options;
    for (let attempt = 1; !this.closing; attempt++) {
      try {
        const progress = await this.transactions.start();
        this.dropCommitted();
        this.setConnected(true);
        logger.info(
          { transactionalId, progress: progress && `${formatLsn(progress.commitLsn)}#${progress.events}` },
          'kafka: transactional producer ready',
        );
        return;
      } catch (error) {
        if (error instanceof ConfigError) return this.stopFor(error);
        if (this.closing) return;
        onPublishError?.(error);
        this.setConnected(false);
        logger.warn({ err: error, attempt }, 'kafka: transactional producer not ready, retrying');
        await sleep(backoffDelay(attempt, 250, 10_000), this.closed.signal);
      }
    }
  }

  /** Nothing more can be sent: the relay stops (the messages queued stay unsettled). */
  private stopFor(error: Error): void {
    this.closing = true;
    this.setConnected(false);
    this.options.onFatal?.(error);
  }

  /** Resolves the queued messages the committed progress covers (a commit whose answer was lost). */
  private dropCommitted(): void {
    const left = this.queue.filter((publication) => !this.alreadyCommitted(publication));
    const dropped = this.queue.length - left.length;
    if (dropped === 0) return;
    for (const publication of this.queue) if (this.alreadyCommitted(publication)) publication.confirmed();
    this.queue.splice(0, this.queue.length, ...left);
    this.refusals.reset();
    this.options.metrics.skipped(dropped);
  }

  private setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.options.onReadyChange?.(connected);
  }
}
