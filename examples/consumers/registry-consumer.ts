// A Kafka consumer of registry mode (SCHEMA_REGISTRY_URL): Confluent's own deserializers
// (@confluentinc/schemaregistry) fetch each message's writer schema from the registry by the id in
// its first five bytes and decode it, Avro or JSON Schema alike (by the `content-type` header).
//
//   bash deploy/local/schema-registry.sh start
//   SCHEMA_REGISTRY_URL=http://127.0.0.1:18081/apis/ccompat/v6 OUTBOX_FORMAT=avro \
//     OUTBOX_SCHEMAS_DIR=examples/schemas npm run example:relay
//   npm run example:registry-consumer     (SCHEMA_REGISTRY_URL; EXAMPLE_TOPIC)
//
// KAFKA_BROKERS says where; Ctrl-C stops it. A real service deduplicates on the `id` header (dedup.ts).
import {
  AvroDeserializer,
  JsonDeserializer,
  SchemaRegistryClient,
  SerdeType,
} from '@confluentinc/schemaregistry';
import { say } from '../env.js';
import { consumeTopic, header, TOPIC } from './topic.js';

const registry = new SchemaRegistryClient({
  baseURLs: [process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:18081/apis/ccompat/v6'],
});
const avro = new AvroDeserializer(registry, SerdeType.VALUE, {});
const json = new JsonDeserializer(registry, SerdeType.VALUE, {});

// Messages are decoded one after another, in the order they arrive.
let decoded: Promise<void> = Promise.resolve();
consumeTopic('registry-example', (message) => {
  const body = message.value;
  if (!body) return;
  const deserializer = header(message, 'content-type') === 'avro/binary' ? avro : json;
  decoded = decoded
    .then(() => deserializer.deserialize(TOPIC, body))
    .then((value: unknown) =>
      say(
        `${header(message, 'event_type')} ${header(message, 'id')} schema id ${body.readUInt32BE(1)}: ${JSON.stringify(value)}`,
      ),
    )
    .catch((error: unknown) => {
      say(`cannot decode ${header(message, 'id')}: ${(error as Error).message}`);
      process.exitCode = 1;
    });
});
