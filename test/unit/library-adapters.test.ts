// The relay reaches into pg-logical-replication and amqplib in one adapter file each. These tests
// build the libraries' own objects (no server) and fail when an upgrade moves what the adapters use.
// kafkajs' adapter has its own tests (kafkajs-internals.test.ts).
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import { coalesceWrites, destroySocket, installPublishEncoder } from '../../src/sinks/amqplib-socket.js';
import { replicationSocket, takeCopyData } from '../../src/wal/replication-socket.js';

describe('replicationSocket (pg-logical-replication)', () => {
  test("finds the socket of the service's replication connection", async () => {
    const service = new LogicalReplicationService({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
    assert.equal(replicationSocket(service), undefined, 'no socket before connecting');
    // The service connects through pg's Client: let its connect() succeed without a server, so the
    // service wires up its connection exactly as it does for real.
    const connect = Object.getOwnPropertyDescriptor(pg.Client.prototype, 'connect')!;
    Object.defineProperty(pg.Client.prototype, 'connect', { value: () => Promise.resolve() });
    try {
      const [client] = (await (service as unknown as { client(): Promise<[pg.Client]> }).client()) as [
        pg.Client & { connection: { stream: unknown } },
      ];
      const socket = replicationSocket(service);
      assert.ok(socket, 'the adapter reaches the socket');
      assert.equal(socket, client.connection.stream, "it is the pg connection's own stream");
    } finally {
      Object.defineProperty(pg.Client.prototype, 'connect', connect);
    }
  });
});

describe('takeCopyData (pg-logical-replication)', () => {
  test("reads the connection's CopyData in place of the service's own handler", async () => {
    const service = new LogicalReplicationService({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
    assert.throws(() => takeCopyData(service, () => undefined), /not where this relay expects it/);
    const connect = Object.getOwnPropertyDescriptor(pg.Client.prototype, 'connect')!;
    Object.defineProperty(pg.Client.prototype, 'connect', { value: () => Promise.resolve() });
    const query = Object.getOwnPropertyDescriptor(pg.Client.prototype, 'query')!;
    // START_REPLICATION never answers here: the service waits, as it does for a live stream.
    Object.defineProperty(pg.Client.prototype, 'query', { value: () => new Promise(() => undefined) });
    try {
      let serviceMessages = 0;
      service.on('heartbeat', () => {
        serviceMessages += 1;
      });
      void service.subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: ['p'] }), 'slot');
      await new Promise((resolve) => setImmediate(resolve));
      const { connection } = (service as unknown as { _client: { connection: EventEmitter } })._client;
      const keepalive = Buffer.concat([Buffer.from([0x6b]), Buffer.alloc(16), Buffer.from([1])]);
      connection.emit('copyData', { chunk: keepalive });
      assert.equal(serviceMessages, 1, "before: the service's handler reads the connection's CopyData");
      const ours: Buffer[] = [];
      takeCopyData(service, (message) => ours.push(message));
      connection.emit('copyData', { chunk: keepalive });
      assert.deepEqual(ours, [keepalive]);
      assert.equal(serviceMessages, 1, 'after: only ours');
    } finally {
      Object.defineProperty(pg.Client.prototype, 'connect', connect);
      Object.defineProperty(pg.Client.prototype, 'query', query);
    }
  });
});

/** One of amqplib's own files: its package exports hide lib/, so it is loaded by path, beside its entry point. */
function amqplibFile(file: string): unknown {
  const require = createRequire(import.meta.url);
  return require(join(dirname(require.resolve('amqplib')), 'lib', file));
}

describe('destroySocket (amqplib)', () => {
  test('destroys the stream under a ChannelModel', () => {
    const { Connection } = amqplibFile('connection.js') as {
      Connection: new (stream: PassThrough) => unknown;
    };
    const { ChannelModel } = amqplibFile('channel_model.js') as {
      ChannelModel: new (connection: unknown) => ChannelModel;
    };
    const socket = new PassThrough();
    const model = new ChannelModel(new Connection(socket));
    assert.equal(destroySocket(model), true);
    assert.equal(socket.destroyed, true);
  });
});

describe('installPublishEncoder (amqplib)', () => {
  test("a confirm channel's publish then writes one buffer with amqplib's bytes", () => {
    const { Connection } = amqplibFile('connection.js') as {
      Connection: new (stream: PassThrough) => {
        channels: { buffer: PassThrough }[];
        sendMessage: (...args: unknown[]) => boolean;
      };
    };
    const { ConfirmChannel } = amqplibFile('channel_model.js') as {
      ConfirmChannel: new (connection: unknown) => ConfirmChannel & { allocate(): void; ch: number };
    };
    const connection = new Connection(new PassThrough());
    const channel = new ConfirmChannel(connection);
    channel.allocate();
    const options = { persistent: true, mandatory: true, messageId: 'm-1', headers: { id: 'm-1' } };
    // amqplib's own frames for the message, as its connection writes them.
    const theirs: Buffer[] = [];
    const ownBuffer = connection.channels[channel.ch]!.buffer;
    const write = ownBuffer.write.bind(ownBuffer);
    ownBuffer.write = ((chunk: Buffer) => theirs.push(chunk) > 0) as typeof ownBuffer.write;
    channel.publish('orders', 'k', Buffer.from('{}'), options, () => undefined);
    assert.equal(installPublishEncoder(channel), true);
    const ours: Buffer[] = [];
    ownBuffer.write = ((chunk: Buffer) => ours.push(chunk) > 0) as typeof ownBuffer.write;
    channel.publish('orders', 'k', Buffer.from('{}'), options, () => undefined);
    ownBuffer.write = write;
    assert.equal(ours.length, 1, 'one buffer');
    assert.deepEqual(ours[0], Buffer.concat(theirs));
  });

  test("publish notes each confirm callback as amqplib's does, and throws once the channel closed", () => {
    const { Connection } = amqplibFile('connection.js') as {
      Connection: new (stream: PassThrough) => unknown;
    };
    const { ConfirmChannel } = amqplibFile('channel_model.js') as {
      ConfirmChannel: new (connection: unknown) => ConfirmChannel & {
        allocate(): void;
        toClosed(stack?: string): void;
        unconfirmed: unknown[];
      };
    };
    const channel = new ConfirmChannel(new Connection(new PassThrough()));
    channel.allocate();
    channel.on('error', () => undefined);
    assert.equal(installPublishEncoder(channel), true);
    const confirmed = (): undefined => undefined;
    channel.publish('orders', 'k', Buffer.from('{}'), { headers: { id: 'm-1' } }, confirmed);
    channel.publish('orders', 'k', Buffer.from('{}'), { CC: 'audit' }, confirmed);
    assert.deepEqual(channel.unconfirmed, [confirmed, confirmed], "one per message, ours and amqplib's way");
    channel.toClosed();
    const noted = channel.unconfirmed.length;
    assert.throws(() => channel.publish('orders', 'k', Buffer.from('{}'), {}, confirmed), /Channel closed/);
    assert.equal(channel.unconfirmed.length, noted, 'nothing noted for a message not sent');
  });
});

describe('coalesceWrites (amqplib)', () => {
  /** Three messages published on a confirm channel: the socket's write calls, each its chunks. */
  async function socketWrites(coalesce: boolean): Promise<Buffer[][]> {
    const { Connection } = amqplibFile('connection.js') as {
      Connection: new (stream: Duplex) => unknown;
    };
    const { ChannelModel, ConfirmChannel } = amqplibFile('channel_model.js') as {
      ChannelModel: new (connection: unknown) => ChannelModel;
      ConfirmChannel: new (connection: unknown) => ConfirmChannel & { allocate(): void };
    };
    const calls: Buffer[][] = [];
    const socket = new Duplex({
      read: () => undefined,
      write(chunk: Buffer, _encoding, done) {
        calls.push([chunk]);
        done();
      },
      writev(chunks, done) {
        calls.push(chunks.map(({ chunk }) => chunk as Buffer));
        done();
      },
    });
    const connection = new Connection(socket);
    const model = new ChannelModel(connection);
    if (coalesce) assert.equal(coalesceWrites(model), true);
    const channel = new ConfirmChannel(connection);
    channel.allocate();
    for (const id of ['m-1', 'm-2', 'm-3'])
      channel.publish('orders', id, Buffer.from(id), { messageId: id }, () => undefined);
    // amqplib's multiplexer writes what its channels hold, all of it in one turn, on a later turn.
    for (let turn = 0; calls.length === 0 && turn < 100; turn++)
      await new Promise((resolve) => setImmediate(resolve));
    return calls;
  }

  test('the socket gets a round of messages in one call, the same bytes in the same order', async () => {
    const separate = await socketWrites(false);
    assert.equal(separate.length, 3, 'amqplib alone: one write call per message');
    const coalesced = await socketWrites(true);
    assert.equal(coalesced.length, 1, 'one write call');
    assert.deepEqual(Buffer.concat(coalesced[0]!), Buffer.concat(separate.flat()));
  });

  test('false when the connection has no multiplexer where expected', () => {
    assert.equal(coalesceWrites({ connection: {} } as unknown as ChannelModel), false);
  });
});
