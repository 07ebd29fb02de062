// Secrets never reach the logs or error messages: the relay CLI is run with passwords it cannot use.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertNoProcessLeft, startRelayProcess } from '../kit/relay.js';
import { createTestDatabase, KAFKA_BROKER, PG_PORT } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const PASSWORD = 'Tr0ub4dor-and-3';

function assertNoSecret(output: string[]): void {
  const text = output.join('\n');
  assert.ok(!text.includes(PASSWORD), `a secret leaked:\n${text}`);
  assert.ok(!text.includes(encodeURIComponent(PASSWORD)), 'a secret leaked, URL-encoded');
}

describe('secrets in logs and errors', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('secrets');
  });
  after(async () => {
    await db.drop();
  });

  test('a database that refuses connections: exit 1, the password appears nowhere', async () => {
    const relay = startRelayProcess({
      DATABASE_URL: `postgres://relay:${PASSWORD}@127.0.0.1:1/app`,
      KAFKA_BROKERS: KAFKA_BROKER,
    });
    assert.equal(await relay.exited, 1);
    assert.ok(
      relay.output.some((line) => line.includes('ECONNREFUSED')),
      relay.output.join('\n'),
    );
    assertNoSecret(relay.output);
  });

  test('a database that does not exist: exit 1, the password appears nowhere', async () => {
    const relay = startRelayProcess({
      DATABASE_URL: `postgres://postgres:${PASSWORD}@127.0.0.1:${PG_PORT}/no_such_database?sslmode=disable`,
      KAFKA_BROKERS: KAFKA_BROKER,
    });
    assert.equal(await relay.exited, 1);
    assert.ok(
      relay.output.some((line) => line.includes('does not exist')),
      relay.output.join('\n'),
    );
    assertNoSecret(relay.output);
  });

  test('PGSSLMODE is applied: require against a server without TLS fails, without the password', async () => {
    const relay = startRelayProcess({
      DATABASE_URL: db.url.replace('postgres@', `postgres:${PASSWORD}@`),
      OUTBOX_SLOT: db.slot,
      KAFKA_BROKERS: KAFKA_BROKER,
      PGSSLMODE: 'require',
    });
    assert.equal(await relay.exited, 1);
    assert.ok(
      relay.output.some((line) => line.includes('does not support SSL')),
      relay.output.join('\n'),
    );
    assertNoSecret(relay.output);
  });

  test('a Kafka broker that rejects SASL: retries are logged, the SASL password is not', async () => {
    const relay = startRelayProcess({
      DATABASE_URL: db.url.replace('postgres@', `postgres:${PASSWORD}@`),
      OUTBOX_SLOT: db.slot,
      KAFKA_BROKERS: KAFKA_BROKER,
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'relay',
      KAFKA_SASL_PASSWORD: PASSWORD,
      LOG_LEVEL: 'debug',
    });
    try {
      await waitFor(
        'two failed connection attempts',
        () => relay.output.filter((line) => line.includes('kafka: connect failed, retrying')).length >= 2,
        { timeoutMs: 60_000 },
      );
    } finally {
      await relay.stop('SIGKILL');
    }
    assertNoSecret(relay.output);
  });
});
