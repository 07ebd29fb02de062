import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CONFIG_VARIABLES, ConfigError, loadConfig, requireBroker } from '../../src/config.js';

const BASE = { DATABASE_URL: 'postgres://relay@db:5432/app', KAFKA_BROKERS: 'k1:9092, k2:9092' };

function configError(env: Record<string, string>): ConfigError {
  try {
    requireBroker(loadConfig(env));
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig', () => {
  test('applies the documented defaults', () => {
    const config = loadConfig(BASE);
    assert.deepEqual(config.table, { schema: 'public', name: 'outbox' });
    assert.equal(config.slot, 'outbox_relay');
    assert.equal(config.publication, 'outbox_relay_pub');
    assert.equal(config.completion, 'delete');
    assert.deepEqual(config.sinks.kafka!.brokers, ['k1:9092', 'k2:9092']);
    assert.equal(config.sinks.rabbitmq, undefined, 'RabbitMQ is not configured');
    assert.equal(config.metricsPort, 9464);
    assert.equal(config.metricsHost, '0.0.0.0');
    assert.equal(config.logLevel, 'info');
    const rabbitmq = loadConfig({ ...BASE, RABBITMQ_URL: 'amqp://mq' }).sinks.rabbitmq!;
    assert.equal(rabbitmq.maxUnconfirmed, 1_000);
    assert.equal(rabbitmq.maxMessageBytes, 134_217_728);
  });

  test('reads the RabbitMQ limits', () => {
    const config = loadConfig({
      ...BASE,
      RABBITMQ_URL: 'amqp://mq',
      RABBITMQ_MAX_UNCONFIRMED: '250',
      RABBITMQ_MAX_MESSAGE_BYTES: '1048576',
    });
    assert.equal(config.sinks.rabbitmq!.maxUnconfirmed, 250);
    assert.equal(config.sinks.rabbitmq!.maxMessageBytes, 1_048_576);
  });

  test('reads a schema-qualified table', () => {
    assert.deepEqual(loadConfig({ ...BASE, OUTBOX_TABLE: 'events.outbox' }).table, {
      schema: 'events',
      name: 'outbox',
    });
  });

  const cases: [string, Record<string, string>, RegExp][] = [
    ['missing DATABASE_URL', { KAFKA_BROKERS: 'k:9092' }, /^DATABASE_URL: required/],
    [
      'a DATABASE_URL that is not postgres',
      { ...BASE, DATABASE_URL: 'mysql://x' },
      /^DATABASE_URL: expected a postgres:\/\//,
    ],
    [
      'an injection attempt in the table name',
      { ...BASE, OUTBOX_TABLE: 'outbox; drop table x' },
      /^OUTBOX_TABLE: expected/,
    ],
    ['an upper-case slot name', { ...BASE, OUTBOX_SLOT: 'Relay' }, /^OUTBOX_SLOT: expected a slot name/],
    ['a quoted publication name', { ...BASE, OUTBOX_PUBLICATION: 'p"x' }, /^OUTBOX_PUBLICATION: expected/],
    [
      'an unknown completion mode',
      { ...BASE, OUTBOX_COMPLETION: 'archive' },
      /^OUTBOX_COMPLETION: expected delete or mark/,
    ],
    [
      'a broker without a port',
      { ...BASE, KAFKA_BROKERS: 'kafka' },
      /^KAFKA_BROKERS: expected a comma-separated list of host:port/,
    ],
    ['an http RabbitMQ URL', { ...BASE, RABBITMQ_URL: 'http://x' }, /^RABBITMQ_URL: expected an amqp/],
    [
      'no unconfirmed RabbitMQ messages allowed',
      { ...BASE, RABBITMQ_MAX_UNCONFIRMED: '0' },
      /^RABBITMQ_MAX_UNCONFIRMED: expected an integer from 1 to 1000000$/,
    ],
    [
      'a RabbitMQ message limit above the broker ceiling',
      { ...BASE, RABBITMQ_MAX_MESSAGE_BYTES: '1073741824' },
      /^RABBITMQ_MAX_MESSAGE_BYTES: expected an integer from 1 to 536870912$/,
    ],
    [
      'a port out of range',
      { ...BASE, METRICS_PORT: '70000' },
      /^METRICS_PORT: expected an integer from 0 to 65535/,
    ],
    ['a non-numeric port', { ...BASE, METRICS_PORT: 'http' }, /^METRICS_PORT: expected an integer/],
    ['an unknown log level', { ...BASE, LOG_LEVEL: 'verbose' }, /^LOG_LEVEL: expected one of/],
    ['no broker at all', { DATABASE_URL: BASE.DATABASE_URL }, /^KAFKA_BROKERS: required \(or RABBITMQ_URL\)/],
  ];
  for (const [name, env, expected] of cases) {
    test(`names the field for ${name}`, () => {
      const error = configError(env);
      assert.match(error.message, expected);
      assert.ok(!error.message.includes('\n'), 'one line');
    });
  }

  test('never echoes a password in an error', () => {
    const error = configError({ DATABASE_URL: 'postgres://u:s3cret@h/db', KAFKA_BROKERS: 'bad' });
    assert.ok(!error.message.includes('s3cret'));
  });
});

describe('CONFIG_VARIABLES', () => {
  test("gives every variable, the core's and each broker's, a one-line doc", () => {
    assert.ok(CONFIG_VARIABLES.some(({ name }) => name === 'KAFKA_BROKERS'));
    assert.ok(CONFIG_VARIABLES.some(({ name }) => name === 'RABBITMQ_URL'));
    for (const { name, doc } of CONFIG_VARIABLES) {
      assert.match(doc, /^\S.*\S$/, `${name} has a doc`);
      assert.ok(!doc.includes('\n'), `${name}'s doc is one line`);
    }
  });

  test('every variable has a default or may be unset, except DATABASE_URL, which is required', () => {
    assert.doesNotThrow(() => loadConfig({ DATABASE_URL: BASE.DATABASE_URL }));
    assert.throws(
      () => loadConfig({}),
      (error) => error instanceof ConfigError && /^DATABASE_URL: required: /.test(error.message),
    );
    assert.equal(CONFIG_VARIABLES.find(({ name }) => name === 'DATABASE_URL')!.default, undefined);
  });

  test('reads each default as text, also through a transform', () => {
    const defaults = Object.fromEntries(CONFIG_VARIABLES.map(({ name, default: value }) => [name, value]));
    assert.equal(defaults['OUTBOX_TABLE'], 'public.outbox');
    assert.equal(defaults['METRICS_PORT'], '9464');
    assert.equal(defaults['KAFKA_AUTO_CREATE_TOPICS'], 'true');
    assert.equal(defaults['OUTBOX_ROUTES'], undefined);
  });
});
