// The one place the relay reaches into kafkajs' internals, for speed; the bytes on the wire stay
// kafkajs' own. Each replacement is put in kafkajs' module cache before the module that takes it
// loads:
// - the produce request (requests/produce/v3/request.js, which versions 4 to 7 extend): kafkajs
//   builds each record, batch, partition, topic and the request in buffers of their own, growing and
//   copying every byte about seven times, a zero-filled buffer per record and header; kafka-wire.ts
//   writes the same bytes in one pass into one buffer (uncompressed batches; a compressed one is left
//   to kafkajs);
// - the request frame (protocol/request.js, taken by kafkajs' connection when it loads): the header
//   and the body in one buffer, one copy, instead of two growing encoders;
// - the grouping of a batch's messages per partition (groupMessagesPerPartition.js), which copies
//   each partition's array for every message it adds (quadratic in the batch); replaced by a linear
//   one with the same result;
// - the batch checksum (recordBatch/crc32C), byte at a time, for what kafkajs still encodes itself;
//   replaced by the maintained `crc-32` package's (same values, about four times faster here).
//
// The Kafka sink's factory (kafka.ts) installs them, logs the outcome and reports the produce encoder
// as the gauge outbox_relay_kafka_record_encoder_active. Installed too late, or with a kafkajs whose
// files moved, they change nothing: kafkajs' own code, which writes the same bytes, stays in use.
// test/unit/kafkajs-internals.test.ts compares the bytes of both and fails when those files move.
import { createRequire } from 'node:module';
import { encodeProduceBody, encodeProduceRequest, frameRequest } from './kafka-wire.js';
import type { ProduceBody, RequestFrame, WireMessage, WirePartition } from './kafka-wire.js';

const require = createRequire(import.meta.url);
const crc32c = require('crc-32/crc32c') as { buf(data: Uint8Array, seed?: number): number };

export const RECORD_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0';
export const PRODUCE_MODULE = 'kafkajs/src/protocol/requests/produce/v3/request';
export const REQUEST_MODULE = 'kafkajs/src/protocol/request';
export const GROUPING_MODULE = 'kafkajs/src/producer/groupMessagesPerPartition';
export const CRC_MODULE = 'kafkajs/src/protocol/recordBatch/crc32C';
/** Loaded with kafkajs itself: it takes the grouping function when it loads. */
export const SEND_MESSAGES_MODULE = 'kafkajs/src/producer/sendMessages';
/** Loaded with kafkajs itself: it takes the request frame when it loads. */
export const CONNECTION_MODULE = 'kafkajs/src/network/connection';
/** Loaded on the first produce: it takes the checksum when it loads. */
export const RECORD_BATCH_MODULE = 'kafkajs/src/protocol/recordBatch/v0';

/** What kafkajs' connection hands the request frame, and what it reads back (`.buffer`). */
interface KafkajsRequest {
  readonly apiKey: number;
  readonly apiVersion: number;
  encode(): Promise<{ readonly buffer: Buffer }>;
  /** Our produce requests only: the whole request, frame included, in one buffer. */
  encodeFramed?(frame: RequestFrame): Buffer;
}
export type RequestFramer = (args: {
  correlationId: number;
  clientId: string | null | undefined;
  request: KafkajsRequest;
}) => Promise<{ readonly buffer: Buffer }>;

/** The produce request's arguments, as kafkajs' producer passes them (producerId: a Long, -1 or text). */
export interface ProduceArgs {
  readonly acks: number;
  readonly timeout: number;
  readonly transactionalId?: string | null;
  readonly producerId?: unknown;
  readonly producerEpoch?: number;
  readonly compression?: number;
  readonly topicData: readonly {
    readonly topic: string;
    readonly partitions: readonly (WirePartition & { readonly messages: readonly WireMessage[] })[];
  }[];
}
export type ProduceRequest = (args: ProduceArgs) => KafkajsRequest & {
  readonly apiName: string;
  expectResponse(): boolean;
};

/** A body kafkajs' own request frame can take too (it reads `buf` and `buffer`). */
function asEncoder(buf: Buffer): { buf: Buffer; offset: number; readonly buffer: Buffer; size(): number } {
  return { buf, offset: buf.length, buffer: buf, size: () => buf.length };
}

function toBigInt(value: unknown): bigint {
  if (value === undefined || value === null) return -1n;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' || typeof value === 'string') return BigInt(value);
  // kafkajs' Long wraps a bigint.
  const inner = (value as { value?: unknown }).value;
  if (typeof inner === 'bigint') return inner;
  throw new TypeError(`not a producer id: ${typeof value}`);
}

/** The produce request on kafka-wire.ts; compressed batches go to kafkajs' own (`theirs`). */
export function createProduceRequest(theirs: ProduceRequest): ProduceRequest {
  return (args) => {
    if (args.compression !== undefined && args.compression !== 0) return theirs(args);
    const { acks, timeout, transactionalId = null, producerEpoch = 0, topicData } = args;
    const body = (): ProduceBody => ({
      acks,
      timeout,
      transactionalId,
      producerId: toBigInt(args.producerId),
      producerEpoch,
      topicData,
      now: Date.now(),
    });
    return {
      apiKey: 0,
      apiVersion: 3,
      apiName: 'Produce',
      expectResponse: () => acks !== 0,
      encode: () => Promise.resolve(asEncoder(encodeProduceBody(body()))),
      encodeFramed: (frame) => encodeProduceRequest(frame, body()),
    };
  };
}

/** kafkajs' request frame, in one buffer (a produce request of ours writes its body into it). */
export const frameKafkajsRequest: RequestFramer = async ({ correlationId, clientId, request }) => {
  const { apiKey, apiVersion } = request;
  const frame = { apiKey, apiVersion, correlationId, clientId: clientId ?? null };
  if (request.encodeFramed) return { buffer: request.encodeFramed(frame) };
  const body = await request.encode();
  return { buffer: frameRequest(frame, body.buffer) };
};

let produceInstalled = false;

/**
 * Makes kafkajs encode produce requests with createProduceRequest() from its first produce on.
 * Idempotent; returns whether it is (now) the one kafkajs will use.
 */
export function installProduceEncoder(): boolean {
  if (produceInstalled) return true;
  let theirs: ProduceRequest;
  try {
    theirs = require(PRODUCE_MODULE) as ProduceRequest;
  } catch {
    return false;
  }
  // kafkajs' versions 4 to 7 take version 3 when they load (on the first produce): too late once loaded.
  if (isLoaded('kafkajs/src/protocol/requests/produce/v4/request')) return false;
  require.cache[require.resolve(PRODUCE_MODULE)]!.exports = createProduceRequest(theirs);
  produceInstalled = true;
  return true;
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
 * Puts the linear grouping, the faster checksum and the one-buffer request frame in kafkajs' module
 * cache. Call it before kafkajs is first imported (its producer and connection take them when they
 * load); returns whether all three are the ones kafkajs will use. Idempotent.
 */
export function installBatchHelpers(): boolean {
  if (batchHelpersInstalled) return true;
  try {
    if ([SEND_MESSAGES_MODULE, CONNECTION_MODULE, RECORD_BATCH_MODULE].some(isLoaded)) return false;
    require(GROUPING_MODULE);
    require(CRC_MODULE);
    require(REQUEST_MODULE);
  } catch {
    return false;
  }
  require.cache[require.resolve(GROUPING_MODULE)]!.exports = groupMessagesPerPartition;
  require.cache[require.resolve(CRC_MODULE)]!.exports = batchChecksum;
  require.cache[require.resolve(REQUEST_MODULE)]!.exports = frameKafkajsRequest;
  batchHelpersInstalled = true;
  return true;
}

let batchHelpersInstalled = false;

function isLoaded(path: string): boolean {
  return require.cache[require.resolve(path)] !== undefined;
}
