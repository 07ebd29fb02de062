import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import {
  createRecordEncoder,
  ENCODER_MODULE,
  installRecordEncoder,
  kafkajsRecordEncoder,
  RECORD_MODULE,
} from '../../src/sinks/kafkajs-internals.js';
import type { RecordEncoder, RecordInput } from '../../src/sinks/kafkajs-internals.js';

const theirs = kafkajsRecordEncoder()!;
const ours = createRecordEncoder()!;

const records: RecordInput[] = [
  { value: '{}' },
  { key: 'order-42', value: '{"total": 4200}', offsetDelta: 0, timestampDelta: 0 },
  {
    key: 'w1-a3',
    value: `{"pad": "${'x'.repeat(300)}"}`,
    offsetDelta: 1999,
    timestampDelta: 17,
    headers: {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      id: '8a1c2f5e-0000-4000-8000-000000000001',
      aggregate_type: 'order',
      aggregate_id: 'w1-a3',
      event_type: 'OrderPlaced',
      created_at: '2026-11-25T06:08:00.000Z',
    },
  },
  { key: null, value: null, headers: {} },
  { key: Buffer.from([0, 1, 2, 255]), value: Buffer.alloc(700, 7), headers: { bin: Buffer.from('ok') } },
  { key: 'ünïcødé ✓', value: '{"emoji": "🚀"}', headers: { 'x-ünï': 'välue ✓', multi: ['a', 'b', 'c'] } },
  { value: 'negative deltas', offsetDelta: 300, timestampDelta: -5 },
  { value: 'large deltas', offsetDelta: 2 ** 20, timestampDelta: 2 ** 40 },
  { value: 'x'.repeat(70_000), headers: { big: 'y'.repeat(20_000) } },
];

describe('createRecordEncoder', () => {
  test("writes exactly the bytes of kafkajs' own record encoder", () => {
    for (const record of records) {
      assert.deepEqual(ours(record).buffer, theirs(record).buffer, JSON.stringify(record).slice(0, 80));
    }
  });
});

// installRecordEncoder() relies on kafkajs' internal layout: these fail when a kafkajs upgrade moves
// the files it swaps (then the relay silently falls back to kafkajs' own, slower encoder).
describe('installRecordEncoder', () => {
  const require = createRequire(import.meta.url);
  const PRODUCE_REQUEST = 'kafkajs/src/protocol/requests/produce/v3/request';

  test("kafkajs' encoder, record encoder and produce request are where the adapter expects", () => {
    for (const path of [ENCODER_MODULE, RECORD_MODULE, PRODUCE_REQUEST]) {
      assert.ok(existsSync(require.resolve(path)), path);
    }
    // The produce request takes the record encoder from the module cache when it first loads.
    assert.match(
      readFileSync(require.resolve(PRODUCE_REQUEST), 'utf8'),
      /require\('\.\.\/\.\.\/\.\.\/recordBatch\/record\/v0'\)/,
    );
  });

  test('importing kafkajs does not load the produce request (so a later install takes effect)', async () => {
    await import('kafkajs');
    assert.equal(require.cache[require.resolve(PRODUCE_REQUEST)], undefined);
  });

  test("after install, kafkajs' produce request encodes records with this module's encoder", async () => {
    const original = require(RECORD_MODULE) as unknown;
    assert.equal(installRecordEncoder(), true);
    assert.equal(installRecordEncoder(), true, 'idempotent');
    const installed = require(RECORD_MODULE) as RecordEncoder;
    assert.notEqual(installed, original);
    // Count the calls the produce request makes, through what the cache now hands out.
    let calls = 0;
    const entry = require.cache[require.resolve(RECORD_MODULE)]!;
    entry.exports = ((record: RecordInput) => (calls++, installed(record))) as RecordEncoder;
    try {
      const produce = require(PRODUCE_REQUEST) as (request: unknown) => { encode(): Promise<Buffer> };
      await produce({
        acks: -1,
        timeout: 1000,
        compression: 0,
        topicData: [
          {
            topic: 't',
            partitions: [
              { partition: 0, firstSequence: 0, messages: [{ key: 'k', value: 'v', headers: { a: 'b' } }] },
            ],
          },
        ],
      }).encode();
      assert.equal(calls, 1);
    } finally {
      entry.exports = installed;
    }
  });
});
