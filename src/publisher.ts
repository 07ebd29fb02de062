// The sinks the routes need, built from a Config, for the relay (relay.ts) and for createPublisher:
// the relay's routes and sinks without the WAL, for an embedder that finds its events another way.
import { ConfigError, requireBroker } from './config.js';
import type { Config } from './config.js';
import type { SchemaRegistryMode } from './formats/format.js';
import { createRegistryClient } from './formats/registry-client.js';
import { Formats } from './formats/registry.js';
import type { SchemaRegistrySettings } from './formats/schema-registry.js';
import { createLogger } from './observability/logger.js';
import type { Logger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import type { PrometheusMetrics } from './observability/metrics.js';
import { defaultRoutes, Router } from './routing/router.js';
import type { RoutesSpec } from './routing/router.js';
import { loadRoutesFile, RoutesFileError } from './routing/routes-file.js';
import { compatibilityProblems } from './schemas/compatibility.js';
import type { CompatibilityMode } from './schemas/compatibility.js';
import { readSchemaDir, SchemaDirError } from './schemas/files.js';
import type { SchemaSet } from './schemas/files.js';
import { configuredSinks, sinkNamed, SINKS } from './sinks/registry.js';
import { databaseName } from './db/identifiers.js';
import { publishAsync, UndeliverableError } from './sinks/sink.js';
import type { Sink, SinkName } from './sinks/sink.js';
import type { OutboxEvent } from './wal/event.js';

/**
 * OUTBOX_ROUTES, or the contract's default routes, in OUTBOX_FORMAT unless a route names its own;
 * a mistake in the file is a configuration error.
 */
export function routesOf(config: Config, logger?: Logger): RoutesSpec {
  const brokers = configuredSinks(config.sinks);
  const formats = formatsOf(config, logger);
  if (config.routesFile === undefined) return { ...defaultRoutes(brokers), format: formats.default };
  try {
    return { ...loadRoutesFile(config.routesFile, brokers, SINKS, formats), format: formats.default };
  } catch (error) {
    if (error instanceof RoutesFileError) throw new ConfigError('OUTBOX_ROUTES', error.message);
    throw error;
  }
}

/** The formats routes may name, with the settings they are made from. */
function formatsOf(config: Config, logger: Logger | undefined): Formats {
  const { schema, name } = config.table;
  const settings = {
    database: databaseName(config.databaseUrl),
    table: `${schema}.${name}`,
    cloudEventsSource: config.cloudEventsSource,
    schemas:
      config.schemasDir === undefined
        ? undefined
        : checkedSchemas(config.schemasDir, config.schemasCompatibility),
    schemaRegistry: config.schemaRegistry && registryMode(config.schemaRegistry, logger),
  };
  return new Formats(settings, config.format);
}

/** Registry mode: the client, and failed requests logged before they are retried. */
function registryMode(settings: SchemaRegistrySettings, logger: Logger | undefined): SchemaRegistryMode {
  return {
    settings,
    client: createRegistryClient(settings),
    onRetry: (error, subject, attempt) =>
      logger?.warn({ err: error, subject, attempt }, 'schema registry request failed, retrying'),
  };
}

/** OUTBOX_SCHEMAS_DIR, read and checked: a set readers could not follow stops the relay (exit 2). */
function checkedSchemas(dir: string, mode: CompatibilityMode): SchemaSet {
  try {
    const set = readSchemaDir(dir);
    const problem = compatibilityProblems(set, mode)[0];
    if (problem) throw new ConfigError('OUTBOX_SCHEMAS_DIR', problem);
    return set;
  } catch (error) {
    if (error instanceof SchemaDirError) throw new ConfigError('OUTBOX_SCHEMAS_DIR', error.message);
    throw error;
  }
}

/** The sink for `name`, configured from `config`; not connected yet. */
export function createSink(
  name: SinkName,
  config: Config,
  logger: Logger,
  metrics: PrometheusMetrics,
  onFatal?: (error: Error) => void,
): Promise<Sink> {
  const descriptor = sinkNamed(name);
  const settings = config.sinks[name];
  if (settings === undefined)
    throw new ConfigError(descriptor.variable, `required: a route sends to ${descriptor.title}`);
  return descriptor.create(settings, {
    logger,
    metrics,
    onPublishError: () => metrics.publishError(name),
    onReadyChange: (ready) =>
      logger.info({ sink: name }, ready ? 'broker connected' : 'broker connection lost'),
    onFatal,
  });
}

/** A sink for every broker the router sends to. */
export async function createSinks(
  router: Router,
  config: Config,
  logger: Logger,
  metrics: PrometheusMetrics,
  /** A sink cannot go on (a fenced Kafka producer): the relay stops. */
  onFatal?: (error: Error) => void,
): Promise<Map<SinkName, Sink>> {
  const sinks = new Map<SinkName, Sink>();
  for (const name of router.sinks())
    sinks.set(name, await createSink(name, config, logger, metrics, onFatal));
  return sinks;
}

/** Publishes events through the relay's routes and sinks, without reading the WAL. */
export interface OutboxPublisher {
  /**
   * Sends `event` to every destination of its route, with the relay's message contract; resolves
   * once each one confirmed it. Rejects with UndeliverableError when no route takes the event
   * (reason `unroutable`) or a broker refuses it for good; broker outages are retried until close().
   * Events of one aggregate reach each destination in the order they were published.
   */
  publish(event: OutboxEvent): Promise<void>;
  /** Disconnects from the brokers; publishes not yet confirmed stay unsettled. Safe to call twice. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Connects to the brokers that `config`'s routes (OUTBOX_ROUTES, or the default route) send to,
 * retrying until they answer, and returns a publisher over them. It completes no rows and confirms
 * no slot: that stays with the caller.
 */
export async function createPublisher(
  config: Config,
  logger: Logger = createLogger(config.logLevel),
): Promise<OutboxPublisher> {
  requireBroker(config);
  const router = new Router(routesOf(config, logger));
  // The sinks count their errors here; nothing is served from it.
  const metrics = createMetrics({ lagSeconds: () => 0, inFlightEvents: () => 0, sinks: router.sinks() });
  const sinks = await createSinks(router, config, logger, metrics);
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= Promise.all([...sinks.values()].map((sink) => sink.close())).then(() => undefined);
    return closed;
  };
  try {
    await Promise.all([...sinks.values()].map((sink) => sink.connect()));
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
  return {
    async publish(event) {
      const route = router.route(event);
      if ('deadLetter' in route) throw new UndeliverableError(route.deadLetter, 'unroutable');
      for (const destination of route.destinations) {
        const { format } = destination;
        const refusal = format.refuse?.(event) ?? (await format.prepare?.(event, destination));
        if (refusal) throw new UndeliverableError(refusal.message, refusal.reason);
      }
      await Promise.all(
        // router.sinks() named every destination's sink.
        route.destinations.map((destination) =>
          publishAsync(sinks.get(destination.sink)!, { event, destination }),
        ),
      );
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
