// Builds a relay from a Config: the pool, the sinks the routes need, metrics and probes.
import pg from 'pg';
import { PgCompletionStore } from './completion.js';
import { ConfigError, requireBroker } from './config.js';
import type { Config } from './config.js';
import { monitorLoopHealth } from './observability/event-loop.js';
import { startProbeServer } from './observability/http.js';
import type { ProbeServer } from './observability/http.js';
import { lastProblem } from './observability/logger.js';
import type { Logger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import type { PrometheusMetrics } from './observability/metrics.js';
import { startSlotMonitor } from './observability/slot-monitor.js';
import { Relay } from './relay.js';
import { defaultRoutes, Router } from './routing/router.js';
import type { RoutesSpec } from './routing/router.js';
import { loadRoutesFile, RoutesFileError } from './routing/routes-file.js';
import { DEFAULT_FORMAT } from './formats/registry.js';
import { configuredSinks, sinkNamed } from './sinks/registry.js';
import { preflight, readSlot } from './wal/slot.js';
import type { Sink, SinkName } from './sinks/sink.js';

export interface RunningRelay {
  readonly relay: Relay;
  readonly metrics: PrometheusMetrics;
  readonly probes: ProbeServer;
  /** Settles when the relay stopped; rejects on a fatal error. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export async function startRelay(config: Config, logger: Logger): Promise<RunningRelay> {
  requireBroker(config);
  const router = new Router(routesOf(config));
  // Read at scrape time, once the relay exists.
  const metrics = createMetrics({
    lagSeconds: () => relay.lagSeconds(),
    inFlightEvents: () => relay.inFlight,
    sinks: router.sinks(),
  });
  const sinks = new Map<SinkName, Sink>();
  for (const name of router.sinks()) sinks.set(name, await createSink(name, config, logger, metrics));

  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    max: 4,
    application_name: 'outbox-relay',
  });
  pool.on('error', (error) => logger.warn({ err: error }, 'database connection lost'));
  // A database that is not set up for the relay is a configuration problem: fail before starting.
  // A slot of another database or plugin is a configuration problem too (slot names are cluster-wide).
  const checks = preflight(pool, config.table, config.publication).then(() => readSlot(pool, config.slot));
  await checks.catch(async (error: unknown) => {
    await pool.end();
    throw error;
  });
  const relay = new Relay({
    config,
    logger,
    metrics,
    pool,
    sinks,
    router,
    completion: new PgCompletionStore(pool, config.table, config.completion),
  });
  const loopHealth = monitorLoopHealth();
  const probes = await startProbeServer(
    config.metricsHost,
    config.metricsPort,
    metrics.registry,
    { notReadyReason: () => relay.notReadyReason(), isStandby: () => relay.isStandby },
    loopHealth,
  );
  const slotMonitor = startSlotMonitor({
    pool,
    slot: config.slot,
    metrics,
    isLeader: () => relay.isLeader,
    lastProblem: () => lastProblem(logger),
  });
  logger.info(
    { metrics: `http://${config.metricsHost}:${probes.port}/metrics`, slot: config.slot },
    'starting',
  );
  const done = relay.start().finally(async () => {
    await slotMonitor.stop();
    loopHealth.stop();
    await probes.close();
    await pool.end();
  });
  return { relay, metrics, probes, done, stop: () => relay.stop() };
}

/** OUTBOX_ROUTES, or the contract's default routes; a mistake in the file is a configuration error. */
export function routesOf(config: Config): RoutesSpec {
  const brokers = configuredSinks(config.sinks);
  if (config.routesFile === undefined) return defaultRoutes(brokers);
  try {
    return loadRoutesFile(config.routesFile, brokers);
  } catch (error) {
    if (error instanceof RoutesFileError) throw new ConfigError('OUTBOX_ROUTES', error.message);
    throw error;
  }
}

/** The sink the relay uses for `name`; the bench's polling relay publishes through the same one. */
export function createSink(
  name: SinkName,
  config: Config,
  logger: Logger,
  metrics: PrometheusMetrics,
): Promise<Sink> {
  const descriptor = sinkNamed(name);
  const settings = config.sinks[name];
  if (settings === undefined)
    throw new ConfigError(descriptor.variable, `required: a route sends to ${descriptor.title}`);
  return descriptor.create(settings, { logger, metrics, format: DEFAULT_FORMAT });
}
