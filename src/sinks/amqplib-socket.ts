// The one place that reaches into amqplib. close() waits for the broker's close-ok, which a broker
// that stopped answering never sends; amqplib offers no other way to drop the connection. A
// ChannelModel's `connection` is amqplib's Connection, whose `stream` is the socket.
// test/unit/library-adapters.test.ts fails when amqplib moves either.
import type { ChannelModel } from 'amqplib';

/** Destroys the connection's socket; false when amqplib no longer exposes it where expected. */
export function destroySocket(model: ChannelModel): boolean {
  const internals = model as unknown as { connection?: { stream?: { destroy?: () => void } } };
  const stream = internals.connection?.stream;
  if (typeof stream?.destroy !== 'function') return false;
  stream.destroy();
  return true;
}
