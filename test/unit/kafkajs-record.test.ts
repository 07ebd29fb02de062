import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRecordEncoder, kafkajsRecordEncoder } from '../../src/sinks/kafkajs-record.js';
import type { RecordInput } from '../../src/sinks/kafkajs-record.js';

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
