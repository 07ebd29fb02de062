// AMQP 0-9-1 basic.publish on the wire: the method frame, the content header frame with the message's
// properties and the body frame(s), written into one buffer. Pure: no amqplib here. amqplib builds
// each frame in a buffer of its own (the header table in a scratch buffer first), zero-filled, and
// copies them together; amqplib-socket.ts hands this encoder to the sink's channel instead. The
// bytes are the same as amqplib's (test/unit/amqp-wire.test.ts compares them).
//
// Frame: type (1 = method, 2 = header, 3 = body), channel, payload size, payload, 0xCE.

const FRAME_END = 0xce;
const FRAME_OVERHEAD = 8;
const BASIC_PUBLISH = 0x003c0028; // class 60 (basic), method 40 (publish)
const BASIC_HEADER = 0x003c0000; // class 60, weight 0
const AMQPLIB_TABLE_BYTES = 65_536;

/** The fields of basic.publish, as amqplib's publish makes them from its arguments. */
export interface PublishFields {
  readonly exchange?: string;
  readonly routingKey?: string;
  readonly mandatory?: boolean;
  readonly immediate?: boolean;
  readonly ticket?: number;
}

/** amqplib's publish options (its Options.Publish), as publishArguments reads them. */
export interface PublishOptions {
  readonly mandatory?: boolean;
  readonly persistent?: boolean;
  readonly deliveryMode?: boolean | number;
  readonly expiration?: string | number;
  readonly CC?: unknown;
  readonly BCC?: unknown;
  readonly headers?: Readonly<Record<string, unknown>>;
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly priority?: number;
  readonly correlationId?: string;
  readonly replyTo?: string;
  readonly messageId?: string;
  readonly timestamp?: number;
  readonly type?: string;
  readonly userId?: string;
  readonly appId?: string;
}

const NO_OPTIONS: PublishOptions = Object.freeze({});
const EMPTY_TABLE = Object.freeze({});

/**
 * basic.publish's fields and properties (one object, as amqplib's `Args.publish` makes them) from
 * amqplib's publish options, the headers being the caller's own object. amqplib wraps them per
 * message in `Object.create(options.headers)` (for CC and BCC); V8 turns an object that becomes a
 * prototype into a slow one, and reading every message's headers that way took 8 % of the relay's
 * CPU (a profile of a 100,000-event RabbitMQ backlog). Undefined when CC or BCC is set: amqplib's
 * own way then.
 */
export function publishArguments(
  exchange: string,
  routingKey: string,
  options: PublishOptions = NO_OPTIONS,
): (PublishFields & Record<string, unknown>) | undefined {
  if (options.CC !== undefined || options.BCC !== undefined) return undefined;
  const { persistent, deliveryMode: mode, expiration } = options;
  let deliveryMode: number | undefined;
  if (persistent !== undefined) deliveryMode = persistent ? 2 : 1;
  else if (typeof mode === 'number') deliveryMode = mode;
  else if (mode) deliveryMode = 2;
  return {
    exchange,
    routingKey,
    mandatory: !!options.mandatory,
    immediate: false,
    ticket: undefined,
    contentType: options.contentType,
    contentEncoding: options.contentEncoding,
    // amqplib writes a table even without headers: an empty one.
    headers: options.headers ?? EMPTY_TABLE,
    deliveryMode,
    priority: options.priority,
    correlationId: options.correlationId,
    replyTo: options.replyTo,
    expiration: expiration === undefined ? undefined : expiration.toString(),
    messageId: options.messageId,
    timestamp: options.timestamp,
    type: options.type,
    userId: options.userId,
    appId: options.appId,
    clusterId: undefined,
  };
}

/** basic's content properties (amqplib's names), in the order and with the flags the spec gives. */
const PROPERTIES = [
  ['contentType', 0x8000, 'shortstr'],
  ['contentEncoding', 0x4000, 'shortstr'],
  ['headers', 0x2000, 'table'],
  ['deliveryMode', 0x1000, 'octet'],
  ['priority', 0x0800, 'octet'],
  ['correlationId', 0x0400, 'shortstr'],
  ['replyTo', 0x0200, 'shortstr'],
  ['expiration', 0x0100, 'shortstr'],
  ['messageId', 0x0080, 'shortstr'],
  ['timestamp', 0x0040, 'timestamp'],
  ['type', 0x0020, 'shortstr'],
  ['userId', 0x0010, 'shortstr'],
  ['appId', 0x0008, 'shortstr'],
  ['clusterId', 0x0004, 'shortstr'],
] as const;

/**
 * The frames of one basic.publish, or undefined when a value is not one this encoder writes (a
 * header that is not a string, a field of the wrong type or too long): the caller then lets amqplib
 * encode it, and throw as it does.
 */
export function encodePublish(
  channel: number,
  fields: PublishFields,
  properties: Readonly<Record<string, unknown>>,
  body: Buffer,
  frameMax: number,
): Buffer | undefined {
  const exchange = fields.exchange ?? '';
  const routingKey = fields.routingKey ?? '';
  if (typeof exchange !== 'string' || typeof routingKey !== 'string') return undefined;
  const exchangeBytes = Buffer.byteLength(exchange);
  const routingKeyBytes = Buffer.byteLength(routingKey);
  if (exchangeBytes > 255 || routingKeyBytes > 255) return undefined;
  const propertiesBytes = measureProperties(properties);
  const maxBody = frameMax - FRAME_OVERHEAD;
  if (propertiesBytes === undefined || !(maxBody > 0)) return undefined;
  const methodSize = 4 + 2 + 1 + exchangeBytes + 1 + routingKeyBytes + 1;
  const headerSize = 4 + 8 + 2 + propertiesBytes;
  const bodyFrames = Math.ceil(body.length / maxBody);
  const total = methodSize + headerSize + body.length + (2 + bodyFrames) * FRAME_OVERHEAD;
  const out = Buffer.allocUnsafe(total);

  let at = frameStart(out, 0, 1, channel, methodSize);
  at = out.writeUInt32BE(BASIC_PUBLISH, at);
  at = out.writeUInt16BE(fields.ticket ?? 0, at);
  at = shortString(out, at, exchange);
  at = shortString(out, at, routingKey);
  out[at++] = (fields.mandatory ? 1 : 0) + (fields.immediate ? 2 : 0);
  out[at++] = FRAME_END;

  at = frameStart(out, at, 2, channel, headerSize);
  at = out.writeUInt32BE(BASIC_HEADER, at);
  at = uint64(out, at, body.length);
  at = writeProperties(out, at, properties);
  out[at++] = FRAME_END;

  for (let from = 0; from < body.length; from += maxBody) {
    const chunk = Math.min(maxBody, body.length - from);
    at = frameStart(out, at, 3, channel, chunk);
    at += body.copy(out, at, from, from + chunk);
    out[at++] = FRAME_END;
  }
  return out;
}

function frameStart(out: Buffer, at: number, type: number, channel: number, size: number): number {
  out[at] = type;
  out.writeUInt16BE(channel, at + 1);
  return out.writeUInt32BE(size, at + 3);
}

/** A length byte, then the string (measured before: at most 255 bytes). */
function shortString(out: Buffer, at: number, value: string): number {
  const bytes = out.write(value, at + 1);
  out[at] = bytes;
  return at + 1 + bytes;
}

/** An unsigned 64-bit integer from a safe integer, without a BigInt. */
function uint64(out: Buffer, at: number, value: number): number {
  out.writeUInt32BE(Math.floor(value / 0x1_0000_0000), at);
  return out.writeUInt32BE(value >>> 0, at + 4);
}

/** The bytes of the properties present (the flags excluded); undefined for a value not written here. */
function measureProperties(properties: Readonly<Record<string, unknown>>): number | undefined {
  let size = 0;
  for (const [name, , kind] of PROPERTIES) {
    const value = properties[name];
    if (value === undefined || value === null) continue;
    if (kind === 'shortstr') {
      if (typeof value !== 'string') return undefined;
      const bytes = Buffer.byteLength(value);
      if (bytes > 255) return undefined;
      size += 1 + bytes;
    } else if (kind === 'octet') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 255) return undefined;
      size += 1;
    } else if (kind === 'timestamp') {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return undefined;
      size += 8;
    } else {
      const table = measureTable(value);
      if (table === undefined) return undefined;
      size += table;
    }
  }
  return size;
}

/** A field table of string values only (what the sink's headers are): 'S' long strings. */
function measureTable(table: unknown): number | undefined {
  if (typeof table !== 'object' || table === null) return undefined;
  let size = 4;
  for (const key in table) {
    const value = (table as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (typeof value !== 'string') return undefined;
    const keyBytes = Buffer.byteLength(key);
    if (keyBytes > 255) return undefined;
    size += 1 + keyBytes + 1 + 4 + Buffer.byteLength(value);
  }
  // amqplib encodes a table in a 64 KiB scratch buffer and refuses a larger one (the sink's too_large).
  return size <= AMQPLIB_TABLE_BYTES ? size : undefined;
}

function writeProperties(out: Buffer, start: number, properties: Readonly<Record<string, unknown>>): number {
  let flags = 0;
  let at = start + 2;
  for (const [name, flag, kind] of PROPERTIES) {
    const value = properties[name];
    if (value === undefined || value === null) continue;
    flags |= flag;
    if (kind === 'shortstr') at = shortString(out, at, value as string);
    else if (kind === 'octet') out[at++] = value as number;
    else if (kind === 'timestamp') at = uint64(out, at, value as number);
    else at = writeTable(out, at, value as Record<string, string | undefined>);
  }
  out.writeUInt16BE(flags, start);
  return at;
}

function writeTable(out: Buffer, start: number, table: Readonly<Record<string, string | undefined>>): number {
  let at = start + 4;
  for (const key in table) {
    const value = table[key];
    if (value === undefined) continue;
    at = shortString(out, at, key);
    out[at++] = 0x53; // 'S': a long string
    const bytes = out.write(value, at + 4);
    out.writeUInt32BE(bytes, at);
    at += 4 + bytes;
  }
  out.writeUInt32BE(at - start - 4, start);
  return at;
}
