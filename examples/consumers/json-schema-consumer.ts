// A Kafka consumer of the `json-schema` format: the body is the payload's JSON as stored; the consumer
// checks it against the schema the `event_type` and `schema_version` headers name in the schemas
// directory the relay writes with (`<eventType>/v<N>.schema.json`), as a service does that trusts
// the contract but verifies it.
//
//   OUTBOX_FORMAT=json-schema OUTBOX_SCHEMAS_DIR=examples/schemas npm run example:relay
//   npm run example:json-schema-consumer     (OUTBOX_SCHEMAS_DIR, default examples/schemas; EXAMPLE_TOPIC)
//
// KAFKA_BROKERS says where; Ctrl-C stops it. A real service deduplicates on the `id` header (dedup.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { say } from '../env.js';
import { consumeTopic, header } from './topic.js';

const SCHEMAS_DIR = process.env.OUTBOX_SCHEMAS_DIR ?? 'examples/schemas';
const ajv = new Ajv();

/** Each file compiled once. */
const validators = new Map<string, ValidateFunction>();
function validatorOf(eventType: string, version: string): ValidateFunction {
  const file = join(SCHEMAS_DIR, eventType, `v${version}.schema.json`);
  let validate = validators.get(file);
  if (!validate) {
    validate = ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object);
    validators.set(file, validate);
  }
  return validate;
}

consumeTopic('json-schema-example', (message) => {
  if (!message.value) return;
  const eventType = header(message, 'event_type');
  const version = header(message, 'schema_version');
  const value: unknown = JSON.parse(message.value.toString());
  const validate = validatorOf(eventType, version);
  if (!validate(value)) throw new Error(`${eventType} v${version}: ${ajv.errorsText(validate.errors)}`);
  say(`${eventType} ${header(message, 'id')} v${version}: ${JSON.stringify(value)}`);
});
