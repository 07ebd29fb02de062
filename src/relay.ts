// The relay: WAL -> router -> sinks -> completion -> acknowledgement.
//
// State, per replication session (one connection to the slot):
// - `watermark` tracks the transactions received and which are finished (pipeline/watermark.ts);
// - each event is in flight from its insert message until its row is completed; the in-flight
//   window (events and bytes) pauses the socket when full and resumes it at half. The changes the
//   socket already read when it paused (at most one read, 64 KiB) wait undispatched in `backlog`,
//   so no more than the window is ever in flight;
// - completions are flushed in batches; after each batch the watermark may move, and only then is
//   its LSN confirmed. Nothing else ever confirms an LSN.
// When the session's connection is lost, in-flight events still finish; the next session starts at
// the slot's confirmed position and receives again whatever was not confirmed (at-least-once).
import type { Pool } from 'pg';
import type { CompletedEvent, CompletionStore, DeadLetter } from './completion.js';
import type { Config } from './config.js';
import { CatchUpTracker } from './observability/catch-up.js';
import type { Logger } from './observability/logger.js';
import type { RelayMetrics } from './observability/metrics.js';
import { backoffDelay } from './pipeline/backoff.js';
import { SerialBatcher } from './pipeline/batcher.js';
import { sleep } from './pipeline/sleep.js';
import { Watermark } from './pipeline/watermark.js';
import type { TransactionHandle } from './pipeline/watermark.js';
import type { Router } from './routing/router.js';
import { describeDestination } from './sinks/registry.js';
import type { Sink, SinkMessage, SinkName } from './sinks/sink.js';
import { UndeliverableError } from './sinks/sink.js';
import { OutboxDecoder, rowToEvent } from './wal/decode.js';
import type { OutboxEvent, WalChange } from './wal/event.js';
import { acquireLeadership } from './wal/leadership.js';
import type { Leadership } from './wal/leadership.js';
import { formatLsn } from './wal/lsn.js';
import type { Lsn } from './wal/lsn.js';
import { createSlotWithSnapshot, dropSlot, markSlotSwept, readSlot, slotSwept } from './wal/slot.js';
import { emitHeartbeat } from './wal/heartbeat.js';
import { ReplicationStream } from './wal/stream.js';

export interface RelayDependencies {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: RelayMetrics;
  readonly pool: Pool;
  readonly sinks: ReadonlyMap<SinkName, Sink>;
  readonly router: Router;
  readonly completion: CompletionStore;
}

interface Session {
  readonly stream: ReplicationStream;
  readonly watermark: Watermark;
  readonly decoder: OutboxDecoder;
  transaction: TransactionHandle | undefined;
  streaming: boolean;
  /** Changes received while the window was full or the relay stopping; dispatched on resume. */
  readonly backlog: WalChange[];
}

interface InFlight {
  readonly event: OutboxEvent;
  readonly transaction: TransactionHandle;
  readonly watermark: Watermark;
  readonly bytes: number;
  deadLetter: DeadLetter | undefined;
  deadLetterReason: string | undefined;
}

/** An event a destination refused on every attempt: it goes to the dead-letter table. */
class FailedDelivery extends Error {
  constructor(
    readonly error: UndeliverableError,
    readonly attempts: number,
  ) {
    super(error.message, { cause: error });
  }
}

const EVENT_OVERHEAD_BYTES = 256;
const LEADER_POLL_MS = 1_000;
// A paused stream still answers the walsender this often, so wal_sender_timeout (60 s by default)
// does not end the connection during a long broker outage.
const STATUS_INTERVAL_MS = 10_000;
// After a leader dies its walsender may outlive its advisory lock for a moment; START_REPLICATION
// then fails with this message, and the new leader simply tries again.
const SLOT_BUSY = /replication slot .* is active for PID/;

export class Relay {
  private readonly stopController = new AbortController();
  private readonly completions: SerialBatcher<InFlight>;
  private readonly catchUp = new CatchUpTracker();
  private session: Session | undefined;
  private leadership: Leadership | undefined;
  private waitingForSlot = false;
  private inFlightEvents = 0;
  private inFlightBytes = 0;
  private paused = false;
  private drainWaiters: (() => void)[] = [];
  private lastError: string | undefined;
  private running: Promise<void> | undefined;
  /** Set by stop(): every wait for in-flight events ends by then. */
  private stopDeadline = Number.POSITIVE_INFINITY;

  constructor(private readonly deps: RelayDependencies) {
    this.completions = new SerialBatcher(deps.config.completionBatchSize, (batch) =>
      this.completeBatch(batch),
    );
  }

  /** Starts the relay; the promise settles when it stops (rejects on a fatal error). */
  start(): Promise<void> {
    this.running ??= this.run();
    return this.running;
  }

  /**
   * Stops reading the WAL, waits up to the shutdown timeout for in-flight events, completes and
   * confirms what was delivered, then releases the slot. Safe to call more than once.
   */
  async stop(): Promise<void> {
    if (!this.stopController.signal.aborted) {
      this.deps.logger.info({ inFlight: this.inFlightEvents }, 'shutting down');
      this.stopDeadline = Date.now() + this.deps.config.shutdownTimeoutMs;
      this.stopController.abort();
      this.session?.stream.pause();
      // Waits without a deadline (reconnecting, the sweep) must now observe this one.
      for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
    await this.running?.catch(() => undefined);
  }

  /** Age in seconds of the oldest received event not yet confirmed; 0 when caught up. */
  lagSeconds(): number {
    const oldest = this.session?.watermark.oldestPendingCommitTimeMs;
    return oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000);
  }

  /** Events dispatched to the sinks and not yet completed (never more than OUTBOX_MAX_IN_FLIGHT). */
  get inFlight(): number {
    return this.inFlightEvents;
  }

  notReadyReason(): string | undefined {
    if (!this.leadership) return 'standby: another instance holds the slot';
    if (!this.session?.streaming) return this.lastError ?? 'not streaming';
    for (const sink of this.deps.sinks.values()) if (!sink.ready) return `${sink.name} is not connected`;
    return undefined;
  }

  get isLeader(): boolean {
    return this.leadership !== undefined;
  }

  /** Waiting for the slot that another instance holds. */
  get isStandby(): boolean {
    return this.waitingForSlot;
  }

  private async run(): Promise<void> {
    const { config, logger, metrics } = this.deps;
    const signal = this.stopController.signal;
    const heartbeatTimer =
      config.heartbeatIntervalMs > 0
        ? setInterval(() => void this.heartbeat(), config.heartbeatIntervalMs)
        : undefined;
    try {
      while (!signal.aborted) {
        this.leadership = await acquireLeadership(
          config.databaseUrl,
          config.slot,
          LEADER_POLL_MS,
          signal,
          (first) => {
            this.waitingForSlot = true;
            if (first)
              logger.info({ slot: config.slot }, 'standby: another instance holds the slot, waiting');
          },
          () => (this.waitingForSlot = false),
        );
        this.waitingForSlot = false;
        if (!this.leadership) break;
        metrics.setLeader(true);
        logger.info({ slot: config.slot }, 'slot acquired: this instance is the leader');
        // Connecting retries until the broker answers; a stop must not wait for that (close() in
        // the finally below ends the retrying).
        const connected = Promise.all([...this.deps.sinks.values()].map((sink) => sink.connect()));
        connected.catch(() => undefined);
        await Promise.race([connected, aborted(signal)]);
        try {
          if (signal.aborted) break;
          await this.leadSessions(this.leadership.lost);
        } finally {
          metrics.setLeader(false);
          await this.leadership.release();
          this.leadership = undefined;
        }
      }
      // Usually already drained by the session; this covers a stop during a reconnect.
      await this.drain(Number.POSITIVE_INFINITY);
    } finally {
      clearInterval(heartbeatTimer);
      await Promise.all([...this.deps.sinks.values()].map((sink) => sink.close().catch(() => undefined)));
      logger.info('stopped');
    }
  }

  /** Streams session after session while this instance leads; returns when it stops or loses the lock. */
  private async leadSessions(lost: AbortSignal): Promise<void> {
    const { config, logger } = this.deps;
    const signal = this.stopController.signal;
    for (let attempt = 1; !signal.aborted && !lost.aborted; attempt++) {
      try {
        const confirmed = await this.ensureSlot();
        const session: Session = {
          stream: new ReplicationStream({
            connectionString: config.databaseUrl,
            slot: config.slot,
            publication: config.publication,
          }),
          watermark: new Watermark(confirmed),
          decoder: new OutboxDecoder(config.table),
          transaction: undefined,
          streaming: false,
          backlog: [],
        };
        this.session = session;
        this.paused = false;
        this.catchUp.restart();
        const stopSession = (): void => void session.stream.stop();
        // Graceful stop: read no more, finish what is in flight, confirm it, then end the session.
        const finishSession = (): void =>
          void this.drain(Number.POSITIVE_INFINITY).then(() => {
            session.stream.confirm(session.watermark.lsn);
            return session.stream.stop();
          });
        signal.addEventListener('abort', finishSession, { once: true });
        lost.addEventListener('abort', stopSession, { once: true });
        // Status updates also reset the walsender's timeout while the socket is paused.
        const statusTimer = setInterval(
          () => session.stream.confirm(session.watermark.lsn),
          STATUS_INTERVAL_MS,
        );
        try {
          logger.info({ slot: config.slot, from: formatLsn(confirmed) }, 'streaming');
          await session.stream.run({
            onStart: () => {
              session.streaming = true;
              this.lastError = undefined;
              attempt = 0;
            },
            onMessage: (message) => {
              const change = session.decoder.decode(message);
              if (change) this.receive(session, change);
            },
            onKeepalive: (serverLsn, replyRequested) => this.onKeepalive(session, serverLsn, replyRequested),
          });
        } finally {
          clearInterval(statusTimer);
          session.streaming = false;
          signal.removeEventListener('abort', finishSession);
          lost.removeEventListener('abort', stopSession);
          await session.stream.stop();
        }
      } catch (error) {
        if (signal.aborted) break;
        this.lastError = describeError(error);
        if (SLOT_BUSY.test(this.lastError))
          logger.info({ attempt }, 'the previous walsender still holds the slot, retrying');
        else logger.warn({ err: error, attempt }, 'replication stream lost, reconnecting');
        // The next session resends everything unconfirmed: let this one's events finish first.
        await this.drain(Number.POSITIVE_INFINITY);
        await sleep(backoffDelay(attempt, 200, 10_000), signal);
      }
    }
  }

  /** Returns the slot's confirmed LSN, creating the slot (and sweeping the table) when it is missing. */
  private async ensureSlot(): Promise<Lsn> {
    const { config, logger, pool } = this.deps;
    let slot = await readSlot(pool, config.slot);
    if (slot?.lost) {
      // Its WAL is gone, and so are the events in it: only the table still has them (see slot.ts).
      logger.warn({ slot: config.slot }, 'replication slot lost its WAL: dropping and recreating it');
      await dropSlot(pool, config.slot);
      slot = undefined;
    }
    if (slot && !(await slotSwept(pool, config.slot))) {
      logger.warn(
        { slot: config.slot },
        'slot was created but its table sweep never finished: recreating it',
      );
      await dropSlot(pool, config.slot);
      slot = undefined;
    }
    if (slot) return slot.confirmedLsn;
    logger.warn(
      { slot: config.slot },
      'replication slot missing: creating it and publishing the rows it cannot see',
    );
    const created = await createSlotWithSnapshot(
      pool,
      config.databaseUrl,
      config.slot,
      config.table,
      config.completion === 'mark',
    );
    const sweep = new Watermark(0n);
    const transaction = sweep.begin(Date.now());
    let swept = 0;
    for await (const rows of created.rows) {
      for (const row of rows) {
        this.dispatch(rowToEvent(row), transaction, sweep, Date.now());
        swept += 1;
        await this.roomInWindow();
        // Unfinished: the slot stays unmarked, and the next start sweeps again.
        if (this.stopController.signal.aborted) throw new Error('stopped during the table sweep');
      }
    }
    await this.drain(Number.POSITIVE_INFINITY);
    await markSlotSwept(pool, config.slot);
    logger.info({ slot: config.slot, events: swept, at: formatLsn(created.consistentLsn) }, 'slot created');
    return created.consistentLsn;
  }

  /** Dispatches a change, or keeps it for later while the window is full or the relay stops. */
  private receive(session: Session, change: WalChange): void {
    if (this.paused || session.backlog.length > 0 || this.stopController.signal.aborted) {
      session.backlog.push(change);
      return;
    }
    this.onChange(session, change);
  }

  /** Dispatches held-back changes until the window is full again; true when none is left. */
  private replayBacklog(session: Session): boolean {
    let next = 0;
    while (next < session.backlog.length && !this.paused) this.onChange(session, session.backlog[next++]!);
    session.backlog.splice(0, next);
    return session.backlog.length === 0;
  }

  private onChange(session: Session, change: WalChange): void {
    switch (change.kind) {
      case 'begin':
        session.transaction = session.watermark.begin(change.commitTimeMs);
        return;
      case 'event': {
        const transaction = session.transaction;
        if (!transaction) throw new Error('protocol error: insert outside a transaction');
        this.dispatch(change.event, transaction, session.watermark, transaction.commitTimeMs);
        if (!this.paused && this.windowFull()) {
          this.paused = true;
          session.stream.pause();
        }
        return;
      }
      case 'commit': {
        const transaction = session.transaction;
        session.transaction = undefined;
        if (transaction && session.watermark.commit(transaction, change.endLsn)) {
          session.stream.confirm(session.watermark.lsn);
        }
        return;
      }
    }
  }

  private onKeepalive(session: Session, serverLsn: Lsn, replyRequested: boolean): void {
    // The server's position covers the backlog too: it is idle only once the backlog is dispatched.
    const idle = session.backlog.length === 0 && session.watermark.idleAt(serverLsn);
    if (idle || replyRequested) session.stream.confirm(session.watermark.lsn);
    const caughtUp =
      session.backlog.length === 0 && session.watermark.idle ? this.catchUp.reachedServer() : undefined;
    if (caughtUp) this.deps.logger.info({ lsn: formatLsn(session.watermark.lsn), ...caughtUp }, 'caught up');
  }

  /** Sends one event to every destination its route names; it completes when all have settled. */
  private dispatch(
    event: OutboxEvent,
    transaction: TransactionHandle,
    watermark: Watermark,
    commitTimeMs: number,
  ): void {
    watermark.addEvent(transaction);
    const entry: InFlight = {
      event,
      transaction,
      watermark,
      bytes: event.payload.length + EVENT_OVERHEAD_BYTES,
      deadLetter: undefined,
      deadLetterReason: undefined,
    };
    this.inFlightEvents += 1;
    this.inFlightBytes += entry.bytes;
    const route = this.deps.router.route(event);
    if ('deadLetter' in route) {
      // Nothing was sent: no publish attempt is recorded.
      entry.deadLetter = { error: route.deadLetter, destination: undefined, attempts: 0 };
      entry.deadLetterReason = 'unroutable';
      this.completions.push(entry);
      return;
    }
    let unsettled = route.destinations.length;
    const settle = (): void => {
      unsettled -= 1;
      if (unsettled === 0) this.completions.push(entry);
    };
    for (const destination of route.destinations) {
      const sink = this.deps.sinks.get(destination.sink);
      if (!sink) throw new Error(`no ${destination.sink} sink configured for ${destination.label}`);
      const maxRefusals = route.onUndeliverable === 'retry' ? Infinity : this.deps.config.maxAttempts;
      const message: SinkMessage = { event, destination };
      const delivered = (): void => {
        this.deps.metrics.published(destination.sink, destination.label);
        this.deps.metrics.endToEnd((Date.now() - commitTimeMs) / 1000);
        settle();
      };
      const failed = ({ error, attempts }: FailedDelivery): void => {
        entry.deadLetter ??= {
          error: describeError(error),
          destination: describeDestination(destination),
          attempts,
        };
        entry.deadLetterReason ??= error.reason;
        settle();
      };
      // The first attempt costs one promise per event; the retry loop starts only after a failure.
      sink
        .publish(message)
        .then(delivered, (error: unknown) =>
          this.redeliver(sink, message, error, maxRefusals).then(delivered, failed),
        );
    }
  }

  /**
   * Publishes again an event whose first attempt failed with `firstError`. A refusal for good
   * (UndeliverableError) is tried up to maxRefusals times (OUTBOX_MAX_ATTEMPTS, or without limit for
   * onUndeliverable: retry), then rejected with the attempts made, to be dead-lettered; meanwhile
   * the events behind it keep flowing. Any other failure is retried without limit: it is never a
   * reason to drop an event (sinks retry broker outages themselves; this is the net under a sink
   * that gives up).
   */
  private async redeliver(
    sink: Sink,
    message: SinkMessage,
    firstError: unknown,
    maxRefusals: number,
  ): Promise<void> {
    const { logger } = this.deps;
    let refusals = 0;
    let error = firstError;
    for (let attempt = 1; ; attempt++) {
      if (error instanceof UndeliverableError) refusals += 1;
      if (error instanceof UndeliverableError && refusals >= maxRefusals) {
        throw new FailedDelivery(error, refusals);
      }
      logger.warn(
        { err: error, id: message.event.id, destination: message.destination.label, attempt },
        error instanceof UndeliverableError ? 'event refused, trying again' : 'publish failed, retrying',
      );
      await sleep(backoffDelay(attempt, 200, 5_000));
      try {
        await sink.publish(message);
        return;
      } catch (next) {
        error = next;
      }
    }
  }

  private async completeBatch(batch: InFlight[]): Promise<void> {
    const { completion, logger, metrics } = this.deps;
    const completed: CompletedEvent[] = batch.map(({ event, deadLetter }) => ({ event, deadLetter }));
    for (let attempt = 1; ; attempt++) {
      try {
        await completion.complete(completed);
        break;
      } catch (error) {
        logger.warn({ err: error, attempt, events: batch.length }, 'completing rows failed, retrying');
        await sleep(backoffDelay(attempt, 100, 5_000));
      }
    }
    let moved = false;
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
      this.catchUp.completed(Date.now() - entry.transaction.commitTimeMs);
      this.inFlightEvents -= 1;
      this.inFlightBytes -= entry.bytes;
      if (entry.watermark.complete(entry.transaction) && entry.watermark === this.session?.watermark)
        moved = true;
    }
    if (moved) this.session?.stream.confirm(this.session.watermark.lsn);
    if (this.paused && !this.windowFull(0.5) && !this.stopController.signal.aborted) {
      this.paused = false;
      const session = this.session;
      // The backlog may fill the window again, which pauses anew; read more only once it is empty.
      if (session && this.replayBacklog(session) && !this.paused) session.stream.resume();
    }
    // Waiters re-check their own condition (empty, or room in the window).
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private windowFull(fraction = 1): boolean {
    const { maxInFlightEvents, maxInFlightBytes } = this.deps.config;
    return (
      this.inFlightEvents >= maxInFlightEvents * fraction || this.inFlightBytes >= maxInFlightBytes * fraction
    );
  }

  /** Resolves when the window has room (used by the sweep, which reads at its own pace). */
  private async roomInWindow(): Promise<void> {
    while (this.windowFull() && !this.stopController.signal.aborted)
      await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  /** Waits until nothing is in flight, or the timeout (or, once stopping, the shutdown deadline) passes. */
  private async drain(timeoutMs: number): Promise<void> {
    const timeoutAt = Date.now() + timeoutMs;
    const deadline = (): number => Math.min(timeoutAt, this.stopDeadline);
    while (this.inFlightEvents > 0 && Date.now() < deadline()) {
      const wait = new Promise<void>((resolve) => this.drainWaiters.push(resolve));
      await (Number.isFinite(deadline()) ? Promise.race([wait, sleep(deadline() - Date.now())]) : wait);
    }
    // A completion batch under way finishes (it is short): its rows are gone, so confirm after it.
    await this.completions.idle();
  }

  /**
   * Writes a tiny logical message to the WAL while this instance streams. The walsender decodes it
   * (pgoutput drops it: the relay does not ask for messages) and, having caught up, sends a keepalive
   * with its position, which onKeepalive confirms when nothing is in flight. So the slot advances even
   * when the database is otherwise idle or only other databases of the cluster write.
   */
  private async heartbeat(): Promise<void> {
    if (!this.session?.streaming) return;
    try {
      await emitHeartbeat(this.deps.pool, this.deps.config.slot);
    } catch (error) {
      // The database is unreachable or read-only: the stream reports the former; nothing to do here.
      this.deps.logger.debug({ err: error }, 'heartbeat failed');
    }
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
