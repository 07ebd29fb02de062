// The sinks the routes need, built from a Config (the relay's, and the bench's polling relay's).
import { ConfigError } from './config.js';
import type { Config } from './config.js';
import { Formats } from './formats/registry.js';
import type { Logger } from './observability/logger.js';
import type { PrometheusMetrics } from './observability/metrics.js';
import { defaultRoutes } from './routing/router.js';
import type { RoutesSpec } from './routing/router.js';
import { loadRoutesFile, RoutesFileError } from './routing/routes-file.js';
import { configuredSinks, sinkNamed, SINKS } from './sinks/registry.js';
import type { Sink, SinkName } from './sinks/sink.js';

/**
 * OUTBOX_ROUTES, or the contract's default routes, in OUTBOX_FORMAT unless a route names its own;
 * a mistake in the file is a configuration error.
 */
export function routesOf(config: Config): RoutesSpec {
  const brokers = configuredSinks(config.sinks);
  const formats = formatsOf(config);
  if (config.routesFile === undefined) return { ...defaultRoutes(brokers), format: formats.default };
  try {
    return { ...loadRoutesFile(config.routesFile, brokers, SINKS, formats), format: formats.default };
  } catch (error) {
    if (error instanceof RoutesFileError) throw new ConfigError('OUTBOX_ROUTES', error.message);
    throw error;
  }
}

/** The formats routes may name, with the settings they are made from. */
function formatsOf(config: Config): Formats {
  const { schema, name } = config.table;
  const settings = {
    database: databaseName(config.databaseUrl),
    table: `${schema}.${name}`,
    cloudEventsSource: config.cloudEventsSource,
  };
  return new Formats(settings, config.format);
}

/** DATABASE_URL's database; PostgreSQL's default, the user's name, when the URL names none. */
function databaseName(url: string): string {
  try {
    const { pathname, username } = new URL(url);
    return decodeURIComponent(pathname.slice(1)) || decodeURIComponent(username) || 'postgres';
  } catch {
    return 'postgres';
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
  return descriptor.create(settings, {
    logger,
    metrics,
    onPublishError: () => metrics.publishError(name),
    onReadyChange: (ready) =>
      logger.info({ sink: name }, ready ? 'broker connected' : 'broker connection lost'),
  });
}
