import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Delivery } from '../../src/pipeline/delivery.js';
import type { DeliveryOutcome } from '../../src/pipeline/delivery.js';
import type { RouteResult } from '../../src/routing/router.js';
import type { KafkaDestination } from '../../src/sinks/kafka-destination.js';
import type { RabbitMqDestination } from '../../src/sinks/rabbitmq-destination.js';
import { UndeliverableError } from '../../src/sinks/sink.js';
import type { FormattedDestination, Publication, Sink, SinkName } from '../../src/sinks/sink.js';
import { nativeFormat } from '../../src/formats/native.js';
import { outboxEvent } from '../kit/events.js';

const event = outboxEvent();

type Formatted<D> = D & FormattedDestination;
const topicA: Formatted<KafkaDestination> = { sink: 'kafka', topic: 'a', label: 'a', format: nativeFormat };
const topicB: Formatted<KafkaDestination> = { sink: 'kafka', topic: 'b', label: 'b', format: nativeFormat };
const exchange: Formatted<RabbitMqDestination> = {
  sink: 'rabbitmq',
  exchange: 'x',
  routingKey: 'k',
  assertExchange: undefined,
  label: 'x',
  format: nativeFormat,
};

/** Answers publish() per destination label from a script: 'ok', 'fail' (transient) or 'refuse'. */
class ScriptedSink implements Sink {
  readonly ready = true;
  readonly calls: string[] = [];

  constructor(
    readonly name: SinkName,
    private readonly script: (label: string, attempt: number) => 'ok' | 'fail' | 'refuse',
  ) {}

  connect(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  publish(publication: Publication): void {
    const { destination } = publication;
    this.calls.push(destination.label);
    const attempt = this.calls.filter((label) => label === destination.label).length;
    const answer = this.script(destination.label, attempt);
    // Answered later, as a broker does.
    setImmediate(() => {
      if (answer === 'ok') publication.confirmed();
      else if (answer === 'refuse')
        publication.failed(new UndeliverableError(`${destination.label} refused`, 'rejected'));
      else publication.failed(new Error('broker unavailable'));
    });
  }
}

function delivery(route: RouteResult, sinks: Sink[], maxAttempts = 3) {
  const published: string[] = [];
  const warnings: string[] = [];
  const subject = new Delivery({
    route: () => route,
    sinks: new Map(sinks.map((sink) => [sink.name, sink])),
    maxAttempts,
    metrics: { published: (_sink, label) => published.push(label), endToEnd: () => undefined },
    logger: { warn: (_fields: unknown, message?: string) => void warnings.push(message ?? '') },
    retryDelay: () => Promise.resolve(),
  });
  return { subject, published, warnings };
}

/** One delivery's outcome. */
function deliverOnce(subject: Delivery): Promise<DeliveryOutcome> {
  return new Promise((resolve) => subject.deliver(event, Date.now(), undefined, { settled: resolve }));
}

describe('Delivery', () => {
  test('a format refusal is dead-lettered at once, even on a retry route, with nothing sent', async () => {
    const refusing = {
      ...nativeFormat,
      refuse: () => ({ reason: 'schema_invalid', message: 'E/v1.avsc: x: bad' }),
    };
    const kafka = new ScriptedSink('kafka', () => 'ok');
    const { subject, published } = delivery(
      { destinations: [{ ...topicA, format: refusing }], onUndeliverable: 'retry' },
      [kafka],
    );
    const outcome = await deliverOnce(subject);
    assert.deepEqual(outcome, {
      kind: 'deadLetter',
      deadLetter: { error: 'E/v1.avsc: x: bad', destination: 'kafka:a', attempts: 0 },
      reason: 'schema_invalid',
    });
    assert.deepEqual(kafka.calls, []);
    assert.deepEqual(published, []);
  });

  test('a format that prepares (registry mode): nothing is sent before it settles, then in event order', async () => {
    const turns: (() => void)[] = [];
    const preparing = {
      ...nativeFormat,
      // Like SchemaIds: promises that settle in call order, when the test says so.
      prepare: () => new Promise<undefined>((resolve) => turns.push(() => resolve(undefined))),
    };
    const sent: string[] = [];
    const recording = new ScriptedSink('kafka', () => 'ok');
    const publish = recording.publish.bind(recording);
    recording.publish = (publication) => {
      sent.push(publication.event.id);
      publish(publication);
    };
    const { subject } = delivery(
      { destinations: [{ ...topicA, format: preparing }], onUndeliverable: 'deadLetter' },
      [recording],
    );
    const outcomes = ['e1', 'e2'].map(
      (id) =>
        new Promise<DeliveryOutcome>((resolve) =>
          subject.deliver(outboxEvent({ id }), Date.now(), undefined, { settled: resolve }),
        ),
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(sent, [], 'waiting for prepare');
    for (const turn of turns) turn();
    assert.deepEqual(await Promise.all(outcomes), [{ kind: 'delivered' }, { kind: 'delivered' }]);
    assert.deepEqual(sent, ['e1', 'e2']);
  });

  test('a refusal from prepare (the registry refused the schema) is dead-lettered at once, nothing sent', async () => {
    const rejected = {
      ...nativeFormat,
      prepare: () =>
        Promise.resolve({
          reason: 'schema_rejected',
          message: 'schema registry, subject a-value: incompatible',
        }),
    };
    const kafka = new ScriptedSink('kafka', () => 'ok');
    const { subject } = delivery(
      { destinations: [{ ...topicA, format: rejected }], onUndeliverable: 'retry' },
      [kafka],
    );
    assert.deepEqual(await deliverOnce(subject), {
      kind: 'deadLetter',
      deadLetter: {
        error: 'schema registry, subject a-value: incompatible',
        destination: 'kafka:a',
        attempts: 0,
      },
      reason: 'schema_rejected',
    });
    assert.deepEqual(kafka.calls, []);
  });

  test('fan-out: delivered once every destination confirmed', async () => {
    const kafka = new ScriptedSink('kafka', () => 'ok');
    const rabbit = new ScriptedSink('rabbitmq', () => 'ok');
    const { subject, published } = delivery(
      { destinations: [topicA, exchange], onUndeliverable: 'deadLetter' },
      [kafka, rabbit],
    );
    assert.deepEqual(await deliverOnce(subject), { kind: 'delivered' });
    assert.deepEqual(published.sort(), ['a', 'x']);
  });

  test('fan-out where one destination fails for a while: retried until it succeeds', async () => {
    const kafka = new ScriptedSink('kafka', (label, attempt) =>
      label === 'b' && attempt <= 4 ? 'fail' : 'ok',
    );
    const { subject, published, warnings } = delivery(
      { destinations: [topicA, topicB], onUndeliverable: 'deadLetter' },
      [kafka],
      2,
    );
    assert.deepEqual(await deliverOnce(subject), { kind: 'delivered' });
    // Transient failures never count against maxAttempts (2 here): five attempts on b.
    assert.deepEqual(kafka.calls.filter((label) => label === 'b').length, 5);
    assert.deepEqual(kafka.calls.filter((label) => label === 'a').length, 1);
    assert.deepEqual(published.sort(), ['a', 'b']);
    assert.equal(warnings.filter((message) => message === 'publish failed, retrying').length, 4);
  });

  test('a destination that refuses is tried maxAttempts times, then the event is dead-lettered', async () => {
    const kafka = new ScriptedSink('kafka', () => 'ok');
    const rabbit = new ScriptedSink('rabbitmq', () => 'refuse');
    const { subject, published } = delivery(
      { destinations: [topicA, exchange], onUndeliverable: 'deadLetter' },
      [kafka, rabbit],
      3,
    );
    const outcome = await deliverOnce(subject);
    assert.deepEqual(outcome, {
      kind: 'deadLetter',
      deadLetter: { error: 'x refused', destination: 'rabbitmq:x/k', attempts: 3 },
      reason: 'rejected',
    });
    assert.equal(rabbit.calls.length, 3);
    assert.deepEqual(published, ['a'], 'the other destination still got it');
  });

  test('a refusal, then success within maxAttempts: delivered', async () => {
    const kafka = new ScriptedSink('kafka', (_label, attempt) => (attempt < 3 ? 'refuse' : 'ok'));
    const { subject } = delivery({ destinations: [topicA], onUndeliverable: 'deadLetter' }, [kafka], 3);
    assert.deepEqual(await deliverOnce(subject), { kind: 'delivered' });
    assert.equal(kafka.calls.length, 3);
  });

  test('a retry route never dead-letters, however often it is refused', async () => {
    const kafka = new ScriptedSink('kafka', (_label, attempt) => (attempt <= 20 ? 'refuse' : 'ok'));
    const { subject, published, warnings } = delivery(
      { destinations: [topicA], onUndeliverable: 'retry' },
      [kafka],
      3,
    );
    assert.deepEqual(await deliverOnce(subject), { kind: 'delivered' });
    assert.equal(kafka.calls.length, 21);
    assert.deepEqual(published, ['a']);
    assert.equal(warnings.filter((message) => message === 'event refused, trying again').length, 20);
  });

  test('a sink that answers within publish() itself, or throws from it, is retried like any other', async () => {
    let calls = 0;
    const eager: Sink = {
      name: 'kafka',
      ready: true,
      connect: () => Promise.resolve(),
      close: () => Promise.resolve(),
      publish(publication) {
        calls += 1;
        if (calls === 1) return publication.failed(new UndeliverableError('too large', 'too_large'));
        if (calls === 2) throw new Error('the sink broke');
        publication.confirmed();
      },
    };
    const { subject, published, warnings } = delivery(
      { destinations: [topicA], onUndeliverable: 'deadLetter' },
      [eager],
    );
    assert.deepEqual(await deliverOnce(subject), { kind: 'delivered' });
    assert.equal(calls, 3);
    assert.deepEqual(published, ['a']);
    assert.deepEqual(warnings, ['event refused, trying again', 'publish failed, retrying']);
  });

  test('unroutable: dead-lettered at once, with no publish attempt', async () => {
    const kafka = new ScriptedSink('kafka', () => 'ok');
    const { subject, published } = delivery({ deadLetter: 'no route for order' }, [kafka]);
    assert.deepEqual(await deliverOnce(subject), {
      kind: 'deadLetter',
      deadLetter: { error: 'no route for order', destination: undefined, attempts: 0 },
      reason: 'unroutable',
    });
    assert.equal(kafka.calls.length, 0);
    assert.deepEqual(published, []);
  });

  test('a route naming a sink that is not configured throws at once', () => {
    const { subject } = delivery({ destinations: [exchange], onUndeliverable: 'deadLetter' }, []);
    assert.throws(
      () => subject.deliver(event, Date.now(), undefined, { settled: () => undefined }),
      /no rabbitmq sink configured for x/,
    );
  });
});
