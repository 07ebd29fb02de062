// The leader's work: stream replication session after session (pipeline/session.ts) until the relay
// stops or leadership is lost, reconnecting with backoff after a lost connection.
//
// When a session's connection is lost, its in-flight events still finish before the next session
// starts at the slot's confirmed position and receives again whatever was not confirmed
// (at-least-once). A graceful stop reads no more, finishes what is in flight, confirms it, then ends
// the session.
import type { Config } from './config.js';
import type { CatchUpTracker } from './observability/catch-up.js';
import type { Logger } from './observability/logger.js';
import { backoffDelay } from './pipeline/backoff.js';
import type { Dispatcher } from './pipeline/dispatcher.js';
import { errorMessage, replicationErrorKind } from './errors.js';
import { Session } from './pipeline/session.js';
import { sleep } from './pipeline/sleep.js';
import type { InFlightWindow } from './pipeline/window.js';
import { OutboxDecoder } from './wal/decode.js';
import { SlotRecreationLimitError } from './wal/invalidation.js';
import type { PositionRecorder } from './wal/confirmed-position.js';
import { planResume } from './wal/resume.js';
import type { ConfirmedPosition } from './wal/resume.js';
import { FormerPrimaryError } from './wal/timeline.js';
import type { ServerIdentity } from './wal/timeline.js';
import { formatLsn } from './wal/lsn.js';
import type { Lsn } from './wal/lsn.js';
import { ReplicationStream } from './wal/stream.js';

// A graceful stop writes the confirmed-position record; a database that does not answer by then
// leaves the last one (true, only older).
const RECORD_FLUSH_TIMEOUT_MS = 2_000;

// A paused stream still answers the walsender this often, so wal_sender_timeout (60 s by default)
// does not end the connection during a long broker outage.
const STATUS_INTERVAL_MS = 10_000;

/** What the relay reports about its replication (readiness, lag, stop); written here only. */
export interface ReplicationState {
  session: Session | undefined;
  streaming: boolean;
  lastError: string | undefined;
}

export interface ReplicationOptions {
  readonly config: Pick<Config, 'databaseUrl' | 'slot' | 'publication' | 'table'>;
  readonly logger: Logger;
  /** The relay's stop. */
  readonly signal: AbortSignal;
  readonly window: InFlightWindow;
  readonly dispatcher: Pick<Dispatcher, 'dispatch'>;
  readonly catchUp: CatchUpTracker;
  readonly state: ReplicationState;
  /** Which cluster and timeline the database URL leads to now (wal/timeline.ts). */
  readonly identifyServer: () => Promise<ServerIdentity>;
  /** The server this relay last streamed from; written here only. */
  readonly server: { known: ServerIdentity | undefined };
  /** A session identified its server, before its sweep or stream (the sinks judge their progress). */
  readonly onServer?: (identity: ServerIdentity) => Promise<void>;
  /** The slot's confirmed LSN, once the slot exists and is swept (sweep.ts). */
  readonly ensureSlot: () => Promise<Lsn>;
  /** Resolves when nothing is in flight (or the stop deadline passed). */
  readonly drain: () => Promise<void>;
  /** Whether events keep their columns' text as PostgreSQL printed it (Router.readsColumnText). */
  readonly keepColumnText: boolean;
  /** The session confirmed `lsn` to the slot. */
  readonly onConfirm?: (lsn: Lsn) => void;
  /** The record of the position last confirmed with every event before it completed (wal/resume.ts). */
  readonly readConfirmedPosition: () => Promise<ConfirmedPosition | undefined>;
  /** Writes that record as sessions confirm. */
  readonly recorder: Pick<PositionRecorder, 'streamingFrom' | 'confirmed' | 'flush' | 'sessionEnded'>;
}

/** Streams session after session; returns when the relay stops or `lost` is aborted. */
export async function streamWhileLeading(options: ReplicationOptions, lost: AbortSignal): Promise<void> {
  const { logger, signal, state } = options;
  for (let attempt = 1; !signal.aborted && !lost.aborted; attempt++) {
    try {
      await streamOnce(options, lost, () => (attempt = 0));
    } catch (error) {
      if (signal.aborted) break;
      state.lastError = errorMessage(error);
      // No reconnect helps: the relay stops with this error (see wal/invalidation.ts).
      if (error instanceof SlotRecreationLimitError) throw error;
      if (error instanceof FormerPrimaryError) logger.error({ attempt }, error.message);
      else if (replicationErrorKind(error) === 'slot_busy')
        logger.info({ attempt }, 'the previous walsender still holds the slot, retrying');
      else logger.warn({ err: error, attempt }, 'replication stream lost, reconnecting');
      // The next session resends everything unconfirmed: let this one's events finish first.
      await options.drain();
      await sleep(backoffDelay(attempt, 200, 10_000), signal);
    }
  }
}

/** One session, from the slot's confirmed position until its connection ends. */
async function streamOnce(
  options: ReplicationOptions,
  lost: AbortSignal,
  onStart: () => void,
): Promise<void> {
  const { config, logger, signal, state, catchUp } = options;
  const identity = await options.identifyServer();
  const plan = planResume(options.server.known, await options.readConfirmedPosition(), identity);
  const { verdict } = plan;
  if (verdict.kind === 'former_primary') throw new FormerPrimaryError(verdict.message);
  if (verdict.message) logger.warn({ slot: config.slot, ...identity }, verdict.message);
  if (plan.note) logger.info({ slot: config.slot, ...identity }, plan.note);
  options.server.known = identity;
  await options.onServer?.(identity);
  const confirmed = await options.ensureSlot();
  // The slot is behind the record after PostgreSQL lost its in-memory position (a crash).
  const skipBelow = plan.skipBelow !== undefined && plan.skipBelow > confirmed ? plan.skipBelow : undefined;
  options.recorder.streamingFrom(identity);
  const stream = new ReplicationStream({
    connectionString: config.databaseUrl,
    slot: config.slot,
    publication: config.publication,
  });
  const session: Session = new Session({
    source: stream,
    startLsn: confirmed,
    window: options.window,
    dispatch: (event, transaction, owner) => options.dispatcher.dispatch(event, transaction, owner),
    stopping: signal,
    onConfirm: (lsn) => {
      options.onConfirm?.(lsn);
      options.recorder.confirmed(lsn, session.completedEvents);
    },
    onIdle: (lsn) => {
      const caughtUp = catchUp.reachedServer();
      if (caughtUp) logger.info({ lsn: formatLsn(lsn), ...caughtUp }, 'caught up');
    },
    skipBelow,
    onSkipped: (skipped) =>
      logger.info(
        { slot: config.slot, ...skipped, from: formatLsn(confirmed), below: formatLsn(skipBelow ?? 0n) },
        'skipped transactions completed before the slot was rewound (PostgreSQL restarted before saving its position)',
      ),
  });
  const decoder = new OutboxDecoder(config.table, options.keepColumnText);
  state.session = session;
  catchUp.restart();
  const stopSession = (): void => void stream.stop();
  // Graceful stop: read no more, finish what is in flight, confirm it, then end the session.
  const finishSession = (): void =>
    void options.drain().then(async () => {
      session.reportStatus();
      await withinMs(RECORD_FLUSH_TIMEOUT_MS, options.recorder.flush());
      return stream.stop();
    });
  signal.addEventListener('abort', finishSession, { once: true });
  lost.addEventListener('abort', stopSession, { once: true });
  // Status updates also reset the walsender's timeout while the socket is paused.
  const statusTimer = setInterval(() => session.reportStatus(), STATUS_INTERVAL_MS);
  try {
    logger.info({ slot: config.slot, from: formatLsn(confirmed) }, 'streaming');
    await stream.run({
      onStart: () => {
        state.streaming = true;
        state.lastError = undefined;
        onStart();
      },
      onMessage: (message) => {
        const change = decoder.decode(message);
        if (change) session.receive(change);
      },
      onKeepalive: (serverLsn, replyRequested) => session.keepalive(serverLsn, replyRequested),
    });
  } finally {
    clearInterval(statusTimer);
    state.streaming = false;
    signal.removeEventListener('abort', finishSession);
    lost.removeEventListener('abort', stopSession);
    await stream.stop();
    session.close();
    options.recorder.sessionEnded();
  }
}

/** Waits for `work`, but no longer than `ms`. */
async function withinMs(ms: number, work: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([work, gaveUp]).finally(() => clearTimeout(timer));
}
