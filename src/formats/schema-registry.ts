// Registry mode of the schema'd formats (SCHEMA_REGISTRY_URL): its settings, and the schema ids the
// formats frame their messages with. No I/O besides the RegistryClient interface (registry-client.ts
// adapts Confluent's client to it).
//
// An id is fetched once per subject (registered, or looked up when auto-registration is off) and
// remembered. Events wait for it in arrival order behind a single queue per format, so an outage
// holding up one subject holds up every later event of the format too: order per key stays intact
// whichever subjects the events use. A registry that cannot be reached (or answers 5xx, 401, 403,
// 429) is asked again with capped backoff, forever, like a broker outage; one that refuses the schema
// (409 incompatible, 422 invalid, 404 not registered with auto-registration off) parks the event.
import * as z from 'zod';
import { boolean, ConfigError } from '../config-fields.js';
import type { EnvSettings, EnvValues } from '../config-fields.js';
import { backoffDelay } from '../pipeline/backoff.js';
import { SUBJECT_STRATEGIES } from './confluent-framing.js';
import type { SubjectStrategy } from './confluent-framing.js';
import type { FormatRefusal } from './format.js';

export const SCHEMA_REJECTED = 'schema_rejected';

export const SCHEMA_REGISTRY_SETTINGS = {
  SCHEMA_REGISTRY_URL: {
    doc: "comma-separated `http(s)://` URLs of a Confluent-compatible schema registry API (Apicurio: `…/apis/ccompat/v6`); when set, the `avro`, `protobuf` and `json-schema` formats write Confluent's wire format with the registry's schema ids",
    schema: z
      .string()
      .refine(
        (value) => value.split(',').every((url) => /^https?:\/\/[^\s/]+/.test(url.trim())),
        'expected comma-separated http:// or https:// URLs',
      )
      .transform((value) => value.split(',').map((url) => url.trim()))
      .optional(),
  },
  SCHEMA_REGISTRY_USER_INFO: {
    doc: "HTTP basic credentials for the registry, `user:password` (Confluent's `basic.auth.user.info`)",
    schema: z
      .string()
      .regex(/^[^:]+:/, 'expected user:password')
      .optional(),
  },
  SCHEMA_REGISTRY_SUBJECT_STRATEGY: {
    doc: 'the subject a schema is registered under: `topic` (`<topic>-value`), `record` (the record or message full name) or `topic-record` (`<topic>-<record>`); the topic of a RabbitMQ destination is its exchange',
    schema: z
      .enum(SUBJECT_STRATEGIES, { error: `expected one of ${SUBJECT_STRATEGIES.join(', ')}` })
      .default('topic'),
  },
  SCHEMA_REGISTRY_AUTO_REGISTER: {
    doc: "`true`: register each event type's newest schema (Confluent's default); `false`: only look it up, and park events whose schema is not registered",
    schema: boolean.default(true),
  },
} as const satisfies EnvSettings;

export interface SchemaRegistrySettings {
  readonly urls: readonly string[];
  readonly userInfo: string | undefined;
  readonly subjectStrategy: SubjectStrategy;
  readonly autoRegister: boolean;
}

/** The validated variables -> settings; undefined when SCHEMA_REGISTRY_URL is not set. */
export function schemaRegistrySettings(
  e: EnvValues<typeof SCHEMA_REGISTRY_SETTINGS>,
): SchemaRegistrySettings | undefined {
  if (e.SCHEMA_REGISTRY_URL === undefined) {
    if (e.SCHEMA_REGISTRY_USER_INFO !== undefined)
      throw new ConfigError('SCHEMA_REGISTRY_URL', 'required with SCHEMA_REGISTRY_USER_INFO');
    return undefined;
  }
  return {
    urls: e.SCHEMA_REGISTRY_URL,
    userInfo: e.SCHEMA_REGISTRY_USER_INFO,
    subjectStrategy: e.SCHEMA_REGISTRY_SUBJECT_STRATEGY,
    autoRegister: e.SCHEMA_REGISTRY_AUTO_REGISTER,
  };
}

/** A schema as the registry's API takes it. */
export interface RegistrySchema {
  readonly schemaType: 'AVRO' | 'PROTOBUF' | 'JSON';
  readonly schema: string;
}

/** What registry mode needs of a registry. Rejects with RegistryHttpError when it answered. */
export interface RegistryClient {
  /** Registers `schema` under `subject` (a no-op when it is there) and returns its id. */
  register(subject: string, schema: RegistrySchema): Promise<number>;
  /** The id of `schema` under `subject`, which must be registered already. */
  lookup(subject: string, schema: RegistrySchema): Promise<number>;
}

/** The registry answered with an HTTP error status. */
export class RegistryHttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'RegistryHttpError';
  }
}

/** Why the registry refuses `error` for good; undefined when asking again can succeed. */
export function registryRefusal(error: unknown, autoRegister: boolean): string | undefined {
  if (!(error instanceof RegistryHttpError)) return undefined;
  if (error.status === 409) return `incompatible with the subject's schemas: ${error.message}`;
  if (error.status === 422) return `invalid schema: ${error.message}`;
  if (error.status === 404 && !autoRegister)
    return `not registered (SCHEMA_REGISTRY_AUTO_REGISTER is false): ${error.message}`;
  return undefined;
}

export interface SchemaIdsOptions {
  readonly client: RegistryClient;
  readonly autoRegister: boolean;
  /** Told about each failed attempt that will be retried. */
  readonly onRetry: (error: unknown, subject: string, attempt: number) => void;
  /** The pause before retry `attempt` (tests shorten it). */
  readonly retryDelay?: (attempt: number) => Promise<void>;
}

/** A timer that does not keep the process alive: a relay stopping does not wait for the registry. */
const unrefSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/**
 * The schema ids of one format, per schema and subject (a subject may hold several schemas: with the
 * topic strategy, every event type of a topic), fetched once each, handed out in arrival order.
 */
export class SchemaIds {
  // Keyed by the schema object (one per schema file, made once) first: no string built per event.
  private readonly ids = new Map<RegistrySchema, Map<string, number>>();
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private readonly retryDelay: (attempt: number) => Promise<void>;

  constructor(private readonly options: SchemaIdsOptions) {
    this.retryDelay = options.retryDelay ?? ((attempt) => unrefSleep(backoffDelay(attempt, 200, 5_000)));
  }

  /** The id known for `schema` under `subject`, if any. */
  idOf(subject: string, schema: RegistrySchema): number | undefined {
    return this.ids.get(schema)?.get(subject);
  }

  /**
   * Undefined when the id of `schema` under `subject` is known and no event waits before this one:
   * encode now. Else a promise that settles after those of the events that came before (never
   * rejects): undefined once the id is known, or the registry's refusal.
   */
  ready(subject: string, schema: RegistrySchema): Promise<FormatRefusal | undefined> | undefined {
    if (this.waiting === 0 && this.idOf(subject, schema) !== undefined) return undefined;
    this.waiting += 1;
    const turn = this.tail
      .then(() => (this.idOf(subject, schema) !== undefined ? undefined : this.fetch(subject, schema)))
      .finally(() => {
        this.waiting -= 1;
      });
    this.tail = turn;
    return turn;
  }

  private async fetch(subject: string, schema: RegistrySchema): Promise<FormatRefusal | undefined> {
    const { client, autoRegister, onRetry } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        const id = autoRegister
          ? await client.register(subject, schema)
          : await client.lookup(subject, schema);
        let bySubject = this.ids.get(schema);
        if (!bySubject) this.ids.set(schema, (bySubject = new Map<string, number>()));
        bySubject.set(subject, id);
        return undefined;
      } catch (error) {
        const refusal = registryRefusal(error, autoRegister);
        if (refusal !== undefined)
          return { reason: SCHEMA_REJECTED, message: `schema registry, subject ${subject}: ${refusal}` };
        onRetry(error, subject, attempt);
        await this.retryDelay(attempt);
      }
    }
  }
}
