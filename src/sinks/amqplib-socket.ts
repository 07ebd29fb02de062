// The one place that reaches into amqplib, for three things. close() waits for the broker's close-ok,
// which a broker that stopped answering never sends; amqplib offers no other way to drop the
// connection: a ChannelModel's `connection` is amqplib's Connection, whose `stream` is the socket.
// Publishing: amqplib wraps each message's headers in an object of its own and encodes the message
// in three zero-filled buffers (its header table in a fourth), then copies them together;
// installPublishEncoder makes the sink's channel write them in one (amqp-wire.ts). And writing:
// amqplib's multiplexer writes each message to the socket by itself, a system call each;
// coalesceWrites makes it write each round in one.
// test/unit/library-adapters.test.ts fails when amqplib moves what any of them uses.
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { encodePublish, publishArguments } from './amqp-wire.js';
import type { PublishFields, PublishOptions } from './amqp-wire.js';

/** Destroys the connection's socket; false when amqplib no longer exposes it where expected. */
export function destroySocket(model: ChannelModel): boolean {
  const internals = model as unknown as { connection?: { stream?: { destroy?: () => void } } };
  const stream = internals.connection?.stream;
  if (typeof stream?.destroy !== 'function') return false;
  stream.destroy();
  return true;
}

/** What coalesceWrites uses of amqplib's Connection and its Mux. */
interface MuxInternals {
  connection?: {
    muxer?: {
      _readIncoming?: () => void;
      out?: { cork?: () => void; uncork?: () => void };
    };
  };
}

/**
 * Makes the connection's multiplexer write each round of messages (what its channels hold when it
 * runs, up to the socket's buffer) in one system call: the socket is corked while it reads them
 * from the channels. Same bytes, same order, same backpressure (a write past the socket's buffer
 * still ends the round, and 'drain' starts the next). False when amqplib moved what this reaches.
 */
export function coalesceWrites(model: ChannelModel): boolean {
  const muxer = (model as unknown as MuxInternals).connection?.muxer;
  const readIncoming = muxer?._readIncoming;
  const out = muxer?.out;
  if (
    typeof readIncoming !== 'function' ||
    typeof out?.cork !== 'function' ||
    typeof out.uncork !== 'function'
  )
    return false;
  const { cork, uncork } = out as { cork: () => void; uncork: () => void };
  muxer!._readIncoming = function (this: unknown) {
    cork.call(out);
    try {
      readIncoming.call(this);
    } finally {
      uncork.call(out);
    }
  };
  return true;
}

/** What installPublishEncoder uses of amqplib's ConfirmChannel and Connection. */
interface ChannelInternals {
  ch?: unknown;
  publish?: (
    exchange: string,
    routingKey: string,
    content: Buffer,
    options?: PublishOptions,
    callback?: unknown,
  ) => boolean;
  pushConfirmCallback?: (callback: unknown) => void;
  sendMessage?: (fields: PublishFields, properties: Record<string, unknown>, content: Buffer) => boolean;
  connection?: {
    frameMax?: unknown;
    sentSinceLastCheck?: boolean;
    channels?: ({ buffer?: { write(chunk: Buffer): boolean } } | null)[];
  };
}

/**
 * Makes `channel` publish as amqplib's ConfirmChannel does (send, then note the confirm callback),
 * with the headers as given (amqp-wire.ts publishArguments) and each basic.publish written as one
 * buffer encoded by amqp-wire.ts: the same bytes as amqplib's own three frames (a message
 * amqp-wire.ts does not write still goes amqplib's way). Only this channel changes, nothing
 * process-wide; once amqplib closes the channel its own sendMessage (which throws) takes over
 * again. False when amqplib moved what this reaches: its own publishing is then used.
 */
export function installPublishEncoder(channel: ConfirmChannel): boolean {
  const internals = channel as unknown as ChannelInternals;
  const { ch, publish, pushConfirmCallback, sendMessage, connection } = internals;
  if (typeof ch !== 'number' || typeof sendMessage !== 'function') return false;
  if (typeof publish !== 'function' || typeof pushConfirmCallback !== 'function') return false;
  const buffer = connection?.channels?.[ch]?.buffer;
  if (typeof connection?.frameMax !== 'number' || typeof buffer?.write !== 'function') return false;
  internals.sendMessage = function (fields, properties, content) {
    const frames = encodePublish(ch, fields, properties, content, connection.frameMax as number);
    if (!frames) return sendMessage.call(this, fields, properties, content);
    // What amqplib's own sendMessage notes for its heartbeats.
    connection.sentSinceLastCheck = true;
    return buffer.write(frames);
  };
  internals.publish = function (this: ChannelInternals, exchange, routingKey, content, options, callback) {
    const args = publishArguments(exchange, routingKey, options);
    if (!args) return publish.call(this, exchange, routingKey, content, options, callback);
    const written = this.sendMessage!(args, args, content);
    pushConfirmCallback.call(this, callback);
    return written;
  };
  return true;
}
