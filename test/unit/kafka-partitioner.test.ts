// The Kafka sink's partitioner (kafka-partitioner.ts) puts each key where the Java client and
// kafkajs' DefaultPartitioner put it, so consumers and other producers agree on a key's partition.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { Partitioners } from 'kafkajs';
import type { PartitionMetadata } from 'kafkajs';
import { javaCompatiblePartitioner, keyPartition, murmur2 } from '../../src/sinks/kafka-partitioner.js';

function metadata(count: number): PartitionMetadata[] {
  return Array.from({ length: count }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 1,
    replicas: [1],
    isr: [1],
  }));
}

// A key of `length` UTF-16 units mixing ASCII, two- and three-byte characters and surrogate pairs.
function randomKey(length: number): string {
  const alphabet = ['a', 'Z', '7', '-', 'é', 'ß', '€', '漢', '😀'];
  return Array.from({ length }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
}

describe('Kafka partitioner', () => {
  test("murmur2 gives the Java client's values (Kafka's UtilsTest)", () => {
    const java: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of java) assert.equal(murmur2(Buffer.from(key)), hash, key);
  });

  test("every key lands where kafkajs' DefaultPartitioner puts it", () => {
    const ours = javaCompatiblePartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    for (const partitions of [1, 3, 12, 100]) {
      const partitionMetadata = metadata(partitions);
      for (let i = 0; i < 2_000; i++) {
        const key = i % 2 === 0 ? randomKey(i % 97) : randomBytes(i % 53);
        const args = { topic: 't', partitionMetadata, message: { key, value: 'v' } };
        assert.equal(ours(args), theirs(args), `key ${JSON.stringify(key)} over ${partitions}`);
      }
    }
  });

  test('a key longer than the scratch buffer is hashed whole', () => {
    const key = randomKey(5_000);
    assert.equal(keyPartition(key, 1_000), (murmur2(Buffer.from(key)) & 0x7fffffff) % 1_000);
  });

  test('an explicit partition wins; a record without a key is spread over the partitions', () => {
    const partitioner = javaCompatiblePartitioner();
    const partitionMetadata = metadata(4);
    assert.equal(
      partitioner({ topic: 't', partitionMetadata, message: { key: 'k', value: 'v', partition: 3 } }),
      3,
    );
    const chosen = new Set<number>();
    for (let i = 0; i < 8; i++) {
      chosen.add(partitioner({ topic: 't', partitionMetadata, message: { key: null, value: 'v' } }));
    }
    assert.deepEqual([...chosen].sort(), [0, 1, 2, 3]);
  });
});
