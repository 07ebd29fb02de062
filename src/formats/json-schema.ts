// The `json-schema` format: the payload checked against its event type's newest `.schema.json`
// (ajv, compiled once) and passed on unchanged, with the native headers and `schema_version`.
import { Ajv } from 'ajv';
import type { SchemaFile } from '../schemas/files.js';
import { defineFormat } from './format.js';
import { schemaError, schemaFormat } from './schema-format.js';
import type { SchemaWriter } from './schema-format.js';

const ajv = new Ajv({ allErrors: false, strict: false });

function jsonSchemaWriter(file: SchemaFile): SchemaWriter {
  let validate: ReturnType<Ajv['compile']>;
  try {
    validate = ajv.compile(JSON.parse(file.text) as object);
  } catch (error) {
    throw schemaError(file, `not a JSON Schema: ${(error as Error).message}`);
  }
  return {
    contentType: 'application/json',
    headers: {},
    check: (value) => (validate(value) ? undefined : ajv.errorsText(validate.errors, { dataVar: 'payload' })),
    encode: (_value, payload) => payload,
  };
}

export const jsonSchema = defineFormat({
  name: 'json-schema',
  create: (settings) => schemaFormat('json-schema', 'json-schema', settings, jsonSchemaWriter),
});
