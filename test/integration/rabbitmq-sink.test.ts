// The RabbitMQ sink against a real broker, for what the default route cannot reach: exchanges that
// must exist, declared exchange types, refused messages. Each test names its own exchanges.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { pino } from 'pino';
import type {
  ExchangeType,
  RabbitMqDestination,
  RabbitMqSinkOptions,
} from '../../src/sinks/rabbitmq-destination.js';
import { RabbitMqSink } from '../../src/sinks/rabbitmq-sink.js';
import { publishAsync, UndeliverableError } from '../../src/sinks/sink.js';
import type { FormattedDestination } from '../../src/sinks/sink.js';
import { nativeFormat } from '../../src/formats/native.js';
import type { OutboxEvent } from '../../src/wal/event.js';
import { QueueReader, withChannel } from '../support/rabbitmq.js';
import { ensureServices, localService, RABBITMQ_URL, uniqueName } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';
import { readTlsFiles } from '../../src/tls.js';

const logger = pino({ level: 'silent' });

function event(payload: unknown = { n: 1 }): OutboxEvent {
  return {
    id: randomUUID(),
    aggregateType: 'sink_test',
    aggregateId: 'a-1',
    eventType: 'Tested',
    payload: JSON.stringify(payload),
    headers: {},
    createdAt: new Date().toISOString(),
  };
}

function to(
  exchange: string,
  routingKey: string,
  assertExchange?: ExchangeType,
): RabbitMqDestination & FormattedDestination {
  return { sink: 'rabbitmq', exchange, routingKey, assertExchange, label: exchange, format: nativeFormat };
}

async function refusal(promise: Promise<void>): Promise<UndeliverableError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof UndeliverableError, `expected an UndeliverableError, got ${String(error)}`);
    return error;
  }
  assert.fail('the publish was confirmed');
}

async function startSink(options: Partial<RabbitMqSinkOptions> = {}): Promise<RabbitMqSink> {
  const sink = new RabbitMqSink({
    url: RABBITMQ_URL,
    maxUnconfirmed: 100,
    maxMessageBytes: 134_217_728,
    logger,
    ...options,
  });
  await sink.connect();
  return sink;
}

describe('RabbitMqSink', () => {
  const exchanges: string[] = [];
  const readers: QueueReader[] = [];

  /** A durable exchange of this test's own, with a queue bound to it for every routing key. */
  async function exchangeWithQueue(type: ExchangeType = 'topic'): Promise<[string, QueueReader]> {
    const exchange = uniqueName('sink_exchange');
    exchanges.push(exchange);
    const reader = await QueueReader.start([
      { exchange, routingKey: type === 'topic' ? '#' : '', declare: type },
    ]);
    readers.push(reader);
    return [exchange, reader];
  }

  before(async () => {
    await ensureServices();
  });
  after(async () => {
    for (const reader of readers) await reader.stop();
    for (const exchange of exchanges)
      await withChannel((channel) => channel.deleteExchange(exchange)).catch(() => undefined);
  });

  test('a missing exchange without assert is refused as exchange_not_found; the next publish still goes', async () => {
    const [existing, reader] = await exchangeWithQueue();
    const missing = uniqueName('missing_exchange');
    const sink = await startSink();
    try {
      const refused = await refusal(publishAsync(sink, { event: event(), destination: to(missing, 'k') }));
      assert.equal(refused.reason, 'exchange_not_found');
      assert.match(refused.message, new RegExp(`exchange "${missing}" does not exist`));
      const delivered = event({ after: 'refusal' });
      await publishAsync(sink, { event: delivered, destination: to(existing, 'k') });
      assert.equal(sink.ready, true);
      const [message] = await reader.waitForCount(1);
      assert.equal(message!.messageId, delivered.id);
      // Asked again, not remembered as missing: once it exists, it is used.
      exchanges.push(missing);
      await withChannel((channel) => channel.assertExchange(missing, 'topic', { durable: true }));
      const later = await refusal(publishAsync(sink, { event: event(), destination: to(missing, 'k') }));
      assert.equal(later.reason, 'unroutable');
    } finally {
      await sink.close();
    }
  });

  test('publishes to one exchange stay in call order while its check is pending', async () => {
    const [exchange, reader] = await exchangeWithQueue();
    const sink = await startSink();
    try {
      const events = Array.from({ length: 50 }, (_, i) => event({ i }));
      await Promise.all(events.map((e) => publishAsync(sink, { event: e, destination: to(exchange, 'k') })));
      await reader.waitForCount(50);
      assert.deepEqual(
        reader.ids(),
        events.map((e) => e.id),
      );
    } finally {
      await sink.close();
    }
  });

  test('a message above maxMessageBytes is refused as too_large, and nothing closes', async () => {
    const [exchange, reader] = await exchangeWithQueue();
    const sink = await startSink({ maxMessageBytes: 1_000 });
    try {
      const refused = await refusal(
        publishAsync(sink, { event: event({ pad: 'x'.repeat(2_000) }), destination: to(exchange, 'k') }),
      );
      assert.equal(refused.reason, 'too_large');
      const delivered = event({ small: true });
      await publishAsync(sink, { event: delivered, destination: to(exchange, 'k') });
      await reader.waitForCount(1);
      assert.deepEqual(reader.ids(), [delivered.id]);
      assert.equal(sink.ready, true);
    } finally {
      await sink.close();
    }
  });

  test('headers too large for an AMQP frame are refused as too_large, and nothing closes', async () => {
    const [exchange, reader] = await exchangeWithQueue();
    const sink = await startSink();
    try {
      const huge: OutboxEvent = { ...event(), headers: { baggage: 'x'.repeat(70_000) } };
      const refused = await refusal(publishAsync(sink, { event: huge, destination: to(exchange, 'k') }));
      assert.equal(refused.reason, 'too_large');
      const delivered = event();
      await publishAsync(sink, { event: delivered, destination: to(exchange, 'k') });
      await reader.waitForCount(1);
      assert.deepEqual(reader.ids(), [delivered.id]);
      assert.equal(sink.ready, true);
    } finally {
      await sink.close();
    }
  });

  test("a message above the broker's max_message_size is refused as too_large once the broker said so", async () => {
    const [exchange, reader] = await exchangeWithQueue();
    await localService('rabbitmq', 'ctl', 'eval', 'application:set_env(rabbit, max_message_size, 4096).');
    const sink = await startSink();
    try {
      const big = event({ pad: 'x'.repeat(8_000) });
      const refused = await refusal(publishAsync(sink, { event: big, destination: to(exchange, 'k') }));
      assert.equal(refused.reason, 'too_large');
      // The broker closed the channel once; now the sink knows the limit and refuses at once.
      const again = await refusal(publishAsync(sink, { event: big, destination: to(exchange, 'k') }));
      assert.match(again.message, /4096-byte limit/);
      const delivered = event({ small: true });
      await publishAsync(sink, { event: delivered, destination: to(exchange, 'k') });
      await reader.waitForCount(1);
      assert.deepEqual(reader.ids(), [delivered.id]);
    } finally {
      await sink.close();
      await localService(
        'rabbitmq',
        'ctl',
        'eval',
        'application:set_env(rabbit, max_message_size, 134217728).',
      );
    }
  });

  test('assert with type fanout declares a durable fanout exchange', async () => {
    const exchange = uniqueName('fanout_exchange');
    exchanges.push(exchange);
    const sink = await startSink();
    try {
      // Declared by the sink, but no queue is bound yet: the message is unroutable.
      const refused = await refusal(
        publishAsync(sink, { event: event(), destination: to(exchange, 'any', 'fanout') }),
      );
      assert.equal(refused.reason, 'unroutable');
      assert.match(refused.message, /no queue bound to exchange ".*" for routing key "any"/);
      // An equivalent declaration succeeds; another type is refused by the broker.
      await withChannel((channel) => channel.assertExchange(exchange, 'fanout', { durable: true }));
      await assert.rejects(
        withChannel((channel) => channel.assertExchange(exchange, 'topic', { durable: true })),
        /PRECONDITION_FAILED/,
      );
      const reader = await QueueReader.start([{ exchange, routingKey: '' }]);
      readers.push(reader);
      const delivered = event();
      await publishAsync(sink, {
        event: delivered,
        destination: to(exchange, 'ignored by fanout', 'fanout'),
      });
      await reader.waitForCount(1);
      assert.deepEqual(reader.ids(), [delivered.id]);
    } finally {
      await sink.close();
    }
  });

  test('assert on an exchange of another type is refused as exchange_mismatch', async () => {
    const [exchange, reader] = await exchangeWithQueue('fanout');
    const sink = await startSink();
    try {
      const refused = await refusal(
        publishAsync(sink, { event: event(), destination: to(exchange, 'k', 'topic') }),
      );
      assert.equal(refused.reason, 'exchange_mismatch');
      const delivered = event();
      await publishAsync(sink, { event: delivered, destination: to(exchange, 'k') });
      await reader.waitForCount(1);
      assert.deepEqual(reader.ids(), [delivered.id]);
    } finally {
      await sink.close();
    }
  });

  test('an exchange deleted under the stream: its messages are refused, the others flow', async () => {
    const [kept, keptReader] = await exchangeWithQueue();
    const [deleted] = await exchangeWithQueue();
    const sink = await startSink();
    try {
      await publishAsync(sink, { event: event(), destination: to(deleted, 'k') });
      await withChannel((channel) => channel.deleteExchange(deleted));
      // Known to exist on this connection, so sent: the broker closes the channel (404), the sink
      // reconnects, checks again and refuses it.
      const refused = await refusal(publishAsync(sink, { event: event(), destination: to(deleted, 'k') }));
      assert.equal(refused.reason, 'exchange_not_found');
      const delivered = event();
      await publishAsync(sink, { event: delivered, destination: to(kept, 'k') });
      await keptReader.waitForCount(1);
      assert.deepEqual(keptReader.ids(), [delivered.id]);
    } finally {
      await sink.close();
    }
  });

  test('messages carry the contract properties', async () => {
    const [exchange, reader] = await exchangeWithQueue();
    const sink = await startSink();
    try {
      const sent: OutboxEvent = {
        ...event({ total: 12.5, note: 'é' }),
        headers: { traceparent: '00-abc-01' },
      };
      await publishAsync(sink, { event: sent, destination: to(exchange, 'order.Placed') });
      const [message] = await reader.waitForCount(1);
      assert.equal(message!.routingKey, 'order.Placed');
      assert.equal(message!.messageId, sent.id);
      assert.equal(message!.type, 'Tested');
      assert.equal(message!.contentType, 'application/json');
      assert.equal(message!.deliveryMode, 2);
      assert.equal(message!.timestamp, Math.floor(Date.parse(sent.createdAt) / 1000));
      assert.equal(message!.body, sent.payload);
      assert.deepEqual(message!.headers, {
        traceparent: '00-abc-01',
        id: sent.id,
        aggregate_type: 'sink_test',
        aggregate_id: 'a-1',
        event_type: 'Tested',
        created_at: sent.createdAt,
      });
    } finally {
      await sink.close();
    }
  });

  test('messages the broker nacks (a full queue with reject-publish) are published again until taken', async () => {
    const exchange = uniqueName('nack_exchange');
    const queue = uniqueName('nack_queue');
    exchanges.push(exchange);
    await withChannel(async (channel) => {
      await channel.assertExchange(exchange, 'topic', { durable: true });
      await channel.assertQueue(queue, {
        durable: false,
        arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' },
      });
      await channel.bindQueue(queue, exchange, '#');
    });
    let errors = 0;
    const sink = await startSink({ onPublishError: () => (errors += 1) });
    try {
      const events = Array.from({ length: 5 }, (_, i) => event({ i }));
      const published = Promise.all(
        events.map((e) => publishAsync(sink, { event: e, destination: to(exchange, 'k') })),
      );
      await waitFor('nacks', () => errors >= 3);
      // Drain the queue while the sink keeps trying: every message gets in, none is refused for good.
      const received: string[] = [];
      await withChannel((channel) =>
        waitFor(
          'all five through the full queue',
          async () => {
            const message = await channel.get(queue, { noAck: true });
            if (message) received.push(String(message.properties.messageId));
            return received.length === 5;
          },
          { timeoutMs: 60_000, intervalMs: 10 },
        ),
      );
      await published;
      assert.deepEqual([...received].sort(), events.map((e) => e.id).sort());
      assert.equal(sink.ready, true);
    } finally {
      await sink.close();
      await withChannel((channel) => channel.deleteQueue(queue)).catch(() => undefined);
    }
  });

  test('a broker that blocks publishing (memory alarm): not ready, messages wait, then confirmed', async () => {
    const [exchange, reader] = await exchangeWithQueue();
    const sink = await startSink();
    const delivered = event();
    let published: Promise<void> | undefined;
    await localService('rabbitmq', 'ctl', 'set_vm_memory_high_watermark', '0');
    try {
      // The broker blocks a connection when it next publishes.
      published = publishAsync(sink, { event: delivered, destination: to(exchange, 'k') });
      await waitFor('the sink to report the block', () => !sink.ready);
    } finally {
      await localService('rabbitmq', 'ctl', 'set_vm_memory_high_watermark', '0.4');
    }
    try {
      await published;
      await waitFor('ready again', () => sink.ready);
      await reader.waitForCount(1);
      assert.deepEqual(reader.ids(), [delivered.id]);
    } finally {
      await sink.close();
    }
  });

  test('close() during connection attempts ends them; connect() rejects', async () => {
    const sink = new RabbitMqSink({
      url: 'amqp://127.0.0.1:1',
      maxUnconfirmed: 10,
      maxMessageBytes: 1_000,
      logger,
    });
    const connecting = sink.connect();
    const publishing = publishAsync(sink, { event: event(), destination: to('outbox', 'k') });
    assert.equal(sink.ready, false);
    await sink.close();
    await assert.rejects(connecting, /closed/);
    // Unsettled: the relay never completes it, the next start publishes it again.
    const settled = await Promise.race([publishing.then(() => 'settled'), Promise.resolve('pending')]);
    assert.equal(settled, 'pending');
  });

  test('amqps:// with a CA and a client certificate (TLS terminated in front of the broker)', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'outbox-relay-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const files = makeCertificates(dir);
    let clientAuthorized: boolean | undefined;
    // Terminates TLS and forwards to the broker's plain port, requiring a client certificate of the CA.
    const proxy = createTlsServer(
      {
        key: readFileSync(files.serverKey),
        cert: readFileSync(files.serverCert),
        ca: readFileSync(files.ca),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket: TLSSocket) => {
        clientAuthorized = socket.authorized;
        const upstream = netConnect(Number(new URL(RABBITMQ_URL).port), '127.0.0.1');
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      },
    );
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    const { port } = proxy.address() as AddressInfo;

    const [exchange, reader] = await exchangeWithQueue();
    const sink = await startSink({
      url: `amqps://guest:guest@localhost:${port}/`,
      tls: readTlsFiles({ caFile: files.ca, certFile: files.clientCert, keyFile: files.clientKey }),
    });
    try {
      const delivered = event();
      await publishAsync(sink, { event: delivered, destination: to(exchange, 'k') });
      await reader.waitForCount(1);
      assert.deepEqual(reader.ids(), [delivered.id]);
      assert.equal(clientAuthorized, true, 'the client presented the certificate');
    } finally {
      await sink.close();
    }
  });
});

interface CertificateFiles {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

/** A throwaway CA, a server certificate for localhost and a client certificate, made by openssl. */
function makeCertificates(dir: string): CertificateFiles {
  const file = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  const key = ['-newkey', 'rsa:2048', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...key,
    '-days',
    '1',
    '-subj',
    '/CN=test-ca',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
  );
  const certificates = [
    ['server', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    ['client', '/CN=outbox-relay', 'extendedKeyUsage=clientAuth'],
  ] as const;
  for (const [name, subject, extension] of certificates) {
    writeFileSync(file(`${name}.ext`), `${extension}\n`);
    openssl(
      'req',
      '-new',
      ...key,
      '-subj',
      subject,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.csr`),
    );
    openssl(
      ...['x509', '-req', '-in', file(`${name}.csr`), '-days', '1', '-out', file(`${name}.pem`)],
      ...[
        '-CA',
        file('ca.pem'),
        '-CAkey',
        file('ca.key'),
        '-CAcreateserial',
        '-extfile',
        file(`${name}.ext`),
      ],
    );
  }
  return {
    ca: file('ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
  };
}
