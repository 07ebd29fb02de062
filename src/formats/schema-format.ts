// What the schema'd formats (avro, protobuf, json-schema) share: each event type's newest schema
// file of the format's kind, compiled once when the format is made; per event, the payload checked
// and encoded once (remembered per event, so the refusal check, the size check and the lazy Kafka
// record all use one encoding), and the native headers plus the schema's. In registry mode the body
// is framed in Confluent's wire format with the schema id of the destination's subject, fetched
// (prepare) before the message is built.
import { ConfigError } from '../config-fields.js';
import { newestOf } from '../schemas/files.js';
import type { SchemaFile, SchemaKind } from '../schemas/files.js';
import type { ResolvedDestination } from '../sinks/sink.js';
import type { OutboxEvent } from '../wal/event.js';
import { CONFLUENT_HEADER_BYTES, confluentHeader, subjectName } from './confluent-framing.js';
import { encodedBytes } from './format.js';
import type {
  EncodedMessage,
  FormatRefusal,
  FormatSettings,
  MessageFormat,
  SchemaRegistryMode,
} from './format.js';
import { messageHeaders } from './native.js';
import { SchemaIds } from './schema-registry.js';
import type { RegistrySchema } from './schema-registry.js';

/** One schema file, compiled: how a parsed payload is checked and written. */
export interface SchemaWriter {
  readonly contentType: string;
  /** Added to the native headers (`schema_version` is added for every format). */
  readonly headers: Readonly<Record<string, string>>;
  /** What is wrong with `value`, naming the field; undefined when it fits. */
  check(value: unknown): string | undefined;
  /** The body; `payload` is the JSON text `value` was parsed from. */
  encode(value: unknown, payload: string): string | Buffer;
  /** How the schema is registered in registry mode, and what its messages' bodies start with. */
  readonly registry: {
    readonly schema: RegistrySchema;
    /** The subject's record part: the record's or message's full name (RecordNameStrategy). */
    readonly recordName: string;
    /** Written between the schema id and the body (Protobuf's message indexes). */
    readonly prefix?: Buffer;
  };
}

export const SCHEMA_INVALID = 'schema_invalid';
export const SCHEMA_MISSING = 'schema_missing';

/** A schema file that does not compile, or a setting the format needs: exits 2 at start-up. */
export function schemaError(file: SchemaFile, problem: string): ConfigError {
  return new ConfigError('OUTBOX_SCHEMAS_DIR', `${file.name}: ${problem}`);
}

/**
 * `registry`: write Confluent's wire format with `settings.schemaRegistry`'s ids (the caller checked
 * that it is set); else the writer's body alone.
 */
export function schemaFormat(
  name: string,
  kind: SchemaKind,
  settings: FormatSettings,
  compile: (file: SchemaFile) => SchemaWriter,
  registry?: SchemaRegistryMode,
): MessageFormat {
  const { schemas } = settings;
  if (!schemas) throw new ConfigError('OUTBOX_SCHEMAS_DIR', `required: a route uses the ${name} format`);
  const writers = new Map<string, { file: SchemaFile; writer: SchemaWriter }>();
  for (const [eventType, file] of newestOf(schemas, kind))
    writers.set(eventType, { file, writer: compile(file) });
  const encoded = new WeakMap<OutboxEvent, EncodedMessage | FormatRefusal>();

  const encodeOnce = (event: OutboxEvent): EncodedMessage | FormatRefusal => {
    let result = encoded.get(event);
    if (!result) {
      result = encodeEvent(event);
      encoded.set(event, result);
    }
    return result;
  };
  const encodeEvent = (event: OutboxEvent): EncodedMessage | FormatRefusal => {
    const found = writers.get(event.eventType);
    if (!found)
      return {
        reason: SCHEMA_MISSING,
        message: `no ${name} schema for event type ${JSON.stringify(event.eventType)} in ${schemas.dir}`,
      };
    const { file, writer } = found;
    let value: unknown;
    try {
      value = JSON.parse(event.payload);
    } catch {
      return { reason: SCHEMA_INVALID, message: `${file.name}: the payload is not JSON` };
    }
    const problem = writer.check(value);
    if (problem !== undefined) return { reason: SCHEMA_INVALID, message: `${file.name}: ${problem}` };
    const headers: Record<string, string> = messageHeaders(event);
    Object.assign(headers, writer.headers);
    headers.schema_version = String(file.version);
    const createdAtMs = Date.parse(event.createdAt);
    return {
      key: event.aggregateId,
      body: writer.encode(value, event.payload),
      headers,
      id: event.id,
      type: event.eventType,
      contentType: writer.contentType,
      timestampSeconds: Number.isNaN(createdAtMs) ? undefined : Math.floor(createdAtMs / 1000),
    };
  };
  const message = (event: OutboxEvent): EncodedMessage => {
    const result = encodeOnce(event);
    // Delivery asked refuse() first: reaching this is a caller's mistake.
    if ('reason' in result) throw new Error(result.message);
    return result;
  };
  const refuse = (event: OutboxEvent): FormatRefusal | undefined => {
    const result = encodeOnce(event);
    return 'reason' in result ? result : undefined;
  };
  if (!registry)
    return {
      name,
      encode: message,
      body: (event) => message(event).body,
      sizeBound: (event) => encodedBytes(message(event)),
      refuse,
    };

  const ids = new SchemaIds({ ...registry, autoRegister: registry.settings.autoRegister });
  const { subjectStrategy } = registry.settings;
  const registration = (event: OutboxEvent, destination: ResolvedDestination | undefined) => {
    if (!destination) throw new Error(`the ${name} format in registry mode encodes for a destination`);
    const { writer } = writers.get(event.eventType)!;
    const subject = subjectName(subjectStrategy, topicOf(destination), writer.registry.recordName);
    return { subject, writer };
  };
  const framed = (event: OutboxEvent, destination: ResolvedDestination | undefined): EncodedMessage => {
    const unframed = message(event);
    const { subject, writer } = registration(event, destination);
    const id = ids.idOf(subject, writer.registry.schema);
    // Delivery waited for prepare(): reaching this is a caller's mistake.
    if (id === undefined) throw new Error(`no schema id for subject ${subject} yet`);
    const parts = [confluentHeader(id), writer.registry.prefix, Buffer.from(unframed.body)];
    return { ...unframed, body: Buffer.concat(parts.filter((part) => part !== undefined)) };
  };
  return {
    name,
    encode: framed,
    body: (event, destination) => framed(event, destination).body,
    // The framing's bytes added to the unframed message's, without building the framed body.
    sizeBound: (event, destination) =>
      encodedBytes(message(event)) +
      CONFLUENT_HEADER_BYTES +
      (registration(event, destination).writer.registry.prefix?.length ?? 0),
    refuse,
    prepare(event, destination) {
      const { subject, writer } = registration(event, destination);
      return ids.ready(subject, writer.registry.schema);
    },
  };
}

/** The name Confluent's TopicNameStrategy uses: a Kafka topic, a RabbitMQ exchange, else the label. */
function topicOf(destination: ResolvedDestination): string {
  const named = destination as ResolvedDestination & { topic?: unknown; exchange?: unknown };
  if (typeof named.topic === 'string') return named.topic;
  if (typeof named.exchange === 'string') return named.exchange;
  return destination.label;
}
