// loadConfig: heartbeat and attempts, TLS and SASL for PostgreSQL, Kafka and RabbitMQ.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { readTlsFiles } from '../../src/tls.js';

const BASE = { DATABASE_URL: 'postgres://relay:pw@db:5432/app', KAFKA_BROKERS: 'k1:9092' };
const dir = mkdtempSync(join(tmpdir(), 'outbox-relay-config-'));
const CA = join(dir, 'ca.pem');
const CERT = join(dir, 'client.pem');
const KEY = join(dir, 'client.key');
writeFileSync(CA, 'ca');
writeFileSync(CERT, 'cert');
writeFileSync(KEY, 'key');
const MISSING = join(dir, 'missing.pem');

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig: heartbeat and attempts', () => {
  test('defaults to a 10 s heartbeat and 3 attempts', () => {
    const config = loadConfig(BASE);
    assert.equal(config.heartbeatIntervalMs, 10_000);
    assert.equal(config.maxAttempts, 3);
  });
  test('0 turns the heartbeat off', () => {
    assert.equal(loadConfig({ ...BASE, OUTBOX_HEARTBEAT_INTERVAL_MS: '0' }).heartbeatIntervalMs, 0);
  });
  test('refuses 0 attempts', () => {
    assert.match(
      configError({ ...BASE, OUTBOX_MAX_ATTEMPTS: '0' }).message,
      /^OUTBOX_MAX_ATTEMPTS: expected/,
    );
  });
});

describe('loadConfig: PostgreSQL TLS', () => {
  test('leaves the URL alone without PG* variables', () => {
    assert.equal(loadConfig(BASE).databaseUrl, BASE.DATABASE_URL);
  });
  test('adds PGSSLMODE and the PGSSL* files to the connection string', () => {
    const url = new URL(
      loadConfig({ ...BASE, PGSSLMODE: 'verify-full', PGSSLROOTCERT: CA, PGSSLCERT: CERT, PGSSLKEY: KEY })
        .databaseUrl,
    );
    assert.equal(url.searchParams.get('sslmode'), 'verify-full');
    assert.equal(url.searchParams.get('sslrootcert'), CA);
    assert.equal(url.searchParams.get('sslcert'), CERT);
    assert.equal(url.searchParams.get('sslkey'), KEY);
    assert.equal(url.password, 'pw');
  });
  test('keeps what the URL already says', () => {
    const url = new URL(
      loadConfig({ ...BASE, DATABASE_URL: `${BASE.DATABASE_URL}?sslmode=require`, PGSSLMODE: 'disable' })
        .databaseUrl,
    );
    assert.equal(url.searchParams.get('sslmode'), 'require');
  });
  test('names PGSSLROOTCERT when its file does not exist', () => {
    assert.match(
      configError({ ...BASE, PGSSLROOTCERT: MISSING }).message,
      /^PGSSLROOTCERT: expected the path of an existing file$/,
    );
  });
  test('names DATABASE_URL when its sslrootcert does not exist', () => {
    const error = configError({ ...BASE, DATABASE_URL: `${BASE.DATABASE_URL}?sslrootcert=${MISSING}` });
    assert.match(error.message, /^DATABASE_URL: sslrootcert must name an existing file$/);
    assert.ok(!error.message.includes('pw@'));
  });
  test('keeps a unix-socket URL verbatim and appends to its query', () => {
    const socket = 'postgres://relay@%2Fvar%2Frun%2Fpostgresql/app?application_name=x';
    assert.equal(
      loadConfig({ ...BASE, DATABASE_URL: socket, PGSSLMODE: 'disable' }).databaseUrl,
      `${socket}&sslmode=disable`,
    );
  });
  test('refuses an unknown sslmode', () => {
    assert.match(configError({ ...BASE, PGSSLMODE: 'allow-all' }).message, /^PGSSLMODE: expected disable/);
  });
});

describe('loadConfig: Kafka TLS and SASL', () => {
  test('plaintext by default', () => {
    const config = loadConfig(BASE);
    assert.equal(config.sinks.kafka!.tls, undefined);
    assert.equal(config.sinks.kafka!.sasl, undefined);
  });
  test('KAFKA_SSL=true alone uses the system CAs and verifies the broker', () => {
    assert.deepEqual(loadConfig({ ...BASE, KAFKA_SSL: 'true' }).sinks.kafka!.tls, {
      caFile: undefined,
      certFile: undefined,
      keyFile: undefined,
      rejectUnauthorized: true,
    });
  });
  test('files imply TLS, and are read for the client', () => {
    const tls = loadConfig({
      ...BASE,
      KAFKA_SSL_CA_FILE: CA,
      KAFKA_SSL_CERT_FILE: CERT,
      KAFKA_SSL_KEY_FILE: KEY,
    }).sinks.kafka!.tls!;
    assert.deepEqual(tls, { caFile: CA, certFile: CERT, keyFile: KEY, rejectUnauthorized: true });
    assert.deepEqual(readTlsFiles(tls), { ca: 'ca', cert: 'cert', key: 'key' });
  });
  test('KAFKA_SSL_INSECURE turns verification off', () => {
    assert.equal(
      loadConfig({ ...BASE, KAFKA_SSL: '1', KAFKA_SSL_INSECURE: 'true' }).sinks.kafka!.tls
        ?.rejectUnauthorized,
      false,
    );
  });
  const cases: [string, Record<string, string>, RegExp][] = [
    [
      'a missing CA file',
      { KAFKA_SSL_CA_FILE: MISSING },
      /^KAFKA_SSL_CA_FILE: expected the path of an existing file$/,
    ],
    ['a certificate without its key', { KAFKA_SSL_CERT_FILE: CERT }, /^KAFKA_SSL_KEY_FILE: required/],
    [
      'files with KAFKA_SSL=false',
      { KAFKA_SSL: 'false', KAFKA_SSL_CA_FILE: CA },
      /^KAFKA_SSL: must not be false/,
    ],
    ['KAFKA_SSL=yes', { KAFKA_SSL: 'yes' }, /^KAFKA_SSL: expected true or false$/],
    [
      'an unknown SASL mechanism',
      { KAFKA_SASL_MECHANISM: 'gssapi' },
      /^KAFKA_SASL_MECHANISM: expected plain/,
    ],
    [
      'a SASL mechanism without a password',
      { KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'relay' },
      /^KAFKA_SASL_PASSWORD: required when KAFKA_SASL_MECHANISM is set$/,
    ],
    [
      'credentials without a mechanism',
      { KAFKA_SASL_USERNAME: 'relay', KAFKA_SASL_PASSWORD: 'Sup3rSecret' },
      /^KAFKA_SASL_MECHANISM: required/,
    ],
  ];
  for (const [name, env, expected] of cases) {
    test(`names the field for ${name}`, () => {
      const error = configError({ ...BASE, ...env });
      assert.match(error.message, expected);
      assert.ok(!error.message.includes('Sup3rSecret'));
    });
  }
  test('reads SASL credentials', () => {
    assert.deepEqual(
      loadConfig({
        ...BASE,
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
      }).sinks.kafka!.sasl,
      { mechanism: 'plain', username: 'u', password: 'p' },
    );
  });
});

describe('loadConfig: RabbitMQ TLS', () => {
  const AMQPS = { DATABASE_URL: BASE.DATABASE_URL, RABBITMQ_URL: 'amqps://relay:pw@mq:5671/' };
  test('none by default', () => {
    assert.equal(loadConfig(AMQPS).sinks.rabbitmq!.tls, undefined);
  });
  test("exposes the files as the RabbitMQ settings' tls", () => {
    assert.deepEqual(
      loadConfig({
        ...AMQPS,
        RABBITMQ_SSL_CA_FILE: CA,
        RABBITMQ_SSL_CERT_FILE: CERT,
        RABBITMQ_SSL_KEY_FILE: KEY,
      }).sinks.rabbitmq!.tls,
      { caFile: CA, certFile: CERT, keyFile: KEY },
    );
  });
  test('requires amqps:// with TLS files', () => {
    assert.match(
      configError({ ...AMQPS, RABBITMQ_URL: 'amqp://mq', RABBITMQ_SSL_CA_FILE: CA }).message,
      /^RABBITMQ_URL: expected an amqps:\/\/ URL/,
    );
  });
  test('names a missing file', () => {
    assert.match(
      configError({ ...AMQPS, RABBITMQ_SSL_KEY_FILE: MISSING }).message,
      /^RABBITMQ_SSL_KEY_FILE: expected the path of an existing file$/,
    );
  });
});
