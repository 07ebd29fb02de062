// The relay: WAL -> router -> sinks -> completion -> acknowledgement. Wiring only:
// - leader.ts waits for the slot's advisory lock, and leads while holding it;
// - replication.ts streams session after session; pipeline/session.ts turns WAL changes into one
//   confirm point (the only caller of `confirm`), after sweep.ts made sure the slot exists;
// - pipeline/dispatcher.ts carries each event through the in-flight window (pipeline/window.ts), its
//   destinations (pipeline/delivery.ts) and the completion batches, back to its session.
// relay.ts builds one and runs it as a service (createRelay).
import type { CompletionStore } from './completion.js';
import type { Config } from './config.js';
import type { Databases } from './databases.js';
import { leadUntilStopped } from './leader.js';
import { CatchUpTracker } from './observability/catch-up.js';
import type { Logger } from './observability/logger.js';
import type { RelayMetrics } from './observability/metrics.js';
import { Delivery } from './pipeline/delivery.js';
import { Dispatcher } from './pipeline/dispatcher.js';
import { InFlightWindow } from './pipeline/window.js';
import { streamWhileLeading } from './replication.js';
import type { ReplicationState } from './replication.js';
import type { Router } from './routing/router.js';
import type { Sink, SinkName } from './sinks/sink.js';
import { sinkEvents } from './sinks/sink-events.js';
import { ensureSlot } from './sweep.js';
import { positionRecord } from './wal/confirmed-position.js';
import { startHeartbeat } from './wal/heartbeat.js';
import { RecreationBudget } from './wal/invalidation.js';
import { identifyServer, readTimelineHistory } from './wal/slot.js';
import type { ServerIdentity } from './wal/timeline.js';

export interface RelayDependencies {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: RelayMetrics;
  /** DATABASE_URL (the slot) and the primary (the writes): the same pool unless on a standby. */
  readonly databases: Databases;
  readonly sinks: ReadonlyMap<SinkName, Sink>;
  readonly router: Router;
  readonly completion: CompletionStore;
}

export class Relay {
  private readonly stopController = new AbortController();
  private readonly window: InFlightWindow;
  private readonly dispatcher: Dispatcher;
  private readonly catchUp = new CatchUpTracker();
  private readonly replication: ReplicationState = {
    session: undefined,
    streaming: false,
    lastError: undefined,
  };
  private leading = false;
  /** Kept across leadership terms and sessions: a slot invalidated again and again stops the relay. */
  private readonly recreations: RecreationBudget;
  /** The cluster and timeline last streamed from: a former primary on an older timeline is refused. */
  private readonly server: { known: ServerIdentity | undefined } = { known: undefined };
  private waitingForSlot = false;
  private running: Promise<void> | undefined;
  /** Why the relay must stop at once (a sink that cannot go on); run() rejects with it. */
  private fatal: Error | undefined;
  /** Set by stop(): every wait for in-flight events ends by then. */
  private stopDeadline = Number.POSITIVE_INFINITY;

  constructor(private readonly deps: RelayDependencies) {
    const { config, logger, metrics, router, sinks, completion } = deps;
    this.recreations = new RecreationBudget(config.slotMaxRecreationsPerHour);
    this.window = new InFlightWindow(config.maxInFlightEvents, config.maxInFlightBytes);
    const delivery = new Delivery({
      route: (event) => router.route(event),
      sinks,
      maxAttempts: config.maxAttempts,
      metrics,
      logger,
    });
    this.dispatcher = new Dispatcher({
      window: this.window,
      delivery,
      completion,
      batchSize: config.completionBatchSize,
      metrics,
      logger,
      catchUp: this.catchUp,
      afterBatch: () => this.replication.session?.afterBatch(),
    });
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
      this.deps.logger.info({ inFlight: this.window.events }, 'shutting down');
      this.stopDeadline = Math.min(this.stopDeadline, Date.now() + this.deps.config.shutdownTimeoutMs);
      this.stopController.abort();
      this.replication.session?.pause();
      // Waits without a deadline (reconnecting, the sweep) must now observe this one.
      this.window.notify();
    }
    await this.running?.catch(() => undefined);
  }

  /**
   * A sink cannot go on (a fenced Kafka producer: another instance leads): stop without waiting for
   * in-flight events, which the next leader publishes, and make the relay's promise reject.
   */
  fail(error: Error): Promise<void> {
    this.fatal ??= error;
    this.stopDeadline = Date.now();
    return this.stop();
  }

  /** Age in seconds of the oldest received event not yet confirmed; 0 when caught up. */
  lagSeconds(): number {
    const oldest = this.replication.session?.oldestPendingCommitTimeMs;
    return oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000);
  }

  /** Events dispatched to the sinks and not yet completed (never more than OUTBOX_MAX_IN_FLIGHT). */
  get inFlight(): number {
    return this.window.events;
  }

  notReadyReason(): string | undefined {
    if (!this.leading) return 'standby: another instance holds the slot';
    if (!this.replication.streaming) return this.replication.lastError ?? 'not streaming';
    for (const sink of this.deps.sinks.values()) if (!sink.ready) return `${sink.name} is not connected`;
    return undefined;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Waiting for the slot that another instance holds. */
  get isStandby(): boolean {
    return this.waitingForSlot;
  }

  private async run(): Promise<void> {
    const { config, logger, metrics, databases, sinks } = this.deps;
    const { source: db, primary } = databases;
    const signal = this.stopController.signal;
    const drain = (): Promise<void> => this.dispatcher.drain(() => this.stopDeadline);
    // Written on the primary, the heartbeat reaches a standby's WAL too, so a slot there moves as well.
    const stopHeartbeat = startHeartbeat(
      primary,
      config.slot,
      config.heartbeatIntervalMs,
      () => this.replication.streaming,
      (error) => logger.debug({ err: error }, 'heartbeat failed'),
    );
    const { window, dispatcher, catchUp } = this;
    const { onSlotCreated, onSweepStarting, onConfirm, onServer } = sinkEvents(sinks.values(), (timeline) =>
      readTimelineHistory(db, timeline),
    );
    const { recreations, server } = this;
    const state = this.replication;
    const shared = { config, logger, signal, window, dispatcher, drain, state };
    const { logStandbySnapshot } = databases;
    const sweep = {
      ...shared,
      metrics,
      recreations,
      db,
      primary,
      logStandbySnapshot,
      onSlotCreated,
      onSweepStarting,
    };
    const keepColumnText = this.deps.router.readsColumnText();
    const identify = { identifyServer: () => identifyServer(db) };
    const record = positionRecord(db, config.slot, logger);
    const sessions = { ...shared, ...identify, ...record, catchUp, keepColumnText, server, onServer };
    try {
      await leadUntilStopped({
        config,
        db,
        logger,
        metrics,
        sinks: sinks.values(),
        signal,
        onStandby: (waiting) => (this.waitingForSlot = waiting),
        onLeader: (leading) => (this.leading = leading),
        lead: (lost) =>
          streamWhileLeading({ ...sessions, onConfirm, ensureSlot: () => ensureSlot(sweep) }, lost),
      });
      // Usually already drained by the session; this covers a stop during a reconnect.
      await drain();
    } finally {
      stopHeartbeat();
      record.recorder.close();
      await Promise.all([...sinks.values()].map((sink) => sink.close().catch(() => undefined)));
      logger.info('stopped');
    }
    if (this.fatal) throw this.fatal;
  }
}
