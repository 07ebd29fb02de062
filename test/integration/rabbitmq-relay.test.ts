// End to end with RabbitMQ, what only RabbitMQ's scenarios check (relay.test.ts runs the ones shared
// with Kafka): PostgreSQL WAL -> relay CLI (RABBITMQ_URL, no KAFKA_BROKERS, so the
// default route: durable topic exchange `outbox`, routing key <aggregateType>.<eventType>) -> queues
// bound by the test.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { probeUrl, sampleValue, scrape } from '../kit/metrics.js';
import { OutboxLoad } from '../support/load.js';
import { deliveryContext, waitForOutboxEmpty } from '../support/probes.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import { countQueue, outboxBinding, QueueReader } from '../support/rabbitmq.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, localService, RABBITMQ_URL, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

describe('relay with RabbitMQ', () => {
  let db: TestDatabase;
  let relay: RelayProcess;
  // A test that fails before stopping its reader must not leave it consuming (and the process alive).
  const readers: QueueReader[] = [];
  // Each test waits for its own rows only: one test's trouble stays its own failure.
  const pendingOf = (...types: string[]): Promise<number> =>
    outboxCount(db.pool, `aggregate_type in (${types.map((type) => `'${type}'`).join(', ')})`);
  const startReader = async (type: string): Promise<QueueReader> => {
    const reader = await QueueReader.start([outboxBinding(type)]);
    readers.push(reader);
    return reader;
  };

  before(async () => {
    db = await createTestDatabase('rabbit');
    relay = startRelayProcess(relayEnv(db, {}, 'rabbitmq'));
    await relay.waitForLog('streaming');
  });
  after(async () => {
    for (const reader of readers) await reader.stop();
    await relay.stop('SIGKILL');
    await db.drop();
  });

  test('an event no queue takes is dead-lettered as unroutable while the others flow', async () => {
    const type = uniqueName('routed');
    const nobody = uniqueName('unbound');
    const reader = await startReader(type);
    const base = await probeUrl(relay);
    const before = sampleValue((await scrape(base)).samples, 'outbox_relay_events_dead_lettered_total', {
      reason: 'unroutable',
    });
    const [first, lost, last] = await commitEvents(db.pool, [
      { aggregateType: type, aggregateId: 'a', eventType: 'E', payload: { n: 1 } },
      { aggregateType: nobody, aggregateId: 'a', eventType: 'Nobody', payload: { n: 2 } },
      { aggregateType: type, aggregateId: 'a', eventType: 'E', payload: { n: 3 } },
    ]);
    // The unroutable event is completed too, once its attempts are spent and it is parked.
    await waitFor('rows completed', async () => (await pendingOf(type, nobody)) === 0, { timeoutMs: 90_000 });
    await reader.waitForCount(2);
    await reader.stop();
    assert.deepEqual(reader.ids(), [first, last]);

    const { rows } = await db.pool.query<{ error: string; attempts: number; destination: string }>(
      'select error, attempts, destination from outbox_dead_letter where id = $1',
      [lost],
    );
    assert.equal(rows.length, 1);
    assert.match(rows[0]!.error, /unroutable: no queue bound to exchange "outbox" for routing key/);
    assert.equal(rows[0]!.attempts, 3);
    assert.equal(rows[0]!.destination, `rabbitmq:outbox/${nobody}.Nobody`);
    const after = sampleValue((await scrape(base)).samples, 'outbox_relay_events_dead_lettered_total', {
      reason: 'unroutable',
    });
    assert.equal((after ?? 0) - (before ?? 0), 1);
  });

  test('connections closed by the broker again and again mid-stream lose nothing and keep order', async (t) => {
    const type = uniqueName('closing');
    const { counter, readerDuplicates } = await countQueue(type);
    const losses = (): number =>
      relay.output.filter((line) => line.includes('rabbitmq: connection lost, reconnecting')).length;
    const lostBefore = losses();
    const reconnections = (): number =>
      relay.output.filter((line) => line.includes('rabbitmq: reconnected')).length;
    const reconnectedBefore = reconnections();
    const load = await OutboxLoad.start(db.url, {
      aggregateType: type,
      // As fast as the writers go: the relay has a backlog, so messages are unconfirmed at each close.
      maxEvents: 30_000,
    });
    let closes = 0;
    try {
      // Close every connection each time another 4,000 events were delivered.
      for (let step = 1; step <= 6; step++) {
        await waitFor(
          `${step * 4_000} events delivered (have ${counter.delivered})`,
          () => counter.delivered >= step * 4_000,
          { timeoutMs: 60_000 },
        );
        await localService('rabbitmq', 'close-connections');
        closes += 1;
        await waitFor('the relay to see its connection closed', () => losses() - lostBefore >= closes);
        // The next close must find a connection to close.
        await waitFor('the relay to reconnect', () => reconnections() - reconnectedBefore >= closes);
        assert.equal(relay.child.exitCode, null, 'the relay keeps running');
      }
      await load.stop();
      await counter.waitForAll(load, 120_000, () => deliveryContext(db, relay));
      await waitForOutboxEmpty(db, relay);
    } finally {
      await load.stop();
      await counter.stop();
    }
    await waitFor('ready again', async () => {
      const response = await fetch(`${await probeUrl(relay)}/readyz`);
      await response.body?.cancel();
      return response.status === 200;
    });
    const reconnected = relay.output.filter((line) => line.includes('rabbitmq: reconnected'));
    const resent = relay.output
      .filter((line) => line.includes('rabbitmq: connection lost'))
      .map((line) => (JSON.parse(line) as { resending: number }).resending);
    t.diagnostic(
      `${load.committed} events, ${closes} close_all_connections, ${losses() - lostBefore} connections lost ` +
        `and ${reconnected.length} reconnections by the relay, ` +
        `${resent.reduce((sum, n) => sum + n, 0)} unconfirmed messages resent, ` +
        `${counter.duplicates - readerDuplicates()} duplicates from the relay ` +
        `(+${readerDuplicates()} redeliveries to the test's own consumer)`,
    );
    assert.deepEqual(counter.missing(load), []);
    assert.deepEqual(counter.orderViolations.slice(0, 10), []);
    assert.equal(relay.child.exitCode, null, 'the same relay process delivered everything');
  });

  test('a refused login is retried and logged without the password; SIGTERM still exits 0', async () => {
    const password = 'pw-' + uniqueName('secret');
    const refused = startRelayProcess(
      relayEnv(
        db,
        {
          RABBITMQ_URL: RABBITMQ_URL.replace('guest:guest@', `guest:${password}@`),
          OUTBOX_SLOT: `${db.slot}_refused`,
          LOG_LEVEL: 'debug',
        },
        'rabbitmq',
      ),
    );
    try {
      await waitFor(
        'two failed connection attempts',
        () =>
          refused.output.filter((line) => line.includes('rabbitmq: connect failed, retrying')).length >= 2,
        { timeoutMs: 60_000 },
      );
      assert.ok(
        refused.output.some((line) => line.includes('ACCESS_REFUSED')),
        refused.output.join('\n'),
      );
      assert.equal(await refused.stop('SIGTERM'), 0);
    } finally {
      await refused.stop('SIGKILL');
    }
    assert.ok(!refused.output.some((line) => line.includes(password)), 'the password appears nowhere');
  });
});
