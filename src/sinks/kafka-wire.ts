// Kafka's wire format for what the relay produces, written in one pass into one buffer: a produce
// request's body (topics, partitions, record batches of magic 2, their records) and the request
// frame around it. Pure: no kafkajs here. kafkajs-internals.ts hands these to kafkajs in place of
// its own encoders, which build the same bytes through a chain of growing buffers (every byte of a
// batch copied about seven times, one buffer per record and header); the unit test compares bytes.
//
// Record batch layout (KIP-98): baseOffset int64, batchLength int32, partitionLeaderEpoch int32,
// magic int8 = 2, crc uint32 (CRC-32C of everything after it), attributes int16, lastOffsetDelta
// int32, baseTimestamp int64, maxTimestamp int64, producerId int64, producerEpoch int16,
// baseSequence int32, records count int32, then the records (varint-framed).
import { createRequire } from 'node:module';
import {
  byteLength,
  Cursor,
  Measures,
  sizeOfString,
  sizeOfVarBytes,
  sizeOfVarInt,
  sizeOfVarLong,
} from './kafka-wire-cursor.js';

const require = createRequire(import.meta.url);
const crc32c = require('crc-32/crc32c') as { buf(data: Uint8Array, seed?: number): number };

export type HeaderValue = string | Buffer | null | undefined;

/** One message as kafkajs' producer hands it to the request encoder. */
export interface WireMessage {
  readonly key?: string | Buffer | null;
  readonly value: string | Buffer | null;
  readonly headers?: Readonly<Record<string, HeaderValue | readonly HeaderValue[]>>;
  readonly timestamp?: number | string | null;
}

export interface WirePartition {
  readonly partition: number;
  readonly firstSequence?: number;
  readonly messages: readonly WireMessage[];
}

export interface ProduceBody {
  readonly transactionalId: string | null;
  readonly acks: number;
  readonly timeout: number;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly topicData: readonly { readonly topic: string; readonly partitions: readonly WirePartition[] }[];
  /** The time records without a timestamp of their own get (kafkajs: Date.now() per partition). */
  readonly now: number;
}

/** A record batch's fixed part after baseOffset and batchLength, up to the records count. */
const BATCH_HEADER_AFTER_LENGTH = 4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4;
const TRANSACTIONAL_ATTRIBUTE = 16;

/** One for every request: encoding is synchronous (kafka-wire-cursor.ts, Measures). */
const measures = new Measures();

/** A header's values: an array value is one header per item, as kafkajs does. */
function headerItems(entry: HeaderValue | readonly HeaderValue[]): readonly HeaderValue[] | undefined {
  return Array.isArray(entry) ? (entry as readonly HeaderValue[]) : undefined;
}

/** Measures a record into `measures`; returns its size with its leading varint. */
function measureRecord(message: WireMessage, offsetDelta: number, timestampDelta: number): number {
  const bodySizeAt = measures.reserve();
  const keyLength = byteLength(message.key);
  const valueLength = byteLength(message.value);
  measures.push(keyLength);
  measures.push(valueLength);
  const countAt = measures.reserve();
  let count = 0;
  let headersSize = 0;
  const { headers } = message;
  // Loops rather than a callback per header: a closure per record is what this replaces.
  for (const name in headers) {
    const entry = headers[name];
    const items = headerItems(entry);
    const nameLength = Buffer.byteLength(name);
    for (let i = 0; i < (items ? items.length : 1); i++) {
      const itemLength = byteLength(items ? items[i] : (entry as HeaderValue));
      measures.push(nameLength);
      measures.push(itemLength);
      headersSize += sizeOfVarBytes(nameLength) + sizeOfVarBytes(itemLength);
      count += 1;
    }
  }
  measures.set(countAt, count);
  const bodySize =
    1 + // attributes
    sizeOfVarLong(timestampDelta) +
    sizeOfVarInt(offsetDelta) +
    sizeOfVarBytes(keyLength) +
    sizeOfVarBytes(valueLength) +
    sizeOfVarInt(count) +
    headersSize;
  measures.set(bodySizeAt, bodySize);
  return sizeOfVarInt(bodySize) + bodySize;
}

function writeRecord(out: Cursor, message: WireMessage, offsetDelta: number, timestampDelta: number): void {
  out.varInt(measures.next());
  out.int8(0);
  out.varLong(timestampDelta);
  out.varInt(offsetDelta);
  out.varBytes(message.key, measures.next());
  out.varBytes(message.value, measures.next());
  out.varInt(measures.next());
  const { headers } = message;
  for (const name in headers) {
    const entry = headers[name];
    const items = headerItems(entry);
    for (let i = 0; i < (items ? items.length : 1); i++) {
      out.varBytes(name, measures.next());
      out.varBytes(items ? items[i] : (entry as HeaderValue), measures.next());
    }
  }
}

/** A partition's batch, measured: its records' timestamps and its size. */
interface MeasuredBatch {
  readonly partition: WirePartition;
  readonly firstTimestamp: number;
  readonly maxTimestamp: number;
  /** From baseOffset to the last record. */
  readonly size: number;
}

/** A record's timestamp: its own, else the request's. */
function stampOf(message: WireMessage, now: number): number {
  return message.timestamp ? Number(message.timestamp) : now;
}

function measureBatch(partition: WirePartition, now: number): MeasuredBatch {
  const { messages } = partition;
  let firstTimestamp = now;
  let maxTimestamp = now;
  if (messages.some((message) => message.timestamp !== null && message.timestamp !== undefined)) {
    // As kafkajs: the messages' own timestamps sorted as JavaScript sorts (as text).
    const stamps = messages
      .map((message) => message.timestamp)
      .filter((stamp) => stamp !== null && stamp !== undefined)
      .sort();
    firstTimestamp = Number(stamps[0]);
    maxTimestamp = Number(stamps[stamps.length - 1]);
  }
  let size = 8 + 4 + BATCH_HEADER_AFTER_LENGTH;
  for (let index = 0; index < messages.length; index++) {
    size += measureRecord(messages[index]!, index, stampOf(messages[index]!, now) - firstTimestamp);
  }
  return { partition, firstTimestamp, maxTimestamp, size };
}

function writeBatch(out: Cursor, batch: MeasuredBatch, body: ProduceBody): void {
  const { messages } = batch.partition;
  out.int64(0n);
  out.int32(batch.size - 12);
  out.int32(0); // partitionLeaderEpoch
  out.int8(2); // magic
  const crcAt = out.offset;
  out.offset += 4;
  out.int16(body.transactionalId === null ? 0 : TRANSACTIONAL_ATTRIBUTE);
  out.int32(messages.length - 1);
  out.int64(BigInt(batch.firstTimestamp));
  out.int64(BigInt(batch.maxTimestamp));
  out.int64(body.producerId);
  out.int16(body.producerEpoch);
  out.int32(batch.partition.firstSequence ?? 0);
  out.int32(messages.length);
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index]!;
    writeRecord(out, message, index, stampOf(message, body.now) - batch.firstTimestamp);
  }
  const crc = crc32c.buf(out.buf.subarray(crcAt + 4, out.offset)) >>> 0;
  out.buf.writeUInt32BE(crc, crcAt);
}

/** A produce request's body (versions 3 to 7 share it), uncompressed. */
export function encodeProduceBody(body: ProduceBody): Buffer {
  return encodeProduce(body, undefined);
}

/**
 * A produce request as sent, its frame and body written into one buffer: the same bytes as
 * frameRequest(frame, encodeProduceBody(body)), without building the body apart and copying it.
 */
export function encodeProduceRequest(frame: RequestFrame, body: ProduceBody): Buffer {
  return encodeProduce(body, frame);
}

function encodeProduce(body: ProduceBody, frame: RequestFrame | undefined): Buffer {
  measures.reset();
  let size = sizeOfString(body.transactionalId) + 2 + 4 + 4;
  const topics = body.topicData.map(({ topic, partitions }) => {
    size += sizeOfString(topic) + 4;
    const batches = partitions.map((partition) => {
      const batch = measureBatch(partition, body.now);
      size += 4 + 4 + batch.size;
      return batch;
    });
    return { topic, batches };
  });
  const headerSize = frame ? 4 + FRAME_HEADER_SIZE + sizeOfString(frame.clientId) : 0;
  const out = new Cursor(Buffer.allocUnsafe(headerSize + size));
  if (frame) writeFrameHeader(out, frame, headerSize - 4 + size);
  out.string(body.transactionalId);
  out.int16(body.acks);
  out.int32(body.timeout);
  out.int32(topics.length);
  for (const { topic, batches } of topics) {
    out.string(topic);
    out.int32(batches.length);
    for (const batch of batches) {
      out.int32(batch.partition.partition);
      out.int32(batch.size);
      writeBatch(out, batch, body);
    }
  }
  if (out.offset !== headerSize + size)
    throw new Error(`produce request: wrote ${out.offset} bytes of ${headerSize + size}`);
  return out.buf;
}

export interface RequestFrame {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
}

/** A request header's api key, version and correlation id (the client id follows). */
const FRAME_HEADER_SIZE = 2 + 2 + 4;

/** The size, then the header (v1: api key, version, correlation id, client id). */
function writeFrameHeader(out: Cursor, frame: RequestFrame, size: number): void {
  out.int32(size);
  out.int16(frame.apiKey);
  out.int16(frame.apiVersion);
  out.int32(frame.correlationId);
  out.string(frame.clientId);
}

/** A request as sent: size, the header, the body. */
export function frameRequest(frame: RequestFrame, body: Uint8Array): Buffer {
  const size = FRAME_HEADER_SIZE + sizeOfString(frame.clientId) + body.length;
  const out = new Cursor(Buffer.allocUnsafe(4 + size));
  writeFrameHeader(out, frame, size);
  out.buf.set(body, out.offset);
  return out.buf;
}
