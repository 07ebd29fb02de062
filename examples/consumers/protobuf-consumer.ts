// A Kafka consumer of the `protobuf` format that needs no schema registry: the message type is the
// `proto_message_type` header, looked up in the `.proto` the `event_type` and `schema_version` headers
// name in the schemas directory the relay writes with (`<eventType>/v<N>.proto`).
//
//   OUTBOX_FORMAT=protobuf OUTBOX_SCHEMAS_DIR=examples/schemas npm run example:relay
//   npm run example:protobuf-consumer     (OUTBOX_SCHEMAS_DIR, default examples/schemas; EXAMPLE_TOPIC)
//
// KAFKA_BROKERS says where; Ctrl-C stops it. A real service deduplicates on the `id` header (dedup.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { say } from '../env.js';
import { consumeTopic, header } from './topic.js';

const SCHEMAS_DIR = process.env.OUTBOX_SCHEMAS_DIR ?? 'examples/schemas';

/** Each file parsed once; field names as written in it, as the relay reads them. */
const roots = new Map<string, protobuf.Root>();
function messageType(eventType: string, version: string, name: string): protobuf.Type {
  const file = join(SCHEMAS_DIR, eventType, `v${version}.proto`);
  let root = roots.get(file);
  if (!root) {
    root = protobuf.parse(readFileSync(file, 'utf8'), { keepCase: true }).root;
    roots.set(file, root);
  }
  return root.lookupType(name);
}

consumeTopic('protobuf-example', (message) => {
  if (!message.value) return;
  const eventType = header(message, 'event_type');
  const version = header(message, 'schema_version');
  const type = messageType(eventType, version, header(message, 'proto_message_type'));
  // Enums by name and 64-bit integers as numbers: what the JSON payload held.
  const value = type.toObject(type.decode(message.value), { enums: String, longs: Number });
  say(`${eventType} ${header(message, 'id')} v${version}: ${JSON.stringify(value)}`);
});
