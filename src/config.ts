// Environment -> validated, typed Config. The only module that reads process.env.
// Every error names the variable and what it expects, in one line.
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
  readonly rabbitmqUrl: string | undefined;
  readonly metricsPort: number;
  readonly metricsHost: string;
  readonly logLevel: LogLevel;
  /** Events read from the WAL but not yet completed; past it the WAL stream pauses. */
  readonly maxInFlightEvents: number;
  readonly maxInFlightBytes: number;
  readonly completionBatchSize: number;
  readonly shutdownTimeoutMs: number;
}

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
  RABBITMQ_URL: z
    .string()
    .regex(/^amqps?:\/\//, 'expected an amqp:// or amqps:// URL')
    .optional(),
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
});

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
    databaseUrl: e.DATABASE_URL,
    table: { schema: schema!, name: name! },
    slot: e.OUTBOX_SLOT,
    publication: e.OUTBOX_PUBLICATION,
    routesFile: e.OUTBOX_ROUTES,
    completion: e.OUTBOX_COMPLETION,
    kafkaBrokers: e.KAFKA_BROKERS ? e.KAFKA_BROKERS.split(',').map((broker) => broker.trim()) : [],
    kafkaClientId: e.KAFKA_CLIENT_ID,
    kafkaMaxMessageBytes: e.KAFKA_MAX_MESSAGE_BYTES,
    kafkaBatchSize: e.KAFKA_BATCH_SIZE,
    rabbitmqUrl: e.RABBITMQ_URL,
    metricsPort: e.METRICS_PORT,
    metricsHost: e.METRICS_HOST,
    logLevel: e.LOG_LEVEL,
    maxInFlightEvents: e.OUTBOX_MAX_IN_FLIGHT,
    maxInFlightBytes: e.OUTBOX_MAX_IN_FLIGHT_BYTES,
    completionBatchSize: e.OUTBOX_COMPLETION_BATCH_SIZE,
    shutdownTimeoutMs: e.OUTBOX_SHUTDOWN_TIMEOUT_MS,
  };
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
