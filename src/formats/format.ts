// What a message format produces from an event: the broker-neutral parts of a message. Each sink
// maps them onto its protocol (a Kafka record's key, value and headers; an AMQP body, properties
// and headers), so the bytes an event becomes are decided here, once, for every broker.
// Each format is one module exporting a FormatDescriptor (defineFormat), listed in registry.ts.
import type * as z from 'zod';
import type { SchemaSet } from '../schemas/files.js';
import type { ResolvedDestination } from '../sinks/sink.js';
import type { OutboxEvent } from '../wal/event.js';
import type { RegistryClient, SchemaRegistrySettings } from './schema-registry.js';

/**
 * A CloudEvent, as its format asks the sinks to write it with their protocol binding. Binary mode:
 * the attributes (all but datacontenttype, which is `contentType`) go beside `headers`, named with
 * the binding's prefix (Kafka `ce_<name>` headers, AMQP `cloudEvents_<name>` application
 * properties). Structured mode: the body is the whole event. In both, Kafka, which has no
 * content-type property of its own, gets a `content-type` header.
 */
export type CloudEventBinding =
  | { readonly mode: 'binary'; readonly attributes: Readonly<Record<string, string>> }
  | { readonly mode: 'structured' };

export interface EncodedMessage {
  /** The partitioning key (Kafka's record key): events of one aggregate share it. */
  readonly key: string;
  /** The body: text is sent as UTF-8, a Buffer (Avro, Protobuf) as it is. */
  readonly body: string | Buffer;
  /** Sent as the message's headers, in this order. */
  readonly headers: Readonly<Record<string, string>>;
  /** The message id (AMQP message-id). */
  readonly id: string;
  /** The message type (AMQP type). */
  readonly type: string;
  /** The body's media type (AMQP content-type). */
  readonly contentType: string;
  /** When the event was created, in whole seconds since the epoch (AMQP timestamp), if known. */
  readonly timestampSeconds: number | undefined;
  /** Set by the CloudEvents formats only: how the sinks' protocol bindings write the event. */
  readonly cloudEvent?: CloudEventBinding;
}

export interface MessageFormat {
  /** Its descriptor's name: the `format` metric label. */
  readonly name: string;
  /**
   * The message `event` becomes at `destination`. Only registry mode reads the destination (its
   * topic names the schema's subject); it must be given there, after prepare() settled.
   */
  encode(event: OutboxEvent, destination?: ResolvedDestination): EncodedMessage;
  /** encode(event).body alone, for a size check before the message is built. */
  body(event: OutboxEvent, destination?: ResolvedDestination): string | Buffer;
  /**
   * An upper bound of the UTF-8 bytes of key, body and headers (names and values, CloudEvents
   * attributes with the longest binding prefix included) that a sink writes for encode(event),
   * computed without building the message: a sink that only needs to know whether a message fits a
   * limit builds it only when this bound does not fit.
   */
  sizeBound(event: OutboxEvent, destination?: ResolvedDestination): number;
  /**
   * True when encode() reads `event.columns` (the columns' text as PostgreSQL printed it): the WAL
   * decoder keeps that text only when a route's format reads it.
   */
  readonly readsColumnText?: boolean;
  /**
   * Set by formats that check payloads against a schema: why `event` can never be encoded, or
   * undefined when encode() will succeed. Delivery asks before publishing and dead-letters a refused
   * event at once (a payload never becomes valid), so it never reaches a sink or a batch.
   */
  readonly refuse?: (event: OutboxEvent) => FormatRefusal | undefined;
  /**
   * Set by formats that need something fetched before encode() can run (registry mode: the schema
   * id). Undefined when `event` can be encoded for `destination` now; else a promise that never
   * rejects and settles in call order: undefined once it can, or why it never will. Delivery asks
   * after refuse(), and publishes only once this settled.
   */
  readonly prepare?: (
    event: OutboxEvent,
    destination: ResolvedDestination,
  ) => Promise<FormatRefusal | undefined> | undefined;
}

/** Why a format cannot encode an event: a dead letter's reason label and error. */
export interface FormatRefusal {
  /**
   * `schema_invalid` (the payload does not fit its schema), `schema_missing` (no schema) or
   * `schema_rejected` (the schema registry refused the schema).
   */
  readonly reason: string;
  readonly message: string;
}

/** What formats are created from: the relay's settings that concern message formats. */
export interface FormatSettings {
  /** The database the outbox table lives in (DATABASE_URL's). */
  readonly database: string;
  /** The outbox table, schema-qualified (`public.outbox`). */
  readonly table: string;
  /** OUTBOX_CLOUDEVENTS_SOURCE, when set. */
  readonly cloudEventsSource: string | undefined;
  /** The schema files of OUTBOX_SCHEMAS_DIR, read at start-up; undefined when it is not set. */
  readonly schemas?: SchemaSet;
  /** Registry mode (SCHEMA_REGISTRY_URL): undefined when it is not set. */
  readonly schemaRegistry?: SchemaRegistryMode;
}

/** What the schema'd formats need to write Confluent's wire format with a registry's schema ids. */
export interface SchemaRegistryMode {
  readonly settings: SchemaRegistrySettings;
  readonly client: RegistryClient;
  /** Told about each failed registry request that will be retried (logged as a warning). */
  readonly onRetry: (error: unknown, subject: string, attempt: number) => void;
  /** The pause before retry `attempt` (tests shorten it). */
  readonly retryDelay?: (attempt: number) => Promise<void>;
}

/**
 * One message format: its name (in OUTBOX_FORMAT, the routes file and the metric label), its
 * routes-file options if it takes any, and how it is made. A route names a format by its name
 * (`format: cloudevents`) or, when it takes options, as a single key holding them
 * (`format: { cloudevents: { source: orders } }`).
 */
export interface FormatDescriptor<Options = unknown> {
  readonly name: string;
  /** Its routes-file options; absent when the format takes none. */
  readonly options?: {
    /** Their fields, as shown in `expected ...` messages (`source`). */
    readonly synopsis: string;
    /** Their schema; its error messages are the routes file's. */
    readonly schema: z.ZodType<Options, unknown>;
  };
  /**
   * Makes the format, once per distinct spelling at start-up. `options` is undefined when the
   * format is named alone (by a route or OUTBOX_FORMAT). Pure.
   */
  create(settings: FormatSettings, options: Options | undefined): MessageFormat;
}

/** A descriptor of any format: the registry's element type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFormatDescriptor = FormatDescriptor<any>;

/** Type-checks a descriptor's parts against each other and keeps its literal name. */
export function defineFormat<const Name extends string, Options>(
  descriptor: FormatDescriptor<Options> & { readonly name: Name },
): FormatDescriptor<Options> & { readonly name: Name } {
  return descriptor;
}

/** The UTF-8 bytes of an encoded message's key, body and headers (names and values). */
export function encodedBytes(message: EncodedMessage): number {
  let size = Buffer.byteLength(message.key) + Buffer.byteLength(message.body);
  const headers = message.headers;
  for (const name in headers) size += Buffer.byteLength(name) + Buffer.byteLength(headers[name]!);
  return size;
}
