// The batch grouping and checksum the Kafka sink puts in kafkajs' place (kafkajs-internals.ts): the
// same results as kafkajs' own, installed only while kafkajs' producer has not loaded yet, and
// tests that fail when a kafkajs upgrade moves the files they replace.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import {
  batchChecksum,
  CRC_MODULE,
  GROUPING_MODULE,
  groupMessagesPerPartition,
  installBatchHelpers,
  RECORD_BATCH_MODULE,
  SEND_MESSAGES_MODULE,
} from '../../src/sinks/kafkajs-internals.js';
import type { GroupMessages } from '../../src/sinks/kafkajs-internals.js';

const require = createRequire(import.meta.url);
// kafkajs' own, taken before the install replaces them in the module cache.
const theirGrouping = require(GROUPING_MODULE) as GroupMessages;
const theirChecksum = require(CRC_MODULE) as (buffer: Buffer) => number;
const installed = installBatchHelpers();

describe('kafkajs batch helpers', () => {
  test("the grouping returns kafkajs' result: each partition's messages in their order", () => {
    const messages = Array.from({ length: 2_000 }, (_, index) => ({ key: `k${index % 37}`, index }));
    const partitioner = ({ message }: { message: unknown }): number =>
      Number((message as { key: string }).key.slice(1)) % 3;
    const args = { topic: 't', partitionMetadata: [{}, {}, {}], messages, partitioner };
    assert.deepEqual(groupMessagesPerPartition(args), theirGrouping(args));
    const none = { ...args, partitionMetadata: [] };
    assert.deepEqual(groupMessagesPerPartition(none), theirGrouping(none));
  });

  test("the checksum returns kafkajs' CRC-32C values", () => {
    for (const size of [0, 1, 7, 61, 4_096, 300_001]) {
      const buffer = randomBytes(size);
      assert.equal(batchChecksum(buffer), theirChecksum(buffer), `${size} bytes`);
    }
    assert.equal(batchChecksum(Buffer.from('123456789')), 0xe3069283); // the CRC-32C check value
  });

  test('installed before kafkajs loads: kafkajs takes these from its module cache', () => {
    assert.equal(installed, true);
    assert.equal(installBatchHelpers(), true, 'idempotent');
    assert.equal(require(GROUPING_MODULE), groupMessagesPerPartition);
    assert.equal(require(CRC_MODULE), batchChecksum);
    // The modules that take them, and how (these fail when a kafkajs upgrade moves them).
    assert.match(
      readFileSync(require.resolve(SEND_MESSAGES_MODULE), 'utf8'),
      /require\('\.\/groupMessagesPerPartition'\)/,
    );
    assert.match(readFileSync(require.resolve(RECORD_BATCH_MODULE), 'utf8'), /require\('\.\.\/crc32C'\)/);
  });

  test('not installed once kafkajs has loaded (it would keep its own): the install says so', () => {
    const script =
      "await import('kafkajs'); const m = await import('./src/sinks/kafkajs-internals.ts'); " +
      'process.stdout.write(String(m.installBatchHelpers()));';
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url).pathname,
    }).toString();
    assert.equal(output, 'false');
  });
});
