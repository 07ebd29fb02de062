// The RabbitMQ sink's refusals for good, decided by AMQP reply code (src/sinks/rabbitmq-refusals.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AMQP_REFUSALS,
  exchangeRefusal,
  refusalReason,
  returnRefusal,
  sizeLimitOf,
  tooLarge,
  unencodable,
} from '../../src/sinks/rabbitmq-refusals.js';

/** A channel or connection closed by the broker, as amqplib reports it. */
const error = (code: number, message: string) => Object.assign(new Error(message), { code });

const SIZE_REFUSAL =
  'Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - message size 8140 is larger than configured max size 4096"';

describe('AMQP_REFUSALS', () => {
  test('maps each answer and reply code to a dead-letter reason the metrics already use', () => {
    assert.deepEqual(AMQP_REFUSALS, {
      exchange: { 403: 'access_refused', 404: 'exchange_not_found', 406: 'exchange_mismatch' },
      publish: { 406: 'too_large' },
      return: { 312: 'unroutable' },
    });
  });

  test('refusalReason reads a code by the answer it came in: 406 is a mismatch or a size', () => {
    assert.equal(refusalReason('exchange', 406), 'exchange_mismatch');
    assert.equal(refusalReason('publish', 406), 'too_large');
    assert.equal(refusalReason('return', 312), 'unroutable');
  });

  test('refusalReason retries every other code, and errors without one', () => {
    assert.equal(refusalReason('publish', 404), undefined);
    assert.equal(refusalReason('publish', 403), undefined);
    assert.equal(refusalReason('exchange', 541), undefined);
    assert.equal(refusalReason('return', 313), undefined);
    assert.equal(refusalReason('exchange', undefined), undefined);
  });
});

describe('exchangeRefusal', () => {
  test('names the exchange and a reason for the broker codes that concern it', () => {
    const missing = exchangeRefusal(error(404, 'NOT_FOUND - no exchange'), 'orders', undefined);
    assert.equal(missing?.reason, 'exchange_not_found');
    assert.equal(
      missing?.message,
      'exchange "orders" does not exist: declare it or set assert: true on its route',
    );
    assert.equal(
      exchangeRefusal(error(406, 'PRECONDITION_FAILED'), 'o', 'topic')?.reason,
      'exchange_mismatch',
    );
    assert.equal(exchangeRefusal(error(403, 'ACCESS_REFUSED'), 'o', undefined)?.reason, 'access_refused');
  });

  test('leaves connection failures to the retrying', () => {
    assert.equal(
      exchangeRefusal(new Error('Channel ended, no reply will be forthcoming'), 'o', undefined),
      undefined,
    );
    assert.equal(exchangeRefusal(error(320, 'CONNECTION_FORCED'), 'o', undefined), undefined);
  });

  test('decides by the reply code, not by the reply text', () => {
    assert.equal(exchangeRefusal(new Error('NOT_FOUND - no exchange'), 'o', undefined), undefined);
    assert.equal(exchangeRefusal(error(404, 'anything'), 'o', undefined)?.reason, 'exchange_not_found');
  });
});

describe('returnRefusal', () => {
  test('refuses a message returned with NO_ROUTE as unroutable, naming where it went', () => {
    const refusal = returnRefusal(312, { exchange: 'orders', routingKey: 'order.Placed' });
    assert.equal(refusal?.reason, 'unroutable');
    assert.equal(
      refusal?.message,
      'unroutable: no queue bound to exchange "orders" for routing key "order.Placed"',
    );
  });

  test('leaves a return with any other code to another try', () => {
    assert.equal(returnRefusal(313, { exchange: 'orders', routingKey: 'k' }), undefined);
  });
});

describe('sizeLimitOf', () => {
  test("reads the broker's max_message_size from its 406 on the publishing channel", () => {
    assert.equal(sizeLimitOf(error(406, SIZE_REFUSAL)), 4096);
    assert.equal(
      sizeLimitOf(
        error(406, 'PRECONDITION_FAILED - message size 600000000 is larger than max size 536870912'),
      ),
      536_870_912,
    );
  });

  test('the reply code decides: the same text under another code, or none, is no size refusal', () => {
    assert.equal(sizeLimitOf(error(320, SIZE_REFUSAL)), undefined);
    assert.equal(sizeLimitOf(new Error(SIZE_REFUSAL)), undefined);
    assert.equal(sizeLimitOf(undefined), undefined);
  });

  test('a 406 that states no limit is left to the retrying', () => {
    assert.equal(sizeLimitOf(error(406, 'PRECONDITION_FAILED - invalid expiration')), undefined);
  });
});

describe('tooLarge and unencodable', () => {
  test('refuse as too_large, saying the size and the limit', () => {
    const refusal = tooLarge(8140, 4096, 'orders');
    assert.equal(refusal.reason, 'too_large');
    assert.equal(refusal.message, 'message of 8140 bytes exceeds the 4096-byte limit for exchange "orders"');
    assert.equal(unencodable(new RangeError('offset out of range')).reason, 'too_large');
  });
});
