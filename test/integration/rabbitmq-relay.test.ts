// End to end with RabbitMQ only: PostgreSQL WAL -> relay CLI (RABBITMQ_URL, no KAFKA_BROKERS, so the
// default route: durable topic exchange `outbox`, routing key <aggregateType>.<eventType>) -> queues
// bound by the test.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sampleValue, scrape, probeUrl } from '../support/metrics.js';
import { OutboxLoad } from '../support/load.js';
import { deliveryContext, waitForOutboxEmpty } from '../support/probes.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { countQueue, outboxBinding, QueueReader, rabbitRelayEnv } from '../support/rabbitmq.js';
import { startRelayProcess } from '../support/relay.js';
import type { RelayProcess } from '../support/relay.js';
import { createTestDatabase, localService, RABBITMQ_URL, uniqueName } from '../support/services.js';
import type { TestDatabase } from '../support/services.js';
import { waitFor } from '../support/wait.js';

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
    relay = startRelayProcess(rabbitRelayEnv(db));
    await relay.waitForLog('streaming');
  });
  after(async () => {
    for (const reader of readers) await reader.stop();
    await relay.stop('SIGKILL');
    await db.drop();
  });

  test('publishes each committed event once to exchange outbox, with the contract properties', async () => {
    const type = uniqueName('order');
    const reader = await startReader(type);
    const events: TestEvent[] = [
      {
        aggregateType: type,
        aggregateId: 'o-1',
        eventType: 'OrderPlaced',
        payload: { total: 12.5, items: ['a'], note: 'café' },
        headers: { traceparent: '00-abc-01' },
      },
      { aggregateType: type, aggregateId: 'o-2', eventType: 'OrderShipped', payload: { total: 3 } },
    ];
    const committedAt = Date.now();
    const ids = await commitEvents(db.pool, events);
    const messages = await reader.waitForCount(2);
    // Anything extra would arrive with the ones we waited for: wait for the rows to be completed too.
    await waitFor('rows deleted', async () => (await pendingOf(type)) === 0, { timeoutMs: 90_000 });
    await reader.stop();

    assert.deepEqual([...reader.ids()].sort(), [...ids].sort());
    for (const [index, event] of events.entries()) {
      const message = messages.find((m) => m.messageId === ids[index])!;
      assert.equal(message.exchange, 'outbox');
      assert.equal(message.routingKey, `${type}.${event.eventType}`);
      assert.equal(message.type, event.eventType);
      assert.equal(message.contentType, 'application/json');
      assert.equal(message.deliveryMode, 2, 'persistent');
      assert.ok(Math.abs(message.timestamp! - committedAt / 1000) < 60, 'timestamp in seconds');
      assert.deepEqual(JSON.parse(message.body), event.payload);
      assert.equal(message.headers['id'], ids[index]);
      assert.equal(message.headers['aggregate_type'], type);
      assert.equal(message.headers['aggregate_id'], event.aggregateId);
      assert.equal(message.headers['event_type'], event.eventType);
      assert.match(message.headers['created_at']!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      assert.equal(message.timestamp, Math.floor(Date.parse(message.headers['created_at']!) / 1000));
      for (const [name, value] of Object.entries(event.headers ?? {}))
        assert.equal(message.headers[name], value);
    }
  });

  test('publishes nothing from a rolled-back transaction', async () => {
    const type = uniqueName('rollback');
    const reader = await startReader(type);
    const [rolledBack] = await commitEvents(
      db.pool,
      [{ aggregateType: type, aggregateId: 'r', eventType: 'Lost', payload: {} }],
      { rollback: true },
    );
    const [marker] = await commitEvents(db.pool, [
      { aggregateType: type, aggregateId: 'm', eventType: 'Marker', payload: {} },
    ]);
    await reader.waitForCount(1);
    await waitFor('rows deleted', async () => (await pendingOf(type)) === 0, { timeoutMs: 90_000 });
    await reader.stop();
    assert.deepEqual(reader.ids(), [marker]);
    assert.ok(!reader.ids().includes(rolledBack!));
  });

  test('keeps commit order per aggregate across many concurrent transactions', async () => {
    const type = uniqueName('ordered');
    const reader = await startReader(type);
    const transactionsPerWriter = 40;
    // Four writers commit concurrently; each owns three aggregates and numbers its events.
    await Promise.all(
      Array.from({ length: 4 }, async (_, writer) => {
        for (let t = 0; t < transactionsPerWriter; t++) {
          const events: TestEvent[] = [];
          for (let k = 0; k < 3; k++) {
            const aggregateId = `agg-${writer * 3 + k}`;
            events.push({ aggregateType: type, aggregateId, eventType: 'Step', payload: { seq: t * 2 } });
            events.push({ aggregateType: type, aggregateId, eventType: 'Step', payload: { seq: t * 2 + 1 } });
          }
          await commitEvents(db.pool, events);
        }
      }),
    );
    const total = 12 * transactionsPerWriter * 2;
    await reader.waitForCount(total);
    await waitFor('rows deleted', async () => (await pendingOf(type)) === 0, { timeoutMs: 90_000 });
    await reader.stop();

    assert.equal(new Set(reader.ids()).size, total);
    const byKey = new Map<string, number[]>();
    for (const message of reader.messages) {
      const key = message.headers['aggregate_id']!;
      byKey.set(key, [...(byKey.get(key) ?? []), (JSON.parse(message.body) as { seq: number }).seq]);
    }
    assert.equal(byKey.size, 12);
    for (const [key, seqs] of byKey) {
      assert.deepEqual(
        seqs,
        Array.from({ length: transactionsPerWriter * 2 }, (_, i) => i),
        `order of ${key}`,
      );
    }
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
      rabbitRelayEnv(db, {
        RABBITMQ_URL: RABBITMQ_URL.replace('guest:guest@', `guest:${password}@`),
        OUTBOX_SLOT: `${db.slot}_refused`,
        LOG_LEVEL: 'debug',
      }),
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
