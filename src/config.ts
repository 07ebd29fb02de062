// Environment -> validated, typed Config. The only module that reads process.env.
// Every error names the variable and what it expects, in one line, and never echoes a value
// (values may be secrets: passwords in URLs, SASL credentials). The brokers' variables are their
// own (src/sinks/registry.ts): each broker contributes its section and reads its settings from it.
import { existsSync, statSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, existingFile, integer } from './config-fields.js';
import { sourceSchema } from './formats/cloudevents.js';
import { FORMAT_NAMES } from './formats/registry.js';
import { SINKS } from './sinks/registry.js';
import type { SinkRegistry, SinkSettings } from './sinks/registry.js';

export { ConfigError } from './config-fields.js';
export type { TlsFiles } from './config-fields.js';

export type CompletionMode = 'delete' | 'mark';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  readonly databaseUrl: string;
  readonly table: { readonly schema: string; readonly name: string };
  readonly slot: string;
  readonly publication: string;
  readonly routesFile: string | undefined;
  readonly completion: CompletionMode;
  readonly metricsPort: number;
  readonly metricsHost: string;
  readonly logLevel: LogLevel;
  /** Events read from the WAL but not yet completed; past it the WAL stream pauses. */
  readonly maxInFlightEvents: number;
  readonly maxInFlightBytes: number;
  readonly completionBatchSize: number;
  readonly shutdownTimeoutMs: number;
  /** How often to write a logical heartbeat message to the WAL; 0 disables it. */
  readonly heartbeatIntervalMs: number;
  /** Publish attempts for an event a broker refuses for good, before it is dead-lettered. */
  readonly maxAttempts: number;
  /** The message format of routes that name none (a name of src/formats/registry.ts). */
  readonly format: string;
  /** The CloudEvents `source` of routes that set none; undefined: outbox-relay/<database>/<table>. */
  readonly cloudEventsSource: string | undefined;
  /** Each configured broker's settings, by broker name; a broker not configured is absent. */
  readonly sinks: SinkSettings;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const SLOT_NAME = /^[a-z0-9_]{1,63}$/;
const coreSchema = {
  DATABASE_URL: z
    .string({ error: 'required: a PostgreSQL connection string (postgres://user@host:port/db)' })
    .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// connection string'),
  OUTBOX_TABLE: z
    .string()
    .default('public.outbox')
    .refine(
      (value) => value.split('.').length <= 2 && value.split('.').every((part) => IDENTIFIER.test(part)),
      'expected [schema.]table made of letters, digits and underscores',
    ),
  OUTBOX_SLOT: z
    .string()
    .regex(SLOT_NAME, 'expected a slot name of lower-case letters, digits and underscores (at most 63)')
    .default('outbox_relay'),
  OUTBOX_PUBLICATION: z
    .string()
    .regex(IDENTIFIER, 'expected a publication name of letters, digits and underscores (at most 63)')
    .default('outbox_relay_pub'),
  OUTBOX_ROUTES: z.string().min(1, 'expected the path of a routes file (YAML or JSON)').optional(),
  OUTBOX_COMPLETION: z.enum(['delete', 'mark'], { error: 'expected delete or mark' }).default('delete'),
  OUTBOX_FORMAT: z
    .string()
    .refine(
      (name) => (FORMAT_NAMES as readonly string[]).includes(name),
      `expected one of ${FORMAT_NAMES.join(', ')}`,
    )
    .default('native'),
  OUTBOX_CLOUDEVENTS_SOURCE: sourceSchema.optional(),
  METRICS_PORT: integer(0, 65_535).default(9464),
  METRICS_HOST: z.string().min(1, 'expected a bind address').default('0.0.0.0'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'expected one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  OUTBOX_MAX_IN_FLIGHT: integer(1, 10_000_000).default(20_000),
  OUTBOX_MAX_IN_FLIGHT_BYTES: integer(1_024, 2 ** 40).default(64 * 1024 * 1024),
  OUTBOX_COMPLETION_BATCH_SIZE: integer(1, 100_000).default(5_000),
  OUTBOX_SHUTDOWN_TIMEOUT_MS: integer(0, 3_600_000).default(30_000),
  OUTBOX_HEARTBEAT_INTERVAL_MS: integer(0, 86_400_000).default(10_000),
  OUTBOX_MAX_ATTEMPTS: integer(1, 100).default(3),
  // libpq's names; values given in DATABASE_URL's query string take precedence.
  PGSSLMODE: z
    .enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'], {
      error: 'expected disable, prefer, require, verify-ca, verify-full or no-verify',
    })
    .optional(),
  PGSSLROOTCERT: existingFile,
  PGSSLCERT: existingFile,
  PGSSLKEY: existingFile,
};

const envSchema = (registry: SinkRegistry) =>
  z.object(Object.assign({}, coreSchema, ...registry.map((sink) => sink.env)) as typeof coreSchema);

type Env = z.infer<z.ZodObject<typeof coreSchema>>;

/**
 * Every environment variable the relay reads, in schema order, with its default as text (undefined:
 * required or unset). docs/configuration.md is tested against this list, so it cannot drift.
 */
export const CONFIG_VARIABLES: readonly { readonly name: string; readonly default: string | undefined }[] =
  Object.entries(envSchema(SINKS).shape).map(([name, schema]) => ({
    name,
    default: schema instanceof z.ZodDefault ? String(schema.def.defaultValue) : undefined,
  }));

/** Reads the configuration from an environment (process.env by default). Throws ConfigError. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  registry: SinkRegistry = SINKS,
): Config {
  const defined = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = envSchema(registry).safeParse(defined);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  const e = parsed.data;
  const [schema, name] = e.OUTBOX_TABLE.includes('.')
    ? e.OUTBOX_TABLE.split('.')
    : ['public', e.OUTBOX_TABLE];
  return {
    databaseUrl: withPostgresTls(e),
    table: { schema: schema!, name: name! },
    slot: e.OUTBOX_SLOT,
    publication: e.OUTBOX_PUBLICATION,
    routesFile: e.OUTBOX_ROUTES,
    completion: e.OUTBOX_COMPLETION,
    metricsPort: e.METRICS_PORT,
    metricsHost: e.METRICS_HOST,
    logLevel: e.LOG_LEVEL,
    maxInFlightEvents: e.OUTBOX_MAX_IN_FLIGHT,
    maxInFlightBytes: e.OUTBOX_MAX_IN_FLIGHT_BYTES,
    completionBatchSize: e.OUTBOX_COMPLETION_BATCH_SIZE,
    shutdownTimeoutMs: e.OUTBOX_SHUTDOWN_TIMEOUT_MS,
    heartbeatIntervalMs: e.OUTBOX_HEARTBEAT_INTERVAL_MS,
    maxAttempts: e.OUTBOX_MAX_ATTEMPTS,
    format: e.OUTBOX_FORMAT,
    cloudEventsSource: e.OUTBOX_CLOUDEVENTS_SOURCE,
    sinks: Object.fromEntries(
      registry.flatMap((sink) => {
        const settings: unknown = sink.settings(e);
        return settings === undefined ? [] : [[sink.name, settings]];
      }),
    ),
  };
}

const PG_TLS_PARAMETERS = [
  ['PGSSLMODE', 'sslmode'],
  ['PGSSLROOTCERT', 'sslrootcert'],
  ['PGSSLCERT', 'sslcert'],
  ['PGSSLKEY', 'sslkey'],
] as const;

/**
 * PostgreSQL TLS goes into the connection string, which every connection the relay opens (pool,
 * replication stream, leadership lock, slot creation) is built from: node-postgres reads sslmode,
 * sslrootcert, sslcert and sslkey from it. The PG* variables fill in what the URL does not set.
 */
function withPostgresTls(e: Env): string {
  // Only the query string is parsed: the rest (unix socket hosts, encoded passwords) stays verbatim.
  const queryStart = e.DATABASE_URL.indexOf('?');
  const query = new URLSearchParams(queryStart < 0 ? '' : e.DATABASE_URL.slice(queryStart + 1));
  for (const [, parameter] of PG_TLS_PARAMETERS) {
    const path = query.get(parameter);
    if (parameter !== 'sslmode' && path !== null && !(existsSync(path) && statSync(path).isFile()))
      throw new ConfigError('DATABASE_URL', `${parameter} must name an existing file`);
  }
  const added = PG_TLS_PARAMETERS.filter(
    ([variable, parameter]) => e[variable] !== undefined && !query.has(parameter),
  ).map(([variable, parameter]) => `${parameter}=${encodeURIComponent(e[variable]!)}`);
  if (added.length === 0) return e.DATABASE_URL;
  return `${e.DATABASE_URL}${queryStart < 0 ? '?' : '&'}${added.join('&')}`;
}

/** `run` needs somewhere to publish. */
export function requireBroker(config: Config, registry: SinkRegistry = SINKS): void {
  if (registry.some(({ name }) => config.sinks[name] !== undefined)) return;
  const [first, ...others] = registry.map((sink) => sink.variable);
  throw new ConfigError(
    first ?? 'environment',
    `required${others.length ? ` (or ${others.join(', or ')})` : ''}: the relay needs a broker to publish to`,
  );
}
