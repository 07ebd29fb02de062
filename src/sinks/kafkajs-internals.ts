// The one place the relay reaches into kafkajs' internals, for speed; the bytes on the wire stay
// kafkajs' own. Three replacements, each installed in kafkajs' module cache before the module that
// takes it loads:
// - the record encoder (below): the same bytes in one buffer per record;
// - the grouping of a batch's messages per partition (groupMessagesPerPartition.js), which copies
//   each partition's array for every message it adds (quadratic in the batch: ~6 % of the relay's
//   CPU with batches of thousands); replaced by a linear one with the same result;
// - the batch checksum (recordBatch/crc32C), a byte-at-a-time CRC-32C over every batch; replaced by
//   the maintained `crc-32` package's (same values, about four times faster here).
//
// The record encoder:
// kafkajs encodes each record's headers with a new Encoder apiece (a zero-filled 512-byte
// Buffer.alloc each) and every varint through Buffer.from([...]): about fifteen Buffer allocations
// per message, which made up most of the relay's CPU with the contract's six headers (see
// bench/README.md, "Where the relay's CPU goes"). This module computes the record's size first, as
// kafkajs does, then writes everything into one Encoder of that size.
//
// kafkajs loads its produce request (which takes the record encoder) on the first produce;
// installRecordEncoder() puts this encoder in its place in the module cache before that. The Kafka
// sink's factory (kafka.ts) calls it, logs the outcome and reports it as the gauge
// outbox_relay_kafka_record_encoder_active. Installed later, or with a kafkajs whose files moved, it
// changes nothing: kafkajs' own encoder, which writes the same bytes, stays in use.
// test/unit/kafkajs-internals.test.ts compares the bytes of both, and fails when those files move.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const crc32c = require('crc-32/crc32c') as { buf(data: Uint8Array, seed?: number): number };

/** What kafkajs' Encoder offers that this module uses (kafkajs/src/protocol/encoder.js). */
interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
  ensureAvailable(length: number): void;
  writeInt8(value: number): KafkajsEncoder;
  writeVarLong(value: number): KafkajsEncoder;
  readonly buffer: Buffer;
}

interface EncoderClass {
  new (initialSize?: number): KafkajsEncoder;
  sizeOfVarInt(value: number): number;
  sizeOfVarLong(value: number): number;
}

type HeaderValue = string | Buffer | null | undefined;

export interface RecordInput {
  readonly offsetDelta?: number;
  readonly timestampDelta?: number;
  readonly key?: string | Buffer | null;
  readonly value: string | Buffer | null;
  readonly headers?: Readonly<Record<string, HeaderValue | readonly HeaderValue[]>>;
}

export type RecordEncoder = (record: RecordInput) => KafkajsEncoder;

export const ENCODER_MODULE = 'kafkajs/src/protocol/encoder';
export const RECORD_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0';
export const GROUPING_MODULE = 'kafkajs/src/producer/groupMessagesPerPartition';
export const CRC_MODULE = 'kafkajs/src/protocol/recordBatch/crc32C';
/** Loaded with kafkajs itself: it takes the grouping function when it loads. */
export const SEND_MESSAGES_MODULE = 'kafkajs/src/producer/sendMessages';
/** Loaded on the first produce: it takes the checksum when it loads. */
export const RECORD_BATCH_MODULE = 'kafkajs/src/protocol/recordBatch/v0';

let installed = false;

/** kafkajs' own record encoder, or undefined when its files are not where this module expects. */
export function kafkajsRecordEncoder(): RecordEncoder | undefined {
  try {
    return require(RECORD_MODULE) as RecordEncoder;
  } catch {
    return undefined;
  }
}

/** Creates this module's encoder on top of kafkajs' Encoder class. */
export function createRecordEncoder(): RecordEncoder | undefined {
  let Encoder: EncoderClass;
  try {
    Encoder = require(ENCODER_MODULE) as EncoderClass;
  } catch {
    return undefined;
  }
  return ({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }) => {
    const pairs: [string, HeaderValue][] = [];
    for (const name of Object.keys(headers)) {
      const entry = headers[name];
      if (Array.isArray(entry)) for (const item of entry as HeaderValue[]) pairs.push([name, item]);
      else pairs.push([name, entry as HeaderValue]);
    }
    let headersSize = Encoder.sizeOfVarInt(pairs.length);
    for (const [name, item] of pairs) {
      const nameSize = Buffer.byteLength(name);
      headersSize += Encoder.sizeOfVarInt(nameSize) + nameSize + sizeOfBytes(Encoder, item);
    }
    const bodySize =
      1 + // attributes
      Encoder.sizeOfVarLong(timestampDelta) +
      Encoder.sizeOfVarInt(offsetDelta) +
      sizeOfBytes(Encoder, key) +
      sizeOfBytes(Encoder, value) +
      headersSize;
    const encoder = new Encoder(bodySize + Encoder.sizeOfVarInt(bodySize));
    writeVarInt(encoder, bodySize);
    encoder.writeInt8(0);
    if (Math.abs(timestampDelta) < 2 ** 30) writeVarInt(encoder, timestampDelta);
    else encoder.writeVarLong(timestampDelta);
    writeVarInt(encoder, offsetDelta);
    writeBytes(encoder, key);
    writeBytes(encoder, value);
    writeVarInt(encoder, pairs.length);
    for (const [name, item] of pairs) {
      writeBytes(encoder, name);
      writeBytes(encoder, item);
    }
    return encoder;
  };
}

/**
 * Makes kafkajs encode records with createRecordEncoder() from its next produce on. Idempotent;
 * returns whether this encoder is (now) the one kafkajs will load.
 */
export function installRecordEncoder(): boolean {
  if (installed) return true;
  const encode = createRecordEncoder();
  if (!encode || !kafkajsRecordEncoder()) return false;
  const cached = require.cache[require.resolve(RECORD_MODULE)];
  if (!cached) return false;
  cached.exports = encode;
  installed = true;
  return true;
}

function sizeOfBytes(Encoder: EncoderClass, value: string | Buffer | null | undefined): number {
  if (value === null || value === undefined) return Encoder.sizeOfVarInt(-1);
  const size = Buffer.isBuffer(value) ? value.length : Buffer.byteLength(String(value));
  return Encoder.sizeOfVarInt(size) + size;
}

// Zigzag, then LEB128: kafkajs' writeVarInt, written in place instead of through Buffer.from.
function writeVarInt(encoder: KafkajsEncoder, value: number): void {
  let rest = ((value << 1) ^ (value >> 31)) >>> 0;
  encoder.ensureAvailable(5);
  const { buf } = encoder;
  while ((rest & 0xffffff80) !== 0) {
    buf[encoder.offset++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  buf[encoder.offset++] = rest;
}

// kafkajs' writeVarIntBytes (and writeVarIntString, the same bytes for a string).
function writeBytes(encoder: KafkajsEncoder, value: string | Buffer | null | undefined): void {
  if (value === null || value === undefined) {
    writeVarInt(encoder, -1);
    return;
  }
  if (Buffer.isBuffer(value)) {
    writeVarInt(encoder, value.length);
    encoder.ensureAvailable(value.length);
    value.copy(encoder.buf, encoder.offset);
    encoder.offset += value.length;
    return;
  }
  const text = String(value);
  const length = Buffer.byteLength(text, 'utf8');
  writeVarInt(encoder, length);
  encoder.ensureAvailable(length);
  encoder.buf.write(text, encoder.offset, length, 'utf8');
  encoder.offset += length;
}

type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;
export type GroupMessages = (args: {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: Partitioner;
}) => Record<number, unknown[]>;

/** kafkajs' grouping, in one pass: each partition's messages in their order, as kafkajs returns them. */
export const groupMessagesPerPartition: GroupMessages = ({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}) => {
  const groups: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return groups;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (groups[partition] ??= []).push(message);
  }
  return groups;
};

/** CRC-32C of a buffer as kafkajs' checksum returns it (unsigned). */
export function batchChecksum(buffer: Buffer): number {
  return crc32c.buf(buffer) >>> 0;
}

/**
 * Puts the linear grouping and the faster checksum in kafkajs' module cache. Call it before kafkajs
 * is first imported (its producer takes the grouping when it loads); returns whether both are the
 * ones kafkajs will use. Idempotent.
 */
export function installBatchHelpers(): boolean {
  if (batchHelpersInstalled) return true;
  try {
    if (isLoaded(SEND_MESSAGES_MODULE) || isLoaded(RECORD_BATCH_MODULE)) return false;
    require(GROUPING_MODULE);
    require(CRC_MODULE);
  } catch {
    return false;
  }
  require.cache[require.resolve(GROUPING_MODULE)]!.exports = groupMessagesPerPartition;
  require.cache[require.resolve(CRC_MODULE)]!.exports = batchChecksum;
  batchHelpersInstalled = true;
  return true;
}

let batchHelpersInstalled = false;

function isLoaded(path: string): boolean {
  return require.cache[require.resolve(path)] !== undefined;
}
