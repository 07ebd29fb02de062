// A broker is one descriptor in a registry: a test broker registered the same way as Kafka and
// RabbitMQ gets its variables read, its routes-file destinations validated and routed, and is named
// in the errors, with no change elsewhere.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nativeFormat } from '../../src/formats/native.js';
import { z } from 'zod';
import { CONFIG_VARIABLES, ConfigError, loadConfig, requireBroker } from '../../src/config.js';
import { defaultRoutes, Router } from '../../src/routing/router.js';
import { parseRoutes, RoutesFileError } from '../../src/routing/routes-file.js';
import { compileTemplate, metricLabel, templateString } from '../../src/routing/template.js';
import { configuredSinks, describeDestination, SINKS } from '../../src/sinks/registry.js';
import type { SinkRegistry } from '../../src/sinks/registry.js';
import { defineSink } from '../../src/sinks/sink.js';
import type { Sink } from '../../src/sinks/sink.js';
import type { OutboxEvent } from '../../src/wal/event.js';

interface MemoryDestination {
  readonly sink: 'memory';
  readonly queue: string;
  readonly label: string;
}

const memory = defineSink({
  name: 'memory',
  title: 'Memory',
  variable: 'MEMORY_QUEUES',
  env: { MEMORY_QUEUES: z.string().regex(/^\d+$/, 'expected a number of queues').optional() },
  settings: (env) =>
    env['MEMORY_QUEUES'] === undefined ? undefined : { queues: Number(env['MEMORY_QUEUES']) },
  synopsis: 'queue',
  destination: z.strictObject({ queue: templateString('a queue name') }),
  defaultDestination: { queue: 'all' },
  compile(spec) {
    const queue = compileTemplate(spec.queue);
    return {
      fields: queue.fields,
      resolve: (event): MemoryDestination => {
        const name = queue.render(event);
        return { sink: 'memory', queue: name, label: metricLabel(queue, name) };
      },
    };
  },
  describe: (destination: MemoryDestination) => `memory:${destination.queue}`,
  create: (): Promise<Sink> => Promise.reject(new Error('not needed here')),
});

const REGISTRY: SinkRegistry = [...SINKS, memory];
const DATABASE_URL = 'postgres://relay@db:5432/app';

const event: OutboxEvent = {
  id: '00000000-0000-0000-0000-000000000001',
  aggregateType: 'order',
  aggregateId: 'o-1',
  eventType: 'Placed',
  payload: '{}',
  headers: {},
  createdAt: '2026-11-25T00:00:00.000Z',
};

describe('a broker registered in a registry', () => {
  test('config reads its variables into its settings, and validates them', () => {
    const config = loadConfig({ DATABASE_URL, MEMORY_QUEUES: '3' }, REGISTRY);
    assert.deepEqual(config.sinks['memory'], { queues: 3 });
    assert.deepEqual(configuredSinks(config.sinks, REGISTRY), {
      kafka: false,
      rabbitmq: false,
      memory: true,
    });
    assert.doesNotThrow(() => requireBroker(config, REGISTRY));
    assert.throws(
      () => loadConfig({ DATABASE_URL, MEMORY_QUEUES: 'many' }, REGISTRY),
      (error) =>
        error instanceof ConfigError && error.message === 'MEMORY_QUEUES: expected a number of queues',
    );
    assert.throws(
      () => requireBroker(loadConfig({ DATABASE_URL }, REGISTRY), REGISTRY),
      /^ConfigError: KAFKA_BROKERS: required \(or RABBITMQ_URL, or MEMORY_QUEUES\)/,
    );
  });

  test('the default registry does not read its variables', () => {
    assert.ok(!CONFIG_VARIABLES.some(({ name }) => name === 'MEMORY_QUEUES'));
    assert.equal(loadConfig({ DATABASE_URL, MEMORY_QUEUES: '3' }).sinks['memory'], undefined);
  });

  test('routes files name it like any broker, and the router compiles its destinations', () => {
    const brokers = { kafka: true, rabbitmq: false, memory: true };
    const spec = parseRoutes(
      {
        routes: [
          {
            aggregateType: 'order',
            destinations: [{ memory: { queue: 'q.${aggregateId}' } }, { kafka: { topic: 't' } }],
          },
        ],
      },
      brokers,
      REGISTRY,
    );
    const router = new Router(spec, REGISTRY);
    assert.deepEqual([...router.sinks()].sort(), ['kafka', 'memory']);
    const route = router.route(event);
    assert.ok('destinations' in route);
    assert.deepEqual(route.destinations, [
      { sink: 'memory', queue: 'q.o-1', label: 'q.${aggregateId}', format: nativeFormat },
      { sink: 'kafka', topic: 't', label: 't', format: nativeFormat },
    ]);
    assert.equal(describeDestination(route.destinations[0]!, REGISTRY), 'memory:q.o-1');
    assert.equal(describeDestination(route.destinations[1]!, REGISTRY), 'kafka:t');
  });

  test('its schema, its variable and its synopsis appear in the routes file errors', () => {
    const rejection = (document: unknown, brokers: Record<string, boolean>): string => {
      try {
        parseRoutes(document, brokers, REGISTRY);
      } catch (error) {
        assert.ok(error instanceof RoutesFileError);
        return error.message;
      }
      assert.fail('accepted');
    };
    assert.equal(
      rejection({ default: [{ memory: {} }] }, { memory: true }),
      'default[0].memory.queue: required: a queue name',
    );
    assert.equal(
      rejection({ default: [{ memory: { queue: 'q' } }] }, { memory: false }),
      'default.destinations[0].memory: MEMORY_QUEUES is not set: configure the broker or remove this destination',
    );
    assert.equal(
      rejection({ default: [{}] }, { memory: true }),
      'default[0]: expected exactly one of kafka: { topic }, rabbitmq: { exchange, routingKey } or memory: { queue }',
    );
  });

  test('without a routes file, the first configured broker of the registry gets everything', () => {
    const router = new Router(
      defaultRoutes({ kafka: false, rabbitmq: false, memory: true }, REGISTRY),
      REGISTRY,
    );
    const route = router.route(event);
    assert.ok('destinations' in route);
    assert.deepEqual(route.destinations, [
      { sink: 'memory', queue: 'all', label: 'all', format: nativeFormat },
    ]);
  });
});
