// The relay reaches into pg-logical-replication and amqplib in one adapter file each. These tests
// build the libraries' own objects (no server) and fail when an upgrade moves what the adapters use.
// kafkajs' adapter has its own tests (kafkajs-internals.test.ts).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import pg from 'pg';
import { LogicalReplicationService } from 'pg-logical-replication';
import { destroySocket, installPublishEncoder } from '../../src/sinks/amqplib-socket.js';
import { replicationSocket } from '../../src/wal/replication-socket.js';

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

describe('destroySocket (amqplib)', () => {
  test('destroys the stream under a ChannelModel', () => {
    const require = createRequire(import.meta.url);
    // amqplib's package exports hide lib/: load its files by path, beside its entry point.
    const lib = join(dirname(require.resolve('amqplib')), 'lib');
    const { Connection } = require(join(lib, 'connection.js')) as {
      Connection: new (stream: PassThrough) => unknown;
    };
    const { ChannelModel } = require(join(lib, 'channel_model.js')) as {
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
    const require = createRequire(import.meta.url);
    const lib = join(dirname(require.resolve('amqplib')), 'lib');
    const { Connection } = require(join(lib, 'connection.js')) as {
      Connection: new (stream: PassThrough) => {
        channels: { buffer: PassThrough }[];
        sendMessage: (...args: unknown[]) => boolean;
      };
    };
    const { ConfirmChannel } = require(join(lib, 'channel_model.js')) as {
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
});
