// The one place that reaches into amqplib, for two things. close() waits for the broker's close-ok,
// which a broker that stopped answering never sends; amqplib offers no other way to drop the
// connection: a ChannelModel's `connection` is amqplib's Connection, whose `stream` is the socket.
// And publishing: amqplib encodes each message in three zero-filled buffers (its header table in a
// fourth) and copies them together; installPublishEncoder makes the sink's channel write them in one
// (amqp-wire.ts). test/unit/library-adapters.test.ts fails when amqplib moves what either uses.
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { encodePublish } from './amqp-wire.js';
import type { PublishFields } from './amqp-wire.js';

/** Destroys the connection's socket; false when amqplib no longer exposes it where expected. */
export function destroySocket(model: ChannelModel): boolean {
  const internals = model as unknown as { connection?: { stream?: { destroy?: () => void } } };
  const stream = internals.connection?.stream;
  if (typeof stream?.destroy !== 'function') return false;
  stream.destroy();
  return true;
}

/** What installPublishEncoder uses of amqplib's Channel and Connection. */
interface ChannelInternals {
  ch?: unknown;
  sendMessage?: (fields: PublishFields, properties: Record<string, unknown>, content: Buffer) => boolean;
  connection?: {
    frameMax?: unknown;
    sentSinceLastCheck?: boolean;
    channels?: ({ buffer?: { write(chunk: Buffer): boolean } } | null)[];
  };
}

/**
 * Makes `channel` write each basic.publish as one buffer encoded by amqp-wire.ts, the same bytes as
 * amqplib's own three frames (a message amqp-wire.ts does not write still goes amqplib's way). Only
 * this channel changes, nothing process-wide. False when amqplib moved what this reaches: its own
 * encoding is then used.
 */
export function installPublishEncoder(channel: ConfirmChannel): boolean {
  const internals = channel as unknown as ChannelInternals;
  const { ch, sendMessage, connection } = internals;
  if (typeof ch !== 'number' || typeof sendMessage !== 'function') return false;
  const buffer = connection?.channels?.[ch]?.buffer;
  if (typeof connection?.frameMax !== 'number' || typeof buffer?.write !== 'function') return false;
  internals.sendMessage = function (fields, properties, content) {
    const frames = encodePublish(ch, fields, properties, content, connection.frameMax as number);
    if (!frames) return sendMessage.call(this, fields, properties, content);
    // What amqplib's own sendMessage notes for its heartbeats.
    connection.sentSinceLastCheck = true;
    return buffer.write(frames);
  };
  return true;
}
