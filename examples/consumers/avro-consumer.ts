// A Kafka consumer of the `avro` format that needs no schema registry: it reads every `.avsc` of the
// schemas directory the relay writes with, indexes them by their CRC-64-AVRO fingerprint, and decodes
// each message (single-object encoding: C3 01, fingerprint, body) with the writer schema it names.
//
//   OUTBOX_FORMAT=avro OUTBOX_SCHEMAS_DIR=examples/schemas npm run example:relay
//   npm run example:avro-consumer     (OUTBOX_SCHEMAS_DIR, default examples/schemas; EXAMPLE_TOPIC)
//
// KAFKA_BROKERS says where; Ctrl-C stops it. A real service deduplicates on the `id` header (dedup.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import avsc from 'avsc';
import { crc64Avro } from '../../src/formats/crc64-avro.js';
import { say } from '../env.js';
import { consumeTopic, header } from './topic.js';

const SCHEMAS_DIR = process.env.OUTBOX_SCHEMAS_DIR ?? 'examples/schemas';

/** Every `<eventType>/v<N>.avsc`, by the fingerprint of its Parsing Canonical Form. */
export function writerSchemas(dir: string): Map<bigint, avsc.Type> {
  const byFingerprint = new Map<bigint, avsc.Type>();
  for (const eventType of readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory())) {
    for (const file of readdirSync(join(dir, eventType.name)).filter((name) => name.endsWith('.avsc'))) {
      const text = readFileSync(join(dir, eventType.name, file), 'utf8');
      const type = avsc.Type.forSchema(JSON.parse(text) as avsc.Schema);
      byFingerprint.set(crc64Avro(JSON.stringify(type.schema())), type);
    }
  }
  return byFingerprint;
}

/** The value of one single-object-encoded message. */
export function decodeSingleObject(schemas: Map<bigint, avsc.Type>, body: Buffer): unknown {
  if (body[0] !== 0xc3 || body[1] !== 0x01) throw new Error('not an Avro single-object encoding');
  const fingerprint = body.readBigUInt64LE(2);
  const type = schemas.get(fingerprint);
  if (!type) throw new Error(`no schema with fingerprint ${fingerprint.toString(16)} in ${SCHEMAS_DIR}`);
  return type.fromBuffer(body.subarray(10));
}

const schemas = writerSchemas(SCHEMAS_DIR);
consumeTopic('avro-example', (message) => {
  if (!message.value) return;
  const value = decodeSingleObject(schemas, message.value);
  say(
    `${header(message, 'event_type')} ${header(message, 'id')} v${header(message, 'schema_version')}: ${JSON.stringify(value)}`,
  );
});
