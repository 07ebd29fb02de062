// The `json-schema` format: the payload checked against its event type's newest `.schema.json`
// (ajv, compiled once) and passed on unchanged, with the native headers and `schema_version`. With
// SCHEMA_REGISTRY_URL, after Confluent's magic byte and schema id.
import type * as ajvModule from 'ajv';
import type { Ajv } from 'ajv';
import { lazyModule } from '../lazy-module.js';
import type { SchemaFile } from '../schemas/files.js';
import { defineFormat } from './format.js';
import { schemaError, schemaFormat } from './schema-format.js';
import type { SchemaWriter } from './schema-format.js';

const loadAjv = lazyModule<typeof ajvModule>('ajv');
let ajvInstance: Ajv | undefined;
function ajv(): Ajv {
  ajvInstance ??= new (loadAjv().Ajv)({ allErrors: false, strict: false });
  return ajvInstance;
}

function jsonSchemaWriter(file: SchemaFile): SchemaWriter {
  let validate: ReturnType<Ajv['compile']>;
  let schema: { title?: unknown };
  try {
    schema = JSON.parse(file.text) as { title?: unknown };
    validate = ajv().compile(schema);
  } catch (error) {
    throw schemaError(file, `not a JSON Schema: ${(error as Error).message}`);
  }
  return {
    contentType: 'application/json',
    headers: {},
    check: (value) =>
      validate(value) ? undefined : ajv().errorsText(validate.errors, { dataVar: 'payload' }),
    encode: (_value, payload) => payload,
    registry: {
      schema: { schemaType: 'JSON', schema: file.text },
      // Confluent's JSON Schema serializer names the record after the schema's title.
      recordName: typeof schema.title === 'string' ? schema.title : file.eventType,
    },
  };
}

export const jsonSchema = defineFormat({
  name: 'json-schema',
  create: (settings) =>
    schemaFormat('json-schema', 'json-schema', settings, jsonSchemaWriter, settings.schemaRegistry),
});
