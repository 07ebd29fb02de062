// Environment -> validated, typed Config. The only module that reads process.env.
// Every error names the variable and what it expects, in one line, and never echoes a value
// (values may be secrets: passwords in URLs, SASL credentials).
import { existsSync, statSync } from 'node:fs';
import { z } from 'zod';

export type CompletionMode = 'delete' | 'mark';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  readonly databaseUrl: string;
  readonly table: { readonly schema: string; readonly name: string };
  readonly slot: string;
  readonly publication: string;
  readonly routesFile: string | undefined;
  readonly completion: CompletionMode;
  readonly kafkaBrokers: readonly string[];
  readonly kafkaClientId: string;
  readonly kafkaMaxMessageBytes: number;
  readonly kafkaBatchSize: number;
  /** Ask the broker to create a missing topic (when its auto.create.topics.enable allows it). */
  readonly kafkaAutoCreateTopics: boolean;
  readonly rabbitmqUrl: string | undefined;
  /** Messages published to RabbitMQ and not yet confirmed, at most. */
  readonly rabbitmqMaxUnconfirmed: number;
  /** Largest RabbitMQ message body sent; larger ones are dead-lettered (keep <= the broker's max_message_size). */
  readonly rabbitmqMaxMessageBytes: number;
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
  /** TLS for Kafka; undefined means plaintext. */
  readonly kafkaTls: KafkaTls | undefined;
  readonly kafkaSasl: KafkaSasl | undefined;
  /** Client certificate and CA files for amqps:// (RABBITMQ_URL must be amqps:// when set). */
  readonly rabbitmqTls: TlsFiles | undefined;
}

/** Paths of PEM files, checked to exist when the configuration is read; read by the sinks. */
export interface TlsFiles {
  readonly caFile: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
}

export interface KafkaTls extends TlsFiles {
  /** False only with KAFKA_SSL_INSECURE=true: accepts any broker certificate (tests only). */
  readonly rejectUnauthorized: boolean;
}

export type KafkaSasl = {
  readonly username: string;
  readonly password: string;
} & (
  | { readonly mechanism: 'plain' }
  | { readonly mechanism: 'scram-sha-256' }
  | { readonly mechanism: 'scram-sha-512' }
);

export class ConfigError extends Error {
  constructor(
    readonly field: string,
    expected: string,
  ) {
    super(`${field}: ${expected}`);
    this.name = 'ConfigError';
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const SLOT_NAME = /^[a-z0-9_]{1,63}$/;
const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/;

const boolean = z
  .enum(['true', 'false', '1', '0'], { error: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1');

// A path to a file that must exist now: a typo is a configuration error, not a failure at first use.
const existingFile = z
  .string()
  .refine((path) => existsSync(path) && statSync(path).isFile(), 'expected the path of an existing file')
  .optional();

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `expected an integer from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `expected an integer from ${min} to ${max}`);

const envSchema = z.object({
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
  KAFKA_BROKERS: z
    .string()
    .refine(
      (value) => value.split(',').every((broker) => HOST_PORT.test(broker.trim())),
      'expected a comma-separated list of host:port',
    )
    .optional(),
  KAFKA_CLIENT_ID: z.string().min(1, 'expected a non-empty client id').default('outbox-relay'),
  KAFKA_MAX_MESSAGE_BYTES: integer(1, 2 ** 31 - 1).default(1_048_576),
  KAFKA_BATCH_SIZE: integer(1, 100_000).default(2_000),
  KAFKA_AUTO_CREATE_TOPICS: boolean.default(true),
  RABBITMQ_URL: z
    .string()
    .regex(/^amqps?:\/\//, 'expected an amqp:// or amqps:// URL')
    .optional(),
  RABBITMQ_MAX_UNCONFIRMED: integer(1, 1_000_000).default(1_000),
  // RabbitMQ's own ceiling for max_message_size is 512 MiB; its default is 128 MiB.
  RABBITMQ_MAX_MESSAGE_BYTES: integer(1, 536_870_912).default(134_217_728),
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
  KAFKA_SSL: boolean.optional(),
  KAFKA_SSL_CA_FILE: existingFile,
  KAFKA_SSL_CERT_FILE: existingFile,
  KAFKA_SSL_KEY_FILE: existingFile,
  KAFKA_SSL_INSECURE: boolean.default(false),
  KAFKA_SASL_MECHANISM: z
    .enum(['plain', 'scram-sha-256', 'scram-sha-512'], {
      error: 'expected plain, scram-sha-256 or scram-sha-512',
    })
    .optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  RABBITMQ_SSL_CA_FILE: existingFile,
  RABBITMQ_SSL_CERT_FILE: existingFile,
  RABBITMQ_SSL_KEY_FILE: existingFile,
});

type Env = z.infer<typeof envSchema>;

/**
 * Every environment variable the relay reads, in schema order, with its default as text (undefined:
 * required or unset). docs/configuration.md is tested against this list, so it cannot drift.
 */
export const CONFIG_VARIABLES: readonly { readonly name: string; readonly default: string | undefined }[] =
  Object.entries(envSchema.shape).map(([name, schema]) => ({
    name,
    default: schema instanceof z.ZodDefault ? String(schema.def.defaultValue) : undefined,
  }));

/** Reads the configuration from an environment (process.env by default). Throws ConfigError. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const defined = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = envSchema.safeParse(defined);
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
    kafkaBrokers: e.KAFKA_BROKERS ? e.KAFKA_BROKERS.split(',').map((broker) => broker.trim()) : [],
    kafkaClientId: e.KAFKA_CLIENT_ID,
    kafkaMaxMessageBytes: e.KAFKA_MAX_MESSAGE_BYTES,
    kafkaBatchSize: e.KAFKA_BATCH_SIZE,
    kafkaAutoCreateTopics: e.KAFKA_AUTO_CREATE_TOPICS,
    rabbitmqUrl: e.RABBITMQ_URL,
    rabbitmqMaxUnconfirmed: e.RABBITMQ_MAX_UNCONFIRMED,
    rabbitmqMaxMessageBytes: e.RABBITMQ_MAX_MESSAGE_BYTES,
    metricsPort: e.METRICS_PORT,
    metricsHost: e.METRICS_HOST,
    logLevel: e.LOG_LEVEL,
    maxInFlightEvents: e.OUTBOX_MAX_IN_FLIGHT,
    maxInFlightBytes: e.OUTBOX_MAX_IN_FLIGHT_BYTES,
    completionBatchSize: e.OUTBOX_COMPLETION_BATCH_SIZE,
    shutdownTimeoutMs: e.OUTBOX_SHUTDOWN_TIMEOUT_MS,
    heartbeatIntervalMs: e.OUTBOX_HEARTBEAT_INTERVAL_MS,
    maxAttempts: e.OUTBOX_MAX_ATTEMPTS,
    kafkaTls: kafkaTls(e),
    kafkaSasl: kafkaSasl(e),
    rabbitmqTls: rabbitmqTls(e),
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

function kafkaTls(e: Env): KafkaTls | undefined {
  const files = {
    caFile: e.KAFKA_SSL_CA_FILE,
    certFile: e.KAFKA_SSL_CERT_FILE,
    keyFile: e.KAFKA_SSL_KEY_FILE,
  };
  const anyFile = Object.values(files).some((file) => file !== undefined);
  if (e.KAFKA_SSL === false && anyFile)
    throw new ConfigError('KAFKA_SSL', 'must not be false when KAFKA_SSL_*_FILE variables are set');
  if ((files.certFile === undefined) !== (files.keyFile === undefined))
    throw new ConfigError(
      files.certFile === undefined ? 'KAFKA_SSL_CERT_FILE' : 'KAFKA_SSL_KEY_FILE',
      'required: a client certificate needs both KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE',
    );
  if (e.KAFKA_SSL !== true && !anyFile) return undefined;
  return { ...files, rejectUnauthorized: !e.KAFKA_SSL_INSECURE };
}

function kafkaSasl(e: Env): KafkaSasl | undefined {
  if (e.KAFKA_SASL_MECHANISM === undefined) {
    if (e.KAFKA_SASL_USERNAME !== undefined || e.KAFKA_SASL_PASSWORD !== undefined)
      throw new ConfigError(
        'KAFKA_SASL_MECHANISM',
        'required with KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD',
      );
    return undefined;
  }
  if (e.KAFKA_SASL_USERNAME === undefined)
    throw new ConfigError('KAFKA_SASL_USERNAME', 'required when KAFKA_SASL_MECHANISM is set');
  if (e.KAFKA_SASL_PASSWORD === undefined)
    throw new ConfigError('KAFKA_SASL_PASSWORD', 'required when KAFKA_SASL_MECHANISM is set');
  return {
    mechanism: e.KAFKA_SASL_MECHANISM,
    username: e.KAFKA_SASL_USERNAME,
    password: e.KAFKA_SASL_PASSWORD,
  };
}

function rabbitmqTls(e: Env): TlsFiles | undefined {
  const files = {
    caFile: e.RABBITMQ_SSL_CA_FILE,
    certFile: e.RABBITMQ_SSL_CERT_FILE,
    keyFile: e.RABBITMQ_SSL_KEY_FILE,
  };
  if (Object.values(files).every((file) => file === undefined)) return undefined;
  if (e.RABBITMQ_URL !== undefined && !e.RABBITMQ_URL.startsWith('amqps://'))
    throw new ConfigError(
      'RABBITMQ_URL',
      'expected an amqps:// URL when RABBITMQ_SSL_*_FILE variables are set',
    );
  if ((files.certFile === undefined) !== (files.keyFile === undefined))
    throw new ConfigError(
      files.certFile === undefined ? 'RABBITMQ_SSL_CERT_FILE' : 'RABBITMQ_SSL_KEY_FILE',
      'required: a client certificate needs both RABBITMQ_SSL_CERT_FILE and RABBITMQ_SSL_KEY_FILE',
    );
  return files;
}

/** `run` needs somewhere to publish. */
export function requireBroker(config: Config): void {
  if (config.kafkaBrokers.length === 0 && config.rabbitmqUrl === undefined) {
    throw new ConfigError(
      'KAFKA_BROKERS',
      'required (or RABBITMQ_URL): the relay needs a broker to publish to',
    );
  }
}
