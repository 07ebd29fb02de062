// validateEvent: what enqueue refuses before any SQL runs, and how the error names the field.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OutboxEventError, validateEvent } from '../../src/enqueue.js';

const VALID = { aggregateType: 'order', aggregateId: '42', eventType: 'OrderPlaced', payload: { n: 1 } };

function refusal(event: unknown, index?: number): OutboxEventError {
  try {
    validateEvent(event, index);
  } catch (error) {
    if (error instanceof OutboxEventError) return error;
    throw error;
  }
  assert.fail('expected an OutboxEventError');
}

describe('validateEvent', () => {
  test('returns the row to insert, with empty headers by default and the id only when given', () => {
    assert.deepEqual(validateEvent(VALID, undefined), { ...VALID, headers: {} });
    const id = '6f1c1a52-34a8-4c53-9d3b-3b9c2f0c6e01';
    assert.deepEqual(validateEvent({ ...VALID, id, headers: { traceparent: 't' } }, 0), {
      ...VALID,
      id,
      headers: { traceparent: 't' },
    });
  });

  test('accepts any JSON value as the payload, including null, arrays and dates', () => {
    for (const payload of [null, [1, 'a'], 'text', 0, false, { at: new Date(0) }]) {
      assert.doesNotThrow(() => validateEvent({ ...VALID, payload }, undefined));
    }
  });

  for (const field of ['aggregateType', 'aggregateId', 'eventType'] as const) {
    test(`${field} must be a non-empty string`, () => {
      for (const value of ['', undefined, 7]) {
        const error = refusal({ ...VALID, [field]: value });
        assert.equal(error.message, `${field} must be a non-empty string`);
        assert.equal(error.field, field);
      }
    });
  }

  test('names the event of an enqueueMany call by its index', () => {
    const error = refusal({ ...VALID, aggregateId: '' }, 2);
    assert.equal(error.message, 'events[2].aggregateId must be a non-empty string');
    assert.equal(error.index, 2);
    assert.equal(error.name, 'OutboxEventError');
  });

  test('a payload without a JSON form is refused with the reason', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    assert.match(
      refusal({ ...VALID, payload: cyclic }).message,
      /^payload is not JSON-serialisable: .*circular/i,
    );
    assert.match(
      refusal({ ...VALID, payload: { n: 1n } }).message,
      /^payload is not JSON-serialisable: .*BigInt/,
    );
    assert.equal(
      refusal({ ...VALID, payload: undefined }).message,
      'payload is not JSON-serialisable: undefined has no JSON form',
    );
    assert.equal(
      refusal({ ...VALID, payload: () => 1 }).message,
      'payload is not JSON-serialisable: a function has no JSON form',
    );
  });

  test('NUL characters, which PostgreSQL cannot store, are refused', () => {
    assert.equal(
      refusal({ ...VALID, payload: { s: 'a\u0000b' } }).message,
      'payload must not contain a NUL character (jsonb cannot store it)',
    );
    assert.equal(
      refusal({ ...VALID, aggregateId: 'a\u0000' }).message,
      'aggregateId must not contain a NUL character',
    );
  });

  test('header values must be strings and the relay-set names are reserved', () => {
    assert.equal(
      refusal({ ...VALID, headers: { traceparent: 1 } }).message,
      'headers.traceparent must be a string, not a number',
    );
    assert.equal(refusal({ ...VALID, headers: { retry: null } }, 0).field, 'headers.retry');
    assert.match(
      refusal({ ...VALID, headers: { id: 'x' } }).message,
      /^headers\.id is reserved: the relay sets id, /,
    );
    assert.equal(refusal({ ...VALID, headers: ['a'] }).message, 'headers must be an object of string values');
  });

  test('a caller-chosen id must be a UUID', () => {
    assert.equal(
      refusal({ ...VALID, id: 'order-1' }).message,
      'id must be a UUID (or left out for a random one)',
    );
  });

  test('something that is not an object is refused', () => {
    assert.equal(refusal(null, 0).message, 'events[0] must be an object');
    assert.equal(refusal('OrderPlaced').message, 'event must be an object');
  });
});
