import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { messageHeaders } from '../../src/formats/native.js';
import type { OutboxEvent } from '../../src/wal/event.js';

const event = (headers: Record<string, string>): OutboxEvent => ({
  id: '8a1c2f5e-0000-4000-8000-000000000001',
  aggregateType: 'order',
  aggregateId: '42',
  eventType: 'OrderPlaced',
  payload: '{}',
  headers,
  createdAt: '2026-11-25T06:08:00.000Z',
});

describe('messageHeaders', () => {
  test("the row's headers first, then the event's own", () => {
    const headers = messageHeaders(event({ traceparent: '00-ab-cd-01', tenant: 't1' }));
    assert.deepEqual(Object.entries(headers), [
      ['traceparent', '00-ab-cd-01'],
      ['tenant', 't1'],
      ['id', '8a1c2f5e-0000-4000-8000-000000000001'],
      ['aggregate_type', 'order'],
      ['aggregate_id', '42'],
      ['event_type', 'OrderPlaced'],
      ['created_at', '2026-11-25T06:08:00.000Z'],
    ]);
  });

  test("the event's own win over row headers of the same name", () => {
    const headers = messageHeaders(event({ id: 'forged', event_type: 'Forged' }));
    assert.equal(headers['id'], '8a1c2f5e-0000-4000-8000-000000000001');
    assert.equal(headers['event_type'], 'OrderPlaced');
  });
});
