// Leadership: one relay streams a slot at a time. Instances of the same slot queue on a PostgreSQL
// advisory lock held by a dedicated session: the lock is released the moment the leader's connection
// ends, which is also when its walsender stops, so a standby can take over within a poll interval.
import type { Config } from './config.js';
import { run } from './db/database.js';
import type { Database, Session } from './db/database.js';
import * as lockSql from './db/lock-sql.js';
import type { Logger } from './observability/logger.js';
import type { RelayMetrics } from './observability/metrics.js';
import { sleep } from './pipeline/sleep.js';
import type { Sink } from './sinks/sink.js';

const LEADER_POLL_MS = 1_000;

/** The leadership session's name in pg_stat_activity (relay.ts opens it ahead, at start). */
export function lockSessionName(slot: string): string {
  return `outbox-relay:${slot}:lock`;
}

export interface Leadership {
  /** Aborted when the lock's connection is lost: the instance is no longer the leader. */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export interface LeaderLoopOptions {
  readonly config: Pick<Config, 'slot'>;
  /** Opens the session that holds the lock. */
  readonly db: Pick<Database, 'connectSession'>;
  readonly logger: Logger;
  readonly metrics: Pick<RelayMetrics, 'setLeader'>;
  /** Connected each time this instance becomes the leader. */
  readonly sinks: Iterable<Sink>;
  /** The relay's stop. */
  readonly signal: AbortSignal;
  /** True while another instance holds the lock and this one waits for it. */
  readonly onStandby: (waiting: boolean) => void;
  /** True from taking the lock until it is released. */
  readonly onLeader: (leading: boolean) => void;
  /** The leader's work; returns when the relay stops or `lost` is aborted. */
  readonly lead: (lost: AbortSignal) => Promise<void>;
}

/** Waits for the lock, leads while holding it, and waits again after losing it, until the stop. */
export async function leadUntilStopped(options: LeaderLoopOptions): Promise<void> {
  const { config, logger, metrics, signal } = options;
  while (!signal.aborted) {
    const leadership = await acquireLeadership(
      options.db,
      config.slot,
      LEADER_POLL_MS,
      signal,
      (first) => {
        options.onStandby(true);
        if (first) logger.info({ slot: config.slot }, 'standby: another instance holds the slot, waiting');
      },
      () => options.onStandby(false),
    );
    options.onStandby(false);
    if (!leadership) break;
    options.onLeader(true);
    metrics.setLeader(true);
    logger.info({ slot: config.slot }, 'slot acquired: this instance is the leader');
    // Connecting retries until the broker answers; a stop must not wait for that (the relay closes
    // the sinks once this loop returns, which ends the retrying).
    const connected = Promise.all([...options.sinks].map((sink) => sink.connect()));
    connected.catch(() => undefined);
    await Promise.race([connected, aborted(signal)]);
    try {
      if (signal.aborted) break;
      await options.lead(leadership.lost);
    } finally {
      metrics.setLeader(false);
      await leadership.release();
      options.onLeader(false);
    }
  }
}

export async function acquireLeadership(
  db: Pick<Database, 'connectSession'>,
  slot: string,
  pollMs: number,
  signal: AbortSignal,
  /** Called at each poll that finds another instance holding the lock; `first` once per call. */
  onWaiting: (first: boolean) => void,
  onUnreachable: () => void,
): Promise<Leadership | undefined> {
  let announced = false;
  const waiting = (): void => {
    onWaiting(!announced);
    announced = true;
  };
  while (!signal.aborted) {
    let session: Session | undefined;
    try {
      session = await db.connectSession(lockSessionName(slot));
      if (await pollLock(session, slot, pollMs, signal, waiting)) return leadershipOf(session);
    } catch {
      // The database is unreachable: try again after a pause.
      onUnreachable();
      await sleep(pollMs, signal);
    }
    await session?.release().catch(() => undefined);
  }
  return undefined;
}

/** Tries the lock every `pollMs`: true once taken, false when stopped or the session was lost. */
async function pollLock(
  session: Session,
  slot: string,
  pollMs: number,
  signal: AbortSignal,
  onWaiting: () => void,
): Promise<boolean> {
  for (;;) {
    const { rows } = await run(session, lockSql.tryLeaderLock(slot));
    if (rows[0]?.locked) return true;
    onWaiting();
    await sleep(pollMs, signal);
    if (signal.aborted || session.lost.aborted) return false;
  }
}

function leadershipOf(session: Session): Leadership {
  return { lost: session.lost, release: () => session.release().catch(() => undefined) };
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
