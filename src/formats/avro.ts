// The `avro` format: the JSON payload checked against its event type's newest `.avsc` and written in
// Avro binary, by default in the single-object encoding (C3 01, the writer schema's CRC-64-AVRO
// fingerprint, the body), so a consumer finds the writer schema by fingerprint in the same files.
// JSON maps onto Avro as avsc reads it: unions unwrapped (`null` or the value), logical types as
// their underlying type; bytes and fixed cannot come from JSON, so schemas using them are refused.
import type avsc from 'avsc';
import { ConfigError } from '../config-fields.js';
import { lazyModule } from '../lazy-module.js';
import * as z from 'zod';
import type { SchemaFile } from '../schemas/files.js';
import { singleObjectHeader } from './crc64-avro.js';
import { defineFormat } from './format.js';
import type { FormatSettings } from './format.js';
import { schemaError, schemaFormat } from './schema-format.js';
import type { SchemaWriter } from './schema-format.js';

export const AVRO_CONTENT_TYPE = 'avro/binary';

export interface AvroOptions {
  /**
   * `single-object` (default without a registry): header and body; `raw`: the body alone;
   * `confluent` (default with SCHEMA_REGISTRY_URL): Confluent's wire format.
   */
  readonly framing?: AvroFraming;
}

const loadAvsc = lazyModule<typeof avsc>('avsc');

const FRAMINGS = ['single-object', 'raw', 'confluent'] as const;
type AvroFraming = (typeof FRAMINGS)[number];

/** The file's schema as avsc compiles it; throws ConfigError naming the file. */
export function compileAvro(file: SchemaFile): avsc.Type {
  let type: avsc.Type;
  try {
    type = loadAvsc().Type.forSchema(JSON.parse(file.text) as avsc.Schema);
  } catch (error) {
    throw schemaError(file, `not an Avro schema: ${(error as Error).message}`);
  }
  const binary = JSON.stringify(type.schema()).match(/"(bytes|fixed)"/);
  if (binary) throw schemaError(file, `${binary[1]} cannot be written from a JSON payload`);
  return type;
}

function avroWriter(file: SchemaFile, framing: AvroFraming): SchemaWriter {
  const type = compileAvro(file);
  const header = framing === 'single-object' ? singleObjectHeader(JSON.stringify(type.schema())) : undefined;
  return {
    contentType: AVRO_CONTENT_TYPE,
    headers: { 'content-type': AVRO_CONTENT_TYPE },
    check(value) {
      let problem: string | undefined;
      const valid = type.isValid(value, {
        noUndeclaredFields: true,
        errorHook: (path, any, fieldType) => {
          problem ??= `${path.length ? path.join('.') : 'the payload'}: ${JSON.stringify(any) ?? 'missing'} is not a valid ${fieldType.toString()}`;
        },
      });
      return valid ? undefined : (problem ?? 'the payload does not fit the schema (undeclared field)');
    },
    encode(value) {
      const body = type.toBuffer(value);
      return header ? Buffer.concat([header, body]) : body;
    },
    registry: {
      schema: { schemaType: 'AVRO', schema: file.text },
      recordName: type.name ?? file.eventType,
    },
  };
}

function avroFormat(settings: FormatSettings, options: AvroOptions | undefined) {
  const framing = options?.framing ?? (settings.schemaRegistry ? 'confluent' : 'single-object');
  if (framing === 'confluent' && !settings.schemaRegistry)
    throw new ConfigError(
      'SCHEMA_REGISTRY_URL',
      'required: a route uses the avro format with framing confluent',
    );
  const registry = framing === 'confluent' ? settings.schemaRegistry : undefined;
  return schemaFormat('avro', 'avro', settings, (file) => avroWriter(file, framing), registry);
}

export const avro = defineFormat({
  name: 'avro',
  options: {
    synopsis: 'framing',
    schema: z.strictObject({
      framing: z.enum(FRAMINGS, { error: `expected ${FRAMINGS.join(', ')}` }).optional(),
    }),
  },
  create: avroFormat,
});
