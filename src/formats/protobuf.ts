// The `protobuf` format: the JSON payload checked against the message named after the event type in
// its newest `.proto` (protobufjs, field names as written in the file) and written in Protobuf
// binary; the message's full name travels in the `proto_message_type` header. With
// SCHEMA_REGISTRY_URL, in Confluent's wire format (the message indexes after the schema id).
import type protobuf from 'protobufjs';
import { loadProtobuf } from './confluent-framing.js';
import type { SchemaFile } from '../schemas/files.js';
import { encodeMessageIndexes, protobufMessageIndexes } from './confluent-framing.js';
import { defineFormat } from './format.js';
import { schemaError, schemaFormat } from './schema-format.js';
import type { SchemaWriter } from './schema-format.js';

export const PROTOBUF_CONTENT_TYPE = 'application/x-protobuf';

/** The message type named after the file's event type; throws ConfigError naming the file. */
export function compileProtobuf(file: SchemaFile): protobuf.Type {
  try {
    const { root } = loadProtobuf().parse(file.text, { keepCase: true });
    root.resolveAll();
    return root.lookupType(file.eventType);
  } catch (error) {
    throw schemaError(
      file,
      `not a Protobuf file with a message ${file.eventType}: ${(error as Error).message}`,
    );
  }
}

/** protobufjs' verify ignores fields the message does not declare: a misspelt field would be lost. */
function undeclaredField(type: protobuf.Type, value: unknown, path: string): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const field = type.fields[key];
    if (!field) return `${path}${key}: not a field of ${type.fullName.slice(1)}`;
    if (!(field.resolvedType instanceof loadProtobuf().Type) || field.map) continue;
    for (const element of field.repeated && Array.isArray(item) ? item : [item]) {
      const inner = undeclaredField(field.resolvedType, element, `${path}${key}.`);
      if (inner) return inner;
    }
  }
  return undefined;
}

function protobufWriter(file: SchemaFile): SchemaWriter {
  const type = compileProtobuf(file);
  return {
    contentType: PROTOBUF_CONTENT_TYPE,
    headers: { 'content-type': PROTOBUF_CONTENT_TYPE, proto_message_type: type.fullName.slice(1) },
    check(value) {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        return 'expected a JSON object';
      return type.verify(value) ?? undeclaredField(type, value, '');
    },
    encode(value) {
      const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    registry: {
      schema: { schemaType: 'PROTOBUF', schema: file.text },
      recordName: type.fullName.slice(1),
      prefix: encodeMessageIndexes(protobufMessageIndexes(type)),
    },
  };
}

export const protobufFormat = defineFormat({
  name: 'protobuf',
  create: (settings) =>
    schemaFormat('protobuf', 'protobuf', settings, protobufWriter, settings.schemaRegistry),
});
