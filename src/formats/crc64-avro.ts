// CRC-64-AVRO, the fingerprint of Avro's single-object encoding, as the Avro specification gives it
// ("Schema Fingerprints"): avsc offers only crypto hashes (md5, sha256). Computed over a schema's
// Parsing Canonical Form; written little-endian after the marker C3 01.
const EMPTY = 0xc15d213aa4d7a795n;
const MASK = 0xffffffffffffffffn;

const TABLE: readonly bigint[] = Array.from({ length: 256 }, (_, index) => {
  let fp = BigInt(index);
  for (let bit = 0; bit < 8; bit++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK);
  return fp;
});

/** The CRC-64-AVRO fingerprint of `text`'s UTF-8 bytes. Runs once per schema, at start-up. */
export function crc64Avro(text: string): bigint {
  let fp = EMPTY;
  for (const byte of Buffer.from(text, 'utf8')) fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(byte)) & 0xffn)]!;
  return fp;
}

/** The single-object encoding's header: C3 01, then the fingerprint little-endian. */
export function singleObjectHeader(canonicalSchema: string): Buffer {
  const header = Buffer.alloc(10);
  header[0] = 0xc3;
  header[1] = 0x01;
  header.writeBigUInt64LE(crc64Avro(canonicalSchema), 2);
  return header;
}
