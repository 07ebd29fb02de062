import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeBroker } from '../../src/sinks/rabbitmq-amqp.js';
import { OutgoingQueue, UnconfirmedMessages } from '../../src/sinks/rabbitmq-queues.js';

interface Item {
  readonly seq: number;
  readonly exchange: string;
  readonly routingKey: string;
  readonly messageId: string;
}

const item = (seq: number, routingKey = 'k', exchange = 'x'): Item => ({
  seq,
  exchange,
  routingKey,
  messageId: `m${seq}`,
});

describe('OutgoingQueue', () => {
  test('is first in, first out', () => {
    const queue = new OutgoingQueue<Item>();
    for (let i = 0; i < 3000; i++) queue.push(item(i));
    const out: number[] = [];
    while (queue.length > 0) out.push(queue.shift()!.seq);
    assert.deepEqual(
      out,
      Array.from({ length: 3000 }, (_, i) => i),
    );
    assert.equal(queue.shift(), undefined);
    assert.equal(queue.peek(), undefined);
  });

  test('putBack places taken items before newer ones, in call order', () => {
    const queue = new OutgoingQueue<Item>();
    for (let i = 0; i < 10; i++) queue.push(item(i));
    const sent = [queue.shift()!, queue.shift()!, queue.shift()!, queue.shift()!];
    // A nack of 1 and 3, then the channel dies with 0 and 2 unconfirmed.
    queue.putBack([sent[1]!, sent[3]!]);
    queue.putBack([sent[0]!, sent[2]!]);
    const out: number[] = [];
    while (queue.length > 0) out.push(queue.shift()!.seq);
    assert.deepEqual(out, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('removeWhere takes the matching items and keeps the order of the rest', () => {
    const queue = new OutgoingQueue<Item>();
    for (let i = 0; i < 6; i++) queue.push(item(i, 'k', i % 2 === 0 ? 'even' : 'odd'));
    queue.shift();
    const removed = queue.removeWhere((i) => i.exchange === 'odd');
    assert.deepEqual(
      removed.map((i) => i.seq),
      [1, 3, 5],
    );
    assert.equal(queue.length, 2);
    assert.deepEqual([queue.shift()!.seq, queue.shift()!.seq], [2, 4]);
  });
});

describe('UnconfirmedMessages', () => {
  test('numbers messages from 1 and settles single and multiple acks', () => {
    const unconfirmed = new UnconfirmedMessages<Item>();
    for (let i = 0; i < 5; i++) assert.equal(unconfirmed.published(item(i)), i + 1);
    // Out of order, as with several queues: tag 3 alone, then everything up to 4.
    assert.deepEqual(
      unconfirmed.confirm(3, false).map(({ item }) => item.seq),
      [2],
    );
    assert.deepEqual(
      unconfirmed.confirm(4, true).map(({ item }) => item.seq),
      [0, 1, 3],
    );
    assert.equal(unconfirmed.size, 1);
    assert.deepEqual(unconfirmed.confirm(2, false), [], 'an already settled tag settles nothing');
    assert.deepEqual(
      unconfirmed.confirm(5, false).map(({ item }) => item.seq),
      [4],
    );
    assert.equal(unconfirmed.size, 0);
  });

  test('a return marks the earliest unconfirmed message it matches, which its ack then reports', () => {
    const unconfirmed = new UnconfirmedMessages<Item>();
    const a = item(0, 'nowhere');
    unconfirmed.published(a);
    unconfirmed.published(item(1, 'somewhere'));
    // The same event sent twice to the same place (a fan-out naming it twice, or a resend).
    unconfirmed.published(a);
    assert.equal(unconfirmed.returned({ exchange: 'x', routingKey: 'nowhere', messageId: 'm0' }, 312), true);
    assert.equal(unconfirmed.returned({ exchange: 'y', routingKey: 'nowhere', messageId: 'm0' }, 312), false);
    assert.deepEqual(
      unconfirmed.confirm(2, true).map(({ item, returnCode }) => [item.seq, returnCode]),
      [
        [0, 312],
        [1, undefined],
      ],
    );
    assert.deepEqual(
      unconfirmed.confirm(3, false).map(({ returnCode }) => returnCode),
      [undefined],
    );
  });

  test('oldestWait is how long the oldest unconfirmed message has waited, 0 when none', () => {
    const unconfirmed = new UnconfirmedMessages<Item>();
    assert.equal(unconfirmed.oldestWait(5_000), 0);
    unconfirmed.published(item(0), 1_000);
    unconfirmed.published(item(1), 2_000);
    assert.equal(unconfirmed.oldestWait(5_000), 4_000);
    unconfirmed.confirm(1, false);
    assert.equal(unconfirmed.oldestWait(5_000), 3_000);
    unconfirmed.confirm(2, false);
    assert.equal(unconfirmed.oldestWait(5_000), 0);
  });

  test('reset hands back the unconfirmed in publish order, and tags restart at 1', () => {
    const unconfirmed = new UnconfirmedMessages<Item>();
    for (let i = 0; i < 4; i++) unconfirmed.published(item(i));
    unconfirmed.confirm(2, false);
    assert.deepEqual(
      unconfirmed.reset().map((i) => i.seq),
      [0, 2, 3],
    );
    assert.equal(unconfirmed.size, 0);
    assert.equal(unconfirmed.published(item(9)), 1);
  });
});

describe('describeBroker', () => {
  test('drops the credentials', () => {
    assert.equal(describeBroker('amqps://relay:s3cret@mq.example:5671/prod'), 'amqps://mq.example:5671/prod');
    assert.equal(describeBroker('amqp://guest:guest@127.0.0.1'), 'amqp://127.0.0.1');
    assert.equal(describeBroker('not a url'), 'an unparsable RabbitMQ URL');
  });
});
