// Kafka's default partitioning for keyed records, as the Java client and kafkajs' DefaultPartitioner
// compute it (murmur2 of the key's bytes, made positive, modulo the topic's partition count), in
// 32-bit integer arithmetic. kafkajs computes the same hash with a 64-bit Long object per step and
// copies the key and the topic's partition list for every message: about a sixth of what the Kafka
// sink allocated per event. Records without a key (no format of ours makes one) go to kafkajs' own
// partitioner. Pure apart from one scratch buffer reused by every call (the hash is synchronous).
import { Partitioners } from 'kafkajs';
import type { ICustomPartitioner, PartitionerArgs } from 'kafkajs';

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Java's `Utils.murmur2` over `length` bytes of `data`: a signed 32-bit hash. */
export function murmur2(data: Uint8Array, length = data.length): number {
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= data[whole + 2]! << 16;
    if (tail >= 2) h ^= data[whole + 1]! << 8;
    h ^= data[whole]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

let scratch = Buffer.allocUnsafe(256);

/** The partition of a record with this key among `partitions` (the Java client's choice). */
export function keyPartition(key: string | Buffer, partitions: number): number {
  if (typeof key !== 'string') return (murmur2(key) & 0x7fffffff) % partitions;
  // A UTF-8 byte is at most three per UTF-16 unit: a key that could not fit gets a larger scratch.
  if (key.length * 3 > scratch.length) scratch = Buffer.allocUnsafe(key.length * 3);
  const length = scratch.write(key, 0, 'utf8');
  return (murmur2(scratch, length) & 0x7fffffff) % partitions;
}

/** kafkajs' DefaultPartitioner with the keyed case computed here (createPartitioner's value). */
export const javaCompatiblePartitioner: ICustomPartitioner = () => {
  const unkeyed = Partitioners.DefaultPartitioner();
  return (args: PartitionerArgs): number => {
    const { message } = args;
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    if (message.key === null || message.key === undefined) return unkeyed(args);
    return keyPartition(message.key, args.partitionMetadata.length);
  };
};
