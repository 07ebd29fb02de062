// A Kafka consumer of the `avro` format that needs no schema registry: it reads every `.avsc` of the
// schemas directory the relay writes with, indexes them by their CRC-64-AVRO fingerprint, and decodes
// each message (single-object encoding: C3 01, fingerprint, body) with the writer schema it names.
//
//   OUTBOX_SCHEMAS_DIR=... EXAMPLE_TOPIC=... node --import tsx examples/consumers/avro-consumer.ts
//
// KAFKA_BROKERS says where; Ctrl-C stops it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import avsc from 'avsc';
import { Kafka, logLevel } from 'kafkajs';
import { crc64Avro } from '../../src/formats/crc64-avro.js';
import { KAFKA_BROKERS, say } from '../env.js';

const SCHEMAS_DIR = process.env.OUTBOX_SCHEMAS_DIR ?? 'schemas';
const TOPIC = process.env.EXAMPLE_TOPIC ?? 'example.orders';

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

async function main(): Promise<void> {
  const schemas = writerSchemas(SCHEMAS_DIR);
  const consumer = new Kafka({ brokers: KAFKA_BROKERS, logLevel: logLevel.WARN }).consumer({
    groupId: 'avro-example',
  });
  await consumer.connect();
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      if (!message.value) return Promise.resolve();
      const value = decodeSingleObject(schemas, message.value);
      say(
        `${message.headers?.event_type?.toString()} v${message.headers?.schema_version?.toString()}: ${JSON.stringify(value)}`,
      );
      return Promise.resolve();
    },
  });
  process.once('SIGINT', () => void consumer.disconnect());
}

await main();
