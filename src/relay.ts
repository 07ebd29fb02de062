// The relay as a running service: createRelay() builds the routes, metrics and sinks (connecting to
// the database meanwhile), acquires the database (checked by the preflight), the probe server and the
// slot monitor in order, starts the Relay (relay-core.ts), and releases them in reverse when it stops.
import { PgCompletionStore } from './completion.js';
import { requireBroker } from './config.js';
import type { Config } from './config.js';
import { openDatabases } from './databases.js';
import { lockSessionName } from './leader.js';
import { Resources } from './lifecycle.js';
import { monitorLoopHealth } from './observability/event-loop.js';
import { startProbeServer } from './observability/http.js';
import type { ProbeServer } from './observability/http.js';
import { createLogger, lastProblem } from './observability/logger.js';
import type { Logger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import type { PrometheusMetrics } from './observability/metrics.js';
import { startSlotMonitor } from './observability/slot-monitor.js';
import { createSinks, routesOf } from './publisher.js';
import { Relay } from './relay-core.js';
import { Router } from './routing/router.js';
import { checkPositionRecord } from './wal/confirmed-position.js';
import { checkFailover, preflight, readSlot } from './wal/slot.js';

export interface RunningRelay {
  readonly relay: Relay;
  readonly metrics: PrometheusMetrics;
  readonly probes: ProbeServer;
  /** Settles once the relay stopped and released everything; rejects on a fatal error. */
  readonly promise: Promise<void>;
  /** The same as `promise` (its former name). */
  readonly done: Promise<void>;
  /** Starts a graceful stop; resolves once the relay stopped. Safe to call more than once. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Builds and starts a relay: the routes, metrics and sinks, then the database (connecting since the
 * sinks began; checked by the preflight), the probe server and the slot monitor. A failure on the way
 * releases what was acquired, in reverse.
 */
export async function createRelay(
  config: Config,
  logger: Logger = createLogger(config.logLevel),
): Promise<RunningRelay> {
  requireBroker(config);
  const router = new Router(routesOf(config, logger));
  let relay: Relay | undefined;
  // Read at scrape time, once the relay exists.
  const metrics = createMetrics({
    lagSeconds: () => relay?.lagSeconds() ?? 0,
    inFlightEvents: () => relay?.inFlight ?? 0,
    sinks: router.sinks(),
  });
  // The database connects while the brokers' drivers load, with the leadership session and the first
  // replication connection opened ahead (db/opened-ahead.ts): each new connection costs a round of
  // PostgreSQL's start-up.
  const opening = openDatabases(config, {
    max: 4,
    applicationName: 'outbox-relay',
    onError: (error) => logger.warn({ err: error }, 'database connection lost'),
    onWarning: (message) => logger.warn({ slot: config.slot }, message),
    ahead: { session: lockSessionName(config.slot), replication: true },
  });
  opening.catch(() => undefined);
  const resources = new Resources();
  let opened = false;
  try {
    const sinks = await createSinks(router, config, logger, metrics, (error) => void relay?.fail(error));
    const databases = await opening;
    opened = true;
    resources.defer(() => databases.end());
    const { source: db, primary } = databases;
    if (databases.onStandby)
      logger.info(
        { slot: config.slot },
        'DATABASE_URL is a hot standby: decoding there, writing to OUTBOX_PRIMARY_URL',
      );
    // A database that is not set up for the relay is a configuration problem: fail before starting.
    // A slot of another database or plugin is a configuration problem too (slot names are cluster-wide).
    await preflight(db, config.table, config.publication, primary);
    for (const warning of await checkFailover(db, config.slotFailover))
      logger.warn({ slot: config.slot }, `OUTBOX_SLOT_FAILOVER: ${warning}`);
    await readSlot(db, config.slot);
    await checkPositionRecord(db, config.slot);
    const started = new Relay({
      config,
      logger,
      metrics,
      databases,
      sinks,
      router,
      completion: new PgCompletionStore(primary, config.table, config.completion),
    });
    relay = started;
    const loopHealth = monitorLoopHealth();
    resources.defer(() => loopHealth.stop());
    const probes = await startProbeServer(
      config.metricsHost,
      config.metricsPort,
      metrics.registry,
      { notReadyReason: () => started.notReadyReason(), isStandby: () => started.isStandby },
      loopHealth,
    );
    resources.defer(() => probes.close());
    const slotMonitor = startSlotMonitor({
      db,
      primary,
      slot: config.slot,
      metrics,
      isLeader: () => started.isLeader,
      lastProblem: () => lastProblem(logger),
    });
    resources.defer(() => slotMonitor.stop());
    logger.info(
      { metrics: `http://${config.metricsHost}:${probes.port}/metrics`, slot: config.slot },
      'starting',
    );
    const promise = started.start().finally(() => resources.release());
    const stop = async (): Promise<void> => {
      await started.stop();
      await promise.catch(() => undefined);
    };
    return { relay: started, metrics, probes, promise, done: promise, stop, [Symbol.asyncDispose]: stop };
  } catch (error) {
    // A database still connecting is closed once connected, not waited for: pg has no connect
    // timeout, and the error (a sink that could not be created) must not wait for one.
    if (!opened) void opening.then((databases) => databases.end()).catch(() => undefined);
    await resources.release().catch(() => undefined);
    throw error;
  }
}

/** The former name of createRelay. */
export const startRelay = createRelay;
