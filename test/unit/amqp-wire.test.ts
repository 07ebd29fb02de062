// amqp-wire.ts writes basic.publish as amqplib does: the same bytes as amqplib's own method, header
// and body frames, for the messages the RabbitMQ sink sends and for the edges (no body, a body over
// frameMax, no properties); a value it does not write is left to amqplib (undefined).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { encodePublish, publishArguments } from '../../src/sinks/amqp-wire.js';
import type { PublishFields } from '../../src/sinks/amqp-wire.js';

// amqplib's package exports hide lib/: load its files by path, beside its entry point.
const require = createRequire(import.meta.url);
const lib = join(dirname(require.resolve('amqplib')), 'lib');
const defs = require(join(lib, 'defs.js')) as {
  BasicPublish: number;
  BasicProperties: number;
  encodeMethod(method: number, channel: number, fields: object): Buffer;
  encodeProperties(properties: number, channel: number, size: number, fields: object): Buffer;
};
const { makeBodyFrame } = require(join(lib, 'frame.js')) as {
  makeBodyFrame: (channel: number, payload: Buffer) => Buffer;
};
const { publish } = require(join(lib, 'api_args.js')) as { publish: PublishArgs };
type PublishArgs = (exchange: string, routingKey: string, options: object) => PublishFields & object;

/** What amqplib writes for one message: method, header and body frames split at frameMax. */
function amqplibFrames(channel: number, fields: object, body: Buffer, frameMax: number): Buffer {
  const frames = [
    defs.encodeMethod(defs.BasicPublish, channel, fields),
    defs.encodeProperties(defs.BasicProperties, channel, body.length, fields),
  ];
  for (let from = 0; from < body.length; from += frameMax - 8)
    frames.push(makeBodyFrame(channel, body.subarray(from, Math.min(body.length, from + frameMax - 8))));
  return Buffer.concat(frames);
}

function same(exchange: string, routingKey: string, options: object, body: Buffer, frameMax = 131_072): void {
  const args = publish(exchange, routingKey, options);
  const ours = encodePublish(3, args, args as Record<string, unknown>, body, frameMax);
  assert.ok(ours, 'written');
  assert.deepEqual(ours, amqplibFrames(3, args, body, frameMax));
}

const SINK_OPTIONS = {
  persistent: true,
  mandatory: true,
  messageId: '0b6c2f4e-1d0a-4f7e-9a51-3c2b8d7e6f10',
  type: 'OrderPlaced',
  contentType: 'application/json',
  timestamp: 1_764_547_200,
  headers: {
    id: '0b6c2f4e-1d0a-4f7e-9a51-3c2b8d7e6f10',
    aggregate_type: 'order',
    aggregate_id: 'o-1',
    event_type: 'OrderPlaced',
    created_at: '2026-12-01T00:00:00.000Z',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  },
};

describe('encodePublish', () => {
  test("the sink's message: amqplib's bytes", () => {
    same('orders', 'order.OrderPlaced', SINK_OPTIONS, Buffer.from('{"n": 1, "pad": "xxxxxxxx"}'));
  });

  test('non-ASCII names, keys and values, an empty header value, no body', () => {
    same(
      'commandes-é',
      'clé.ü',
      { ...SINK_OPTIONS, headers: { schlüssel: 'wert€', vide: '', absent: undefined } },
      Buffer.alloc(0),
    );
  });

  test('a body over frameMax is split into body frames as amqplib splits it', () => {
    same('orders', 'k', SINK_OPTIONS, Buffer.alloc(10_000, 7), 4_096);
  });

  test('no properties but the defaults, and every string property', () => {
    same('', 'queue', {}, Buffer.from('x'));
    same(
      'e',
      'k',
      {
        contentEncoding: 'gzip',
        priority: 5,
        correlationId: 'c',
        replyTo: 'r',
        expiration: '60000',
        userId: 'guest',
        appId: 'outbox-relay',
      },
      Buffer.from('x'),
    );
  });

  test('leaves to amqplib what it does not write: a header that is not a string, a name over 255 bytes', () => {
    const withNumber = publish('e', 'k', { headers: { attempt: 3 } });
    assert.equal(
      encodePublish(1, withNumber, withNumber as Record<string, unknown>, Buffer.from('x'), 4096),
      undefined,
    );
    const copied = publish('e', 'k', { CC: ['audit'] });
    assert.equal(
      encodePublish(1, copied, copied as Record<string, unknown>, Buffer.from('x'), 4096),
      undefined,
    );
    // amqplib refuses a header table over its 64 KiB scratch buffer (the sink's too_large): it still does.
    const huge = publish('e', 'k', { headers: { baggage: 'x'.repeat(70_000) } });
    assert.equal(encodePublish(1, huge, huge as Record<string, unknown>, Buffer.from('x'), 4096), undefined);
    const long = publish('e', 'k', { messageId: 'x'.repeat(256) });
    assert.equal(encodePublish(1, long, long as Record<string, unknown>, Buffer.from('x'), 4096), undefined);
    assert.equal(encodePublish(1, { exchange: 'é'.repeat(128) }, {}, Buffer.from('x'), 4096), undefined);
  });
});

describe('publishArguments', () => {
  /** Our arguments from `options` encode to amqplib's bytes for the arguments it makes from them. */
  function sameAsAmqplib(options: object | undefined): void {
    const ours = publishArguments('orders', 'k', options);
    assert.ok(ours, 'made');
    const body = Buffer.from('{}');
    assert.deepEqual(
      encodePublish(2, ours, ours, body, 131_072),
      amqplibFrames(2, publish('orders', 'k', options!), body, 131_072),
    );
  }

  test("the sink's options, with the caller's own headers object", () => {
    sameAsAmqplib(SINK_OPTIONS);
    assert.equal(publishArguments('orders', 'k', SINK_OPTIONS)!.headers, SINK_OPTIONS.headers, 'not wrapped');
  });

  test('no options, no headers (an empty table, as amqplib writes), and each delivery mode', () => {
    sameAsAmqplib(undefined);
    sameAsAmqplib({});
    for (const options of [
      { persistent: false },
      { deliveryMode: 2 },
      { deliveryMode: true },
      { deliveryMode: false },
      { persistent: true, deliveryMode: 1 },
    ])
      sameAsAmqplib(options);
  });

  test('every other property, a numeric expiration made text as amqplib does', () => {
    sameAsAmqplib({
      contentEncoding: 'gzip',
      priority: 5,
      correlationId: 'c',
      replyTo: 'r',
      expiration: 60_000,
      userId: 'guest',
      appId: 'outbox-relay',
      timestamp: 1_764_547_200,
      type: 't',
      messageId: 'm',
      mandatory: true,
    });
  });

  test('CC or BCC: left to amqplib (it adds them to the headers)', () => {
    assert.equal(publishArguments('e', 'k', { CC: ['audit'] }), undefined);
    assert.equal(publishArguments('e', 'k', { BCC: 'audit' }), undefined);
  });
});
