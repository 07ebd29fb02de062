// Environment -> validated, typed Config. The only module that reads process.env. Each setting is
// written once, in CORE_SETTINGS (variable, schema with default, doc, field); Config is inferred.
// Every error names the variable and what it expects, in one line, and never echoes a value
// (values may be secrets: passwords in URLs, SASL credentials). The brokers' variables are their
// own (src/sinks/registry.ts): each broker contributes its section and reads its settings from it.
import * as z from 'zod';
import { ConfigError, defaultText, envShape, existingFile, integer } from './config-fields.js';
import type { EnvSetting, EnvSettings, EnvValues } from './config-fields.js';
import { sourceSchema } from './formats/cloudevents.js';
import { FORMAT_NAMES } from './formats/registry.js';
import { COMPATIBILITY_MODES } from './schemas/compatibility.js';
import { SLOT_SETTINGS } from './config-slot.js';
import { SCHEMA_REGISTRY_SETTINGS, schemaRegistrySettings } from './formats/schema-registry.js';
import type { SchemaRegistrySettings } from './formats/schema-registry.js';
import { LOG_LEVELS } from './observability/logger.js';
import { withPostgresTls } from './postgres-tls.js';
import { SINKS } from './sinks/registry.js';
import type { SinkRegistry, SinkSettings } from './sinks/registry.js';

export { ConfigError } from './config-fields.js';
export type { TlsFiles } from './config-fields.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** A core variable, and the Config field it fills (none: it is folded into another field). */
interface CoreSetting extends EnvSetting {
  readonly field?: string;
}

/** Keeps the settings' literal field names, from which Config is inferred. */
const defineSettings = <const Settings extends Readonly<Record<string, CoreSetting>>>(settings: Settings) =>
  settings;

/**
 * The relay's own variables, in documentation and validation order (the first invalid one is the
 * one reported). Adding a setting is one entry here and a row in docs/configuration.md.
 */
const CORE_SETTINGS = defineSettings({
  DATABASE_URL: {
    field: 'databaseUrl',
    doc: 'PostgreSQL connection string, `postgres://` or `postgresql://`',
    schema: z
      .string({ error: 'required: a PostgreSQL connection string (postgres://user@host:port/db)' })
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// connection string'),
  },
  OUTBOX_PRIMARY_URL: {
    field: 'primaryUrl',
    doc: 'the primary, when `DATABASE_URL` leads to a hot standby (PostgreSQL 16+) that the slot lives on and is streamed from: heartbeats, completions, dead letters and the bookkeeping go here; required then, not used otherwise',
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// connection string')
      .optional(),
  },
  OUTBOX_TABLE: {
    field: 'table',
    doc: 'the outbox table, `[schema.]table`',
    schema: z
      .string()
      .default('public.outbox')
      .refine(
        (value) => value.split('.').length <= 2 && value.split('.').every((part) => IDENTIFIER.test(part)),
        'expected [schema.]table made of letters, digits and underscores',
      )
      .transform((value) => {
        const [schema, name] = value.includes('.') ? value.split('.') : ['public', value];
        return { schema: schema!, name: name! } as const;
      }),
  },
  ...SLOT_SETTINGS,
  OUTBOX_PUBLICATION: {
    field: 'publication',
    doc: 'publication, created insert-only for the outbox table when missing',
    schema: z
      .string()
      .regex(IDENTIFIER, 'expected a publication name of letters, digits and underscores (at most 63)')
      .default('outbox_relay_pub'),
  },
  OUTBOX_ROUTES: {
    field: 'routesFile',
    doc: 'path of the routes file (YAML or JSON); without it every event goes to the first broker configured',
    schema: z.string().min(1, 'expected the path of a routes file (YAML or JSON)').optional(),
  },
  OUTBOX_COMPLETION: {
    field: 'completion',
    doc: 'what happens to a row once its event is delivered: `delete` it, or `mark` it (`processed_at = now()`; prune old rows yourself)',
    schema: z.enum(['delete', 'mark'], { error: 'expected delete or mark' }).default('delete'),
  },
  OUTBOX_FORMAT: {
    field: 'format',
    doc: 'the message format of routes that name none, and of the default route',
    schema: z
      .string()
      .refine(
        (name) => (FORMAT_NAMES as readonly string[]).includes(name),
        `expected one of ${FORMAT_NAMES.join(', ')}`,
      )
      .default('native'),
  },
  OUTBOX_CLOUDEVENTS_SOURCE: {
    field: 'cloudEventsSource',
    doc: 'the CloudEvents `source` attribute (a URI reference) of routes that set none',
    schema: sourceSchema.optional(),
  },
  OUTBOX_SCHEMAS_DIR: {
    field: 'schemasDir',
    doc: 'the schemas directory of the `avro`, `protobuf` and `json-schema` formats: `<eventType>/v<N>.avsc`, `.proto` or `.schema.json`; read and checked at start-up',
    schema: z.string().min(1, 'expected the path of a schemas directory').optional(),
  },
  OUTBOX_SCHEMAS_COMPATIBILITY: {
    field: 'schemasCompatibility',
    doc: 'how each schema must relate to its previous version: `backward` (the new one reads the old), `forward` (the old one reads the new) or `full` (both)',
    schema: z
      .enum(COMPATIBILITY_MODES, { error: `expected one of ${COMPATIBILITY_MODES.join(', ')}` })
      .default('backward'),
  },
  METRICS_PORT: {
    field: 'metricsPort',
    doc: 'HTTP port of `/metrics`, `/healthz` and `/readyz`; `0` picks a free port',
    schema: integer(0, 65_535).default(9464),
  },
  METRICS_HOST: {
    field: 'metricsHost',
    doc: 'address the metrics and probes HTTP server binds',
    schema: z.string().min(1, 'expected a bind address').default('0.0.0.0'),
  },
  LOG_LEVEL: {
    field: 'logLevel',
    doc: '`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`; JSON lines on stdout',
    schema: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  },
  OUTBOX_MAX_IN_FLIGHT: {
    field: 'maxInFlightEvents',
    doc: 'events read from the WAL and not yet completed; when reached the relay stops reading (PostgreSQL keeps the rest). Also bounds duplicates after a crash',
    schema: integer(1, 10_000_000).default(10_000),
  },
  OUTBOX_MAX_IN_FLIGHT_BYTES: {
    field: 'maxInFlightBytes',
    doc: 'payload bytes read from the WAL and not yet completed, at most; when reached the relay stops reading',
    schema: integer(1_024, 2 ** 40).default(64 * 1024 * 1024),
  },
  OUTBOX_COMPLETION_BATCH_SIZE: {
    field: 'completionBatchSize',
    doc: 'most rows deleted or marked per statement',
    schema: integer(1, 100_000).default(5_000),
  },
  OUTBOX_SHUTDOWN_TIMEOUT_MS: {
    field: 'shutdownTimeoutMs',
    doc: "on SIGTERM, how long the relay waits for in-flight events before it exits; keep it below the orchestrator's kill grace period",
    schema: integer(0, 3_600_000).default(30_000),
  },
  OUTBOX_HEARTBEAT_INTERVAL_MS: {
    field: 'heartbeatIntervalMs',
    doc: 'how often the leader writes a tiny logical message to the WAL so an idle slot keeps moving; `0` turns it off',
    schema: integer(0, 86_400_000).default(10_000),
  },
  OUTBOX_MAX_ATTEMPTS: {
    field: 'maxAttempts',
    doc: 'publish attempts for an event a broker refuses for good (too large, invalid, not authorised) before it is dead-lettered; outages are retried forever',
    schema: integer(1, 100).default(3),
  },
  // libpq's names, folded into databaseUrl; values given in DATABASE_URL's query string take precedence.
  PGSSLMODE: {
    doc: '`disable`, `prefer`, `require`, `verify-ca`, `verify-full` or `no-verify`; used when `DATABASE_URL` has no `sslmode`',
    schema: z
      .enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'], {
        error: 'expected disable, prefer, require, verify-ca, verify-full or no-verify',
      })
      .optional(),
  },
  PGSSLROOTCERT: {
    doc: 'CA file for PostgreSQL; used when the URL has no `sslrootcert`',
    schema: existingFile,
  },
  PGSSLCERT: { doc: 'client certificate file for PostgreSQL', schema: existingFile },
  PGSSLKEY: { doc: 'client key file for PostgreSQL', schema: existingFile },
});

type CoreSettings = typeof CORE_SETTINGS;
type Env = EnvValues<CoreSettings>;

/** The Config field a setting fills; never for one folded into another field. */
type FieldOf<Setting> = Setting extends { readonly field: infer Field extends string } ? Field : never;

/** The validated configuration: each core setting's value under its field, and the brokers' settings. */
export type Config = {
  readonly [Variable in keyof CoreSettings as FieldOf<CoreSettings[Variable]>]: Env[Variable];
} & {
  /** Each configured broker's settings, by broker name; a broker not configured is absent. */
  readonly sinks: SinkSettings;
  /** Registry mode of the schema'd formats; undefined without SCHEMA_REGISTRY_URL. */
  readonly schemaRegistry: SchemaRegistrySettings | undefined;
};

export type CompletionMode = Config['completion'];

/** Every variable: the core's, the registry's, then each broker's, in documentation and validation order. */
const allSettings = (registry: SinkRegistry): EnvSettings =>
  Object.assign(
    {},
    CORE_SETTINGS,
    SCHEMA_REGISTRY_SETTINGS,
    ...registry.map((sink) => sink.env),
  ) as EnvSettings;

/**
 * Every environment variable the relay reads, in schema order, with its default as text (undefined:
 * required or unset) and its doc. docs/configuration.md is tested against this list, so it cannot drift.
 */
export const CONFIG_VARIABLES: readonly {
  readonly name: string;
  readonly default: string | undefined;
  readonly doc: string;
}[] = Object.entries(allSettings(SINKS)).map(([name, { schema, doc }]) => ({
  name,
  default: defaultText(schema),
  doc,
}));

/** Reads the configuration from an environment (process.env by default). Throws ConfigError. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  registry: SinkRegistry = SINKS,
): Config {
  const defined = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = z.object(envShape(allSettings(registry))).safeParse(defined);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  const e = parsed.data as Env & Record<string, unknown>;
  const fields = Object.fromEntries(
    Object.entries(CORE_SETTINGS as Readonly<Record<string, CoreSetting>>).flatMap(([variable, { field }]) =>
      field === undefined ? [] : [[field, e[variable]]],
    ),
  );
  // The PG* TLS variables go into the connection string.
  const databaseUrl = withPostgresTls(e);
  const primaryUrl =
    e.OUTBOX_PRIMARY_URL === undefined
      ? undefined
      : withPostgresTls(e, 'OUTBOX_PRIMARY_URL', e.OUTBOX_PRIMARY_URL);
  const sinks = Object.fromEntries(
    registry.flatMap((sink) => {
      const settings: unknown = sink.settings(e);
      return settings === undefined ? [] : [[sink.name, settings]];
    }),
  );
  const schemaRegistry = schemaRegistrySettings(e as Env & EnvValues<typeof SCHEMA_REGISTRY_SETTINGS>);
  return { ...fields, databaseUrl, primaryUrl, sinks, schemaRegistry } as Config;
}

/** The schema settings alone, for `schemas check`, which needs no database. Throws ConfigError. */
export function loadSchemaSettings(
  env: Record<string, string | undefined> = process.env,
): Pick<Config, 'schemasDir' | 'schemasCompatibility'> {
  const pick = {
    OUTBOX_SCHEMAS_DIR: env['OUTBOX_SCHEMAS_DIR'] || undefined,
    OUTBOX_SCHEMAS_COMPATIBILITY: env['OUTBOX_SCHEMAS_COMPATIBILITY'] || undefined,
  };
  const { OUTBOX_SCHEMAS_DIR, OUTBOX_SCHEMAS_COMPATIBILITY } = CORE_SETTINGS;
  const parsed = z
    .object({
      OUTBOX_SCHEMAS_DIR: OUTBOX_SCHEMAS_DIR.schema,
      OUTBOX_SCHEMAS_COMPATIBILITY: OUTBOX_SCHEMAS_COMPATIBILITY.schema,
    })
    .safeParse(pick);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  return {
    schemasDir: parsed.data.OUTBOX_SCHEMAS_DIR,
    schemasCompatibility: parsed.data.OUTBOX_SCHEMAS_COMPATIBILITY,
  };
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
