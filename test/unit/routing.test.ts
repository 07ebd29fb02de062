import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { nativeFormat } from '../../src/formats/native.js';
import { Formats } from '../../src/formats/registry.js';
import { parse } from 'yaml';
import { defaultRoutes, globMatcher, Router } from '../../src/routing/router.js';
import type { RoutesSpec } from '../../src/routing/router.js';
import { loadRoutesFile, parseRoutes, RoutesFileError } from '../../src/routing/routes-file.js';
import { compileTemplate } from '../../src/routing/template.js';
import type { KafkaDestination } from '../../src/sinks/kafka-destination.js';
import type { RabbitMqDestination } from '../../src/sinks/rabbitmq-destination.js';
import type { FormattedDestination } from '../../src/sinks/sink.js';
import type { OutboxEvent } from '../../src/wal/event.js';

const BOTH = { kafka: true, rabbitmq: true };

function event(aggregateType: string, aggregateId = 'a1', eventType = 'Created'): OutboxEvent {
  return {
    id: '00000000-0000-0000-0000-000000000001',
    aggregateType,
    aggregateId,
    eventType,
    payload: '{}',
    headers: {},
    createdAt: '2026-11-25T00:00:00.000Z',
  };
}

const CONTRACT_EXAMPLE = `
routes:
  - aggregateType: order            # exact name or glob (order.*, *)
    destinations:
      - kafka: { topic: orders }
  - aggregateType: user
    destinations:
      - rabbitmq: { exchange: users, routingKey: "user.\${eventType}" }
      - kafka: { topic: "outbox.\${aggregateType}" }
default: deadLetter
`;

function writeRoutes(text: string, name = 'routes.yaml'): string {
  const path = join(mkdtempSync(join(tmpdir(), 'routes-')), name);
  writeFileSync(path, text);
  return path;
}

/** The one-line message for a routes document, or a failure when it was accepted. */
function rejection(document: unknown, brokers = BOTH): string {
  try {
    parseRoutes(document, brokers);
  } catch (error) {
    assert.ok(error instanceof RoutesFileError, String(error));
    assert.doesNotMatch(error.message, /\n/, 'one line');
    return error.message;
  }
  assert.fail(`accepted: ${JSON.stringify(document)}`);
}

describe('templates', () => {
  test('fill in the event fields they name', () => {
    const template = compileTemplate('${aggregateType}.${eventType}/${aggregateId}');
    assert.equal(template.render(event('order', 'o-7', 'Placed')), 'order.Placed/o-7');
    assert.deepEqual(template.fields, ['aggregateType', 'eventType', 'aggregateId']);
  });

  test('reject a field that events do not have', () => {
    assert.throws(() => compileTemplate('x.${tenant}'), /unknown template field \$\{tenant\}/);
  });
});

describe('glob matching', () => {
  test('exact names, prefixes and the catch-all', () => {
    assert.ok(globMatcher('order')('order'));
    assert.ok(!globMatcher('order')('orders'));
    assert.ok(globMatcher('order.*')('order.line'));
    assert.ok(!globMatcher('order.*')('orderline'), 'the dot is literal');
    assert.ok(globMatcher('*')('anything'));
    assert.ok(globMatcher('*.audit')('user.audit'));
  });
});

describe('Router', () => {
  const spec: RoutesSpec = {
    routes: [
      { aggregateType: 'order', destinations: [{ kafka: { topic: 'orders' } }] },
      {
        aggregateType: 'user*',
        destinations: [
          { rabbitmq: { exchange: 'users', routingKey: 'user.${eventType}', assert: true, type: 'fanout' } },
          { kafka: { topic: 'outbox.${aggregateType}' } },
        ],
        onUndeliverable: 'retry',
      },
      { aggregateType: 'order', destinations: [{ kafka: { topic: 'never' } }] },
    ],
    default: 'deadLetter',
  };
  const router = new Router(spec);

  test('the first matching route wins', () => {
    assert.deepEqual(router.route(event('order')), {
      destinations: [{ sink: 'kafka', topic: 'orders', label: 'orders', format: nativeFormat }],
      onUndeliverable: 'deadLetter',
    });
  });

  test('fans out to every destination of the route, templates filled in', () => {
    assert.deepEqual(router.route(event('user', 'u1', 'Renamed')), {
      destinations: [
        {
          sink: 'rabbitmq',
          exchange: 'users',
          routingKey: 'user.Renamed',
          assertExchange: 'fanout',
          label: 'users',
          format: nativeFormat,
        },
        { sink: 'kafka', topic: 'outbox.user', label: 'outbox.user', format: nativeFormat },
      ],
      onUndeliverable: 'retry',
    });
  });

  test('an event no route matches is dead-lettered when the default says so', () => {
    assert.deepEqual(router.route(event('invoice')), { deadLetter: 'no route for aggregate type "invoice"' });
  });

  test('names built from aggregate ids are reported by their template, keeping metric labels few', () => {
    const perAggregate = new Router({ routes: [], default: [{ kafka: { topic: 'a.${aggregateId}' } }] });
    const route = perAggregate.route(event('x', 'id-1'));
    assert.ok('destinations' in route);
    assert.deepEqual(route.destinations[0], {
      sink: 'kafka',
      topic: 'a.id-1',
      label: 'a.${aggregateId}',
      format: nativeFormat,
    });
  });

  test('lists the sinks its routes use', () => {
    assert.deepEqual([...router.sinks()].sort(), ['kafka', 'rabbitmq']);
  });

  test("says whether a route's format reads the columns' text (only debezium does)", () => {
    assert.equal(router.readsColumnText(), false);
    const debezium = new Formats().get('debezium');
    const routes = [{ aggregateType: 'order', destinations: [{ kafka: { topic: 't' } }], format: debezium }];
    assert.equal(new Router({ routes, default: 'deadLetter' }).readsColumnText(), true);
    assert.equal(new Router({ routes: [], default: [], format: debezium }).readsColumnText(), true);
  });

  test('without a routes file: Kafka topic outbox.<type>, else the declared RabbitMQ exchange outbox', () => {
    const kafka = new Router(defaultRoutes({ kafka: true, rabbitmq: true })).route(event('order'));
    assert.ok('destinations' in kafka);
    assert.deepEqual(kafka.destinations, [
      { sink: 'kafka', topic: 'outbox.order', label: 'outbox.order', format: nativeFormat },
    ]);
    const rabbit = new Router(defaultRoutes({ kafka: false, rabbitmq: true })).route(event('order'));
    assert.ok('destinations' in rabbit);
    assert.deepEqual(rabbit.destinations, [
      {
        sink: 'rabbitmq',
        exchange: 'outbox',
        routingKey: 'order.Created',
        assertExchange: 'topic',
        label: 'outbox',
        format: nativeFormat,
      },
    ]);
  });
});

describe('routes file', () => {
  test('the contract example loads from YAML', () => {
    const spec = loadRoutesFile(writeRoutes(CONTRACT_EXAMPLE), BOTH);
    assert.equal(spec.routes.length, 2);
    assert.equal(spec.default, 'deadLetter');
    assert.deepEqual(spec.routes[1]!.destinations[0], {
      rabbitmq: { exchange: 'users', routingKey: 'user.${eventType}', assert: false },
    });
  });

  test('JSON loads too, with a default list of destinations', () => {
    const json = JSON.stringify({
      routes: [],
      default: [{ rabbitmq: { exchange: 'events', assert: true, type: 'topic' } }],
    });
    const spec = loadRoutesFile(writeRoutes(json, 'routes.json'), BOTH);
    assert.deepEqual(spec.default, [
      {
        rabbitmq: {
          exchange: 'events',
          routingKey: '${aggregateType}.${eventType}',
          assert: true,
          type: 'topic',
        },
      },
    ]);
  });

  test('an empty file routes nothing: every event is dead-lettered', () => {
    assert.deepEqual(loadRoutesFile(writeRoutes(''), BOTH), { routes: [], default: 'deadLetter' });
  });

  test('a file that cannot be read names the path', () => {
    assert.throws(
      () => loadRoutesFile('/nonexistent/routes.yaml', BOTH),
      /cannot read \/nonexistent\/routes.yaml \(ENOENT\)/,
    );
  });

  test('a syntax error names the line', () => {
    const path = writeRoutes('routes:\n  - aggregateType: order\n    destinations: [\n');
    assert.throws(() => loadRoutesFile(path, BOTH), /expected YAML or JSON, syntax error on line \d/);
  });

  const order = (destination: unknown) => ({
    routes: [{ aggregateType: 'order', destinations: [destination] }],
  });

  test('an unknown key names it and where it is', () => {
    assert.equal(
      rejection({
        routes: [{ aggregateType: 'order', destinations: [{ kafka: { topic: 't', partition: 1 } }] }],
      }),
      'routes[0] (aggregateType "order").destinations[0].kafka: unknown key "partition"',
    );
    assert.equal(rejection({ routes: [], defaults: 'deadLetter' }), 'unknown key "defaults"');
  });

  test('a missing topic or exchange is required', () => {
    assert.equal(
      rejection(order({ kafka: {} })),
      'routes[0] (aggregateType "order").destinations[0].kafka.topic: required: a topic name',
    );
    assert.equal(
      rejection(order({ rabbitmq: { routingKey: 'k' } })),
      'routes[0] (aggregateType "order").destinations[0].rabbitmq.exchange: required: an exchange name',
    );
  });

  test('a template naming an unknown field', () => {
    assert.match(
      rejection(order({ kafka: { topic: 'outbox.${tenant}' } })),
      /^routes\[0\] \(aggregateType "order"\)\.destinations\[0\]\.kafka\.topic: unknown template field \$\{tenant\} \(expected one of aggregateType, aggregateId, eventType\)$/,
    );
  });

  test('an invalid glob', () => {
    assert.equal(
      rejection({ routes: [{ aggregateType: 'order.[ab]', destinations: [{ kafka: { topic: 't' } }] }] }),
      'routes[0] (aggregateType "order.[ab]").aggregateType: expected a name or a glob where only * is special',
    );
  });

  test('a route to a broker that is not configured', () => {
    assert.equal(
      rejection(order({ rabbitmq: { exchange: 'x' } }), { kafka: true, rabbitmq: false }),
      'routes[0] (aggregateType "order").destinations[0].rabbitmq: RABBITMQ_URL is not set: configure the broker or remove this destination',
    );
    assert.equal(
      rejection({ default: [{ kafka: { topic: 'all' } }] }, { kafka: false, rabbitmq: true }),
      'default.destinations[0].kafka: KAFKA_BROKERS is not set: configure the broker or remove this destination',
    );
  });

  test('an illegal Kafka topic name', () => {
    assert.match(
      rejection(order({ kafka: { topic: 'orders and more' } })),
      /kafka\.topic: expected a Kafka topic name/,
    );
  });

  test('a destination naming both brokers, or neither', () => {
    assert.match(
      rejection(order({ kafka: { topic: 't' }, rabbitmq: { exchange: 'x' } })),
      /destinations\[0\]: expected exactly one of kafka/,
    );
    assert.match(rejection(order({})), /destinations\[0\]: expected exactly one of kafka/);
  });

  test('a route without destinations', () => {
    assert.equal(
      rejection({ routes: [{ aggregateType: 'order', destinations: [] }] }),
      'routes[0] (aggregateType "order").destinations: expected at least one destination',
    );
  });

  test('an exchange type without assert, or an unknown one', () => {
    assert.match(
      rejection(order({ rabbitmq: { exchange: 'x', type: 'topic' } })),
      /rabbitmq\.type: only used with assert: true/,
    );
    assert.match(
      rejection(order({ rabbitmq: { exchange: 'x', assert: true, type: 'queue' } })),
      /rabbitmq\.type: expected one of direct, topic, fanout, headers/,
    );
  });

  test('a default that is neither deadLetter nor destinations', () => {
    assert.equal(rejection({ default: 'drop' }), 'default: expected deadLetter or a list of destinations');
    assert.equal(rejection({ default: [{ kafka: {} }] }), 'default[0].kafka.topic: required: a topic name');
  });

  test('an unknown failure policy', () => {
    assert.equal(
      rejection({
        routes: [
          { aggregateType: 'order', destinations: [{ kafka: { topic: 't' } }], onUndeliverable: 'drop' },
        ],
      }),
      'routes[0] (aggregateType "order").onUndeliverable: expected deadLetter or retry',
    );
  });
});

describe('the documented routes files', () => {
  for (const doc of ['README.md', 'docs/routing.md']) {
    test(`every YAML routes example in ${doc} is valid and routes as the text says`, () => {
      const text = readFileSync(new URL(`../../${doc}`, import.meta.url), 'utf8');
      const examples = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1]!);
      assert.ok(examples.length > 0, `${doc} has a YAML example`);
      for (const example of examples) {
        const router = new Router(parseRoutes(parse(example), BOTH));
        assert.deepEqual(router.route(event('order', 'o-1', 'OrderPlaced')), {
          destinations: [{ sink: 'kafka', topic: 'orders', label: 'orders', format: nativeFormat }],
          onUndeliverable: 'deadLetter',
        });
        const user = router.route(event('user', 'u-7', 'UserRenamed'));
        assert.ok('destinations' in user);
        assert.deepEqual(
          user.destinations.map((d) => {
            if (d.sink === 'kafka') return (d as KafkaDestination & FormattedDestination).topic;
            const { exchange, routingKey } = d as RabbitMqDestination & FormattedDestination;
            return `${exchange}/${routingKey}`;
          }),
          ['users/user.UserRenamed', 'outbox.user'],
        );
        assert.ok('deadLetter' in router.route(event('shipment', 's-9', 'Shipped')));
      }
    });
  }
});
