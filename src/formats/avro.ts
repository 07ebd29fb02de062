// The `avro` format: the JSON payload checked against its event type's newest `.avsc` and written in
// Avro binary, by default in the single-object encoding (C3 01, the writer schema's CRC-64-AVRO
// fingerprint, the body), so a consumer finds the writer schema by fingerprint in the same files.
// JSON maps onto Avro as avsc reads it: unions unwrapped (`null` or the value), logical types as
// their underlying type; bytes and fixed cannot come from JSON, so schemas using them are refused.
import avsc from 'avsc';
import { z } from 'zod';
import type { SchemaFile } from '../schemas/files.js';
import { singleObjectHeader } from './crc64-avro.js';
import { defineFormat } from './format.js';
import { schemaError, schemaFormat } from './schema-format.js';
import type { SchemaWriter } from './schema-format.js';

export const AVRO_CONTENT_TYPE = 'avro/binary';

export interface AvroOptions {
  /** `single-object` (default): header and body; `raw`: the body alone. */
  readonly framing?: 'single-object' | 'raw';
}

/** The file's schema as avsc compiles it; throws ConfigError naming the file. */
export function compileAvro(file: SchemaFile): avsc.Type {
  let type: avsc.Type;
  try {
    type = avsc.Type.forSchema(JSON.parse(file.text) as avsc.Schema);
  } catch (error) {
    throw schemaError(file, `not an Avro schema: ${(error as Error).message}`);
  }
  const binary = JSON.stringify(type.schema()).match(/"(bytes|fixed)"/);
  if (binary) throw schemaError(file, `${binary[1]} cannot be written from a JSON payload`);
  return type;
}

function avroWriter(file: SchemaFile, framing: 'single-object' | 'raw'): SchemaWriter {
  const type = compileAvro(file);
  const header = framing === 'raw' ? undefined : singleObjectHeader(JSON.stringify(type.schema()));
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
  };
}

export const avro = defineFormat({
  name: 'avro',
  options: {
    synopsis: 'framing',
    schema: z.strictObject({
      framing: z.enum(['single-object', 'raw'], { error: 'expected single-object or raw' }).optional(),
    }),
  },
  create: (settings, options: AvroOptions | undefined) =>
    schemaFormat('avro', 'avro', settings, (file) => avroWriter(file, options?.framing ?? 'single-object')),
});
