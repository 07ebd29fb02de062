// How an independent consumer reads the avro, protobuf and json-schema formats back from the schema
// files alone, with avsc and protobufjs and nothing of src/: the writer schema of an Avro message is
// found by its fingerprint among the `.avsc` files, a Protobuf message type by its header.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import avsc from 'avsc';
import protobuf from 'protobufjs';

/**
 * CRC-64-AVRO as the Avro specification's reference code writes it ("Schema Fingerprints"), written
 * here again so the tests do not check src/formats/crc64-avro.ts against itself: avsc's own
 * fingerprint() offers only crypto hashes (md5, sha256), not the single-object encoding's.
 */
const AVRO_EMPTY = 0xc15d213aa4d7a795n;
const FP_TABLE = Array.from({ length: 256 }, (_, i) => {
  let fp = BigInt(i);
  for (let j = 0; j < 8; j++) fp = BigInt.asUintN(64, (fp >> 1n) ^ (AVRO_EMPTY * (fp & 1n)));
  return fp;
});
export function avroFingerprint(canonicalForm: string): bigint {
  let fp = AVRO_EMPTY;
  for (const byte of new TextEncoder().encode(canonicalForm))
    fp = (fp >> 8n) ^ FP_TABLE[Number((fp ^ BigInt(byte)) & 0xffn)]!;
  return fp;
}

export interface AvroSchemaFile {
  readonly name: string;
  readonly type: avsc.Type;
}

/** Every `<eventType>/v<N>.avsc` of `dir`, by the fingerprint of its Parsing Canonical Form. */
export function avroSchemasByFingerprint(dir: string): Map<bigint, AvroSchemaFile> {
  const found = new Map<bigint, AvroSchemaFile>();
  for (const eventType of readdirSync(dir)) {
    for (const file of readdirSync(join(dir, eventType)).filter((name) => name.endsWith('.avsc'))) {
      const type = avsc.Type.forSchema(
        JSON.parse(readFileSync(join(dir, eventType, file), 'utf8')) as avsc.Schema,
      );
      // avsc's schema() is the Parsing Canonical Form.
      found.set(avroFingerprint(JSON.stringify(type.schema())), { name: `${eventType}/${file}`, type });
    }
  }
  return found;
}

/**
 * Decodes a single-object-encoded body: checks the marker C3 01, finds the writer schema by the
 * fingerprint, and reads the value as `reader` sees it (avsc's resolver when it is another version).
 * Returns the value and the writer schema's file.
 */
export function decodeAvro(
  schemas: Map<bigint, AvroSchemaFile>,
  body: Buffer,
  reader?: avsc.Type,
): { value: unknown; writer: string } {
  assert.deepEqual([...body.subarray(0, 2)], [0xc3, 0x01], 'the single-object marker C3 01');
  const fingerprint = body.readBigUInt64LE(2);
  const writer = schemas.get(fingerprint);
  assert.ok(writer, `a schema file with fingerprint ${fingerprint.toString(16)}`);
  const payload = body.subarray(10);
  const value: unknown =
    reader === undefined || reader.equals(writer.type)
      ? writer.type.fromBuffer(payload)
      : reader.fromBuffer(payload, reader.createResolver(writer.type));
  return { value: { ...(value as object) }, writer: writer.name };
}

/**
 * Decodes a Protobuf body with the message type its `proto_message_type` header names, from the
 * file its `event_type` and `schema_version` headers name; enums as names, 64-bit integers as numbers.
 */
export function decodeProtobuf(dir: string, body: Buffer, headers: Record<string, string>): unknown {
  const file = join(dir, headers['event_type']!, `v${headers['schema_version']}.proto`);
  const { root } = protobuf.parse(readFileSync(file, 'utf8'), { keepCase: true });
  const type = root.lookupType(headers['proto_message_type']!);
  return type.toObject(type.decode(body), { enums: String, longs: Number, arrays: true });
}
