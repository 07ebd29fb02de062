import type { OutboxEvent } from '../../src/wal/event.js';

/** An outbox event for tests of pure modules; `overrides` set what a test cares about. */
export function outboxEvent(overrides: Partial<OutboxEvent> = {}): OutboxEvent {
  return {
    id: 'e1',
    aggregateType: 'order',
    aggregateId: 'o1',
    eventType: 'created',
    payload: '{}',
    headers: {},
    createdAt: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}
