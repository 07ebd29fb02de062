// RabbitMQ sink: one connection, one confirm channel, persistent and mandatory messages.
//
// State: `outgoing` holds the publishes not yet sent, in call order; `link` is the current connection
// with its confirm channel, the messages sent on it and not yet confirmed (in publish order) and the
// exchanges known to exist on it. One pump sends from the head of `outgoing` while fewer than
// maxUnconfirmed are unconfirmed and the channel's write buffer takes more (else it waits for 'drain').
// Before the first publish to an exchange on a connection, the exchange is declared (assert) or
// checked on a short-lived channel of its own (a failed declaration closes its channel); everything
// behind waits for that one round trip, so call order is publish order.
// A message no queue takes comes back (basic.return) before its ack; that ack rejects it as
// unroutable. A nack puts the message back for another try (see onNack). A lost channel or
// connection puts every unconfirmed message back at the head of `outgoing`, in its order, so after
// reconnecting they are sent again before anything newer: a key's messages never overtake each other
// (a resend may duplicate one).
// close() ends the retrying: messages not yet confirmed stay unsettled (neither confirmed nor
// dead-lettered), so the relay never completes them and the next start publishes them again.
import { connect } from 'amqplib';
import type { ChannelModel, ConfirmChannel, Message, Options } from 'amqplib';
import type { Logger } from 'pino';
import { backoffDelay } from '../pipeline/backoff.js';
import { sleep } from '../pipeline/sleep.js';
import type { TlsMaterial } from '../tls.js';
import { OutgoingQueue, UnconfirmedMessages } from './rabbitmq-queues.js';
import { messageHeaders, UndeliverableError } from './sink.js';
import type { ExchangeType, Sink, SinkMessage } from './sink.js';
import type { OutboxEvent } from '../wal/event.js';

export interface RabbitMqSinkOptions {
  /** amqp:// or amqps:// URL; its password is never logged. */
  readonly url: string;
  /** Client certificate and CA for amqps://. */
  readonly tls?: TlsMaterial;
  /** Messages sent and not yet confirmed by the broker, at most. */
  readonly maxUnconfirmed: number;
  /** Largest body sent at all; larger ones are dead-lettered (the broker would close the channel). */
  readonly maxMessageBytes: number;
  readonly logger: Logger;
  readonly onPublishError?: (error: unknown) => void;
  readonly onReadyChange?: (ready: boolean) => void;
}

// The body and properties are built when the message is sent (and again if it is resent): the many
// messages waiting in `outgoing` (up to the relay's in-flight window) hold no copy of them.
interface Pending {
  readonly seq: number;
  readonly exchange: string;
  readonly routingKey: string;
  readonly messageId: string;
  readonly assertExchange: ExchangeType | undefined;
  readonly event: OutboxEvent;
  readonly bodyBytes: number;
  readonly resolve: () => void;
  readonly reject: (error: UndeliverableError) => void;
}

interface Link {
  readonly connection: ChannelModel;
  readonly channel: ConfirmChannel;
  readonly unconfirmed: UnconfirmedMessages<Pending>;
  /** Exchanges declared or checked on this connection. */
  readonly exchanges: Set<string>;
  writable: boolean;
  lost: boolean;
  error: unknown;
  confirmWatch: NodeJS.Timeout | undefined;
}

const CONNECT_TIMEOUT_MS = 10_000;
// A confirm that has not come after this long will not come on this channel: reconnect and publish
// the unconfirmed again, rather than hold their events (and the slot) for ever.
const CONFIRM_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 2_000;
// RabbitMQ's answer when a body exceeds its max_message_size (the channel is closed).
const BROKER_SIZE_LIMIT = /message size \d+ is larger than configured max size (\d+)/;

export class RabbitMqSink implements Sink {
  readonly name = 'rabbitmq';
  private readonly log: Logger;
  private readonly outgoing = new OutgoingQueue<Pending>();
  private seq = 0;
  private link: Link | undefined;
  private running: Promise<void> | undefined;
  private connectWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private wake: (() => void) | undefined;
  private closing = false;
  private readonly closed = new AbortController();
  private connected = false;
  private blocked = false;
  private reportedReady = false;
  /** Lost links since the last confirmation: a link that dies at once is not retried in a tight loop. */
  private lossesInARow = 0;
  private nackedInARow = 0;
  private resumeAfterNackAt = 0;
  /** The broker's max_message_size, once it told us by refusing a larger message. */
  private brokerMaxBytes = Number.POSITIVE_INFINITY;

  constructor(private readonly options: RabbitMqSinkOptions) {
    this.log = options.logger.child({ sink: 'rabbitmq' });
  }

  get ready(): boolean {
    return this.connected && !this.blocked;
  }

  /** Resolves once connected; keeps reconnecting in the background until close(). */
  connect(): Promise<void> {
    if (this.closing) return Promise.reject(new Error('the RabbitMQ sink is closed'));
    this.running ??= this.maintain();
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
  }

  publish(message: SinkMessage): Promise<void> {
    const { event, destination } = message;
    if (destination.sink !== 'rabbitmq')
      throw new Error(`rabbitmq sink got a ${destination.sink} destination`);
    const bodyBytes = Buffer.byteLength(event.payload, 'utf8');
    const limit = Math.min(this.options.maxMessageBytes, this.brokerMaxBytes);
    if (bodyBytes > limit) return Promise.reject(tooLarge(bodyBytes, limit, destination.exchange));
    return new Promise((resolve, reject) => {
      this.outgoing.push({
        seq: this.seq++,
        exchange: destination.exchange,
        routingKey: destination.routingKey,
        messageId: event.id,
        assertExchange: destination.assertExchange,
        event,
        bodyBytes,
        resolve,
        reject,
      });
      this.notify();
    });
  }

  /** The relay has already waited for what it wanted delivered: stop retrying and disconnect. */
  async close(): Promise<void> {
    this.closing = true;
    this.closed.abort();
    this.notify();
    for (const waiter of this.connectWaiters.splice(0)) waiter.reject(new Error('the RabbitMQ sink closed'));
    // A connection attempt under way ends by itself (refused, or its timeout) and is then closed.
    if (this.link) await closeConnection(this.link.connection);
  }

  /** Connects, pumps until the link is lost, puts its unconfirmed messages back, reconnects. */
  private async maintain(): Promise<void> {
    let failures = 0;
    while (!this.closing) {
      let link: Link;
      try {
        link = await this.open();
      } catch (error) {
        if (this.closing) break;
        failures += 1;
        this.options.onPublishError?.(error);
        const fields = { err: error, attempt: failures, broker: describeBroker(this.options.url) };
        // An outage is logged once, when the connection is lost; its attempts are detail.
        if (this.lossesInARow > 0) this.log.debug(fields, 'rabbitmq: connect failed, retrying');
        else this.log.warn(fields, 'rabbitmq: connect failed, retrying');
        await sleep(backoffDelay(failures + this.lossesInARow, 200, 5_000), this.closed.signal);
        continue;
      }
      if (this.lossesInARow > 0)
        this.log.info({ attempts: failures + 1, queued: this.outgoing.length }, 'rabbitmq: reconnected');
      failures = 0;
      this.link = link;
      this.blocked = false;
      this.setConnected(true);
      for (const waiter of this.connectWaiters.splice(0)) waiter.resolve();

      await this.pump(link);

      this.link = undefined;
      clearInterval(link.confirmWatch);
      const unconfirmed = link.unconfirmed.reset();
      this.outgoing.putBack(unconfirmed);
      // Only the channel may have died (e.g. an exchange deleted under a publish): start afresh.
      const closed = closeConnection(link.connection);
      if (this.closing) {
        await closed;
        break;
      }
      const error = link.error ?? new Error('connection closed');
      this.lossesInARow += 1;
      this.options.onPublishError?.(error);
      this.log.warn(
        { err: error, resending: unconfirmed.length, queued: this.outgoing.length },
        'rabbitmq: connection lost, reconnecting',
      );
      this.setConnected(false);
      this.learnSizeLimit(error);
      await closed;
      if (this.lossesInARow > 1)
        await sleep(backoffDelay(this.lossesInARow - 1, 200, 5_000), this.closed.signal);
    }
  }

  private async open(): Promise<Link> {
    const connection = await connect(this.options.url, {
      ...this.options.tls,
      timeout: CONNECT_TIMEOUT_MS,
      clientProperties: { connection_name: 'outbox-relay' },
    });
    let channel: ConfirmChannel;
    let closedEarly = false;
    try {
      // Until the link exists, an 'error' must still have a listener (an unhandled one kills Node).
      connection.on('error', () => undefined);
      // A close read in the same chunk as the channel's opening fires before this function resumes.
      connection.once('close', () => (closedEarly = true));
      channel = await connection.createConfirmChannel();
      if (this.closing) throw new Error('the RabbitMQ sink closed');
    } catch (error) {
      await closeConnection(connection);
      throw error;
    }
    const link: Link = {
      connection,
      channel,
      unconfirmed: new UnconfirmedMessages<Pending>(),
      exchanges: new Set(['']),
      writable: true,
      lost: false,
      error: undefined,
      confirmWatch: undefined,
    };
    // Not while the broker blocks publishers: it then holds confirms back on purpose.
    link.confirmWatch = setInterval(() => {
      const waited = link.unconfirmed.oldestWait();
      if (!this.blocked && waited > CONFIRM_TIMEOUT_MS)
        this.lose(link, new Error(`no publisher confirm for ${waited} ms`));
    }, 1_000);
    link.confirmWatch.unref();
    connection.on('error', (error: Error) => this.lose(link, error));
    connection.on('close', (error?: Error) => this.lose(link, error));
    connection.on('blocked', (reason: string) => {
      this.log.warn({ reason }, 'rabbitmq: the broker blocks publishing');
      this.setBlocked(true);
    });
    connection.on('unblocked', () => {
      this.log.info('rabbitmq: the broker unblocked publishing');
      this.setBlocked(false);
    });
    channel.on('error', (error: Error) => this.lose(link, error));
    // A channel closes before its connection reports why: the 'close' events only mark the loss.
    channel.on('close', () => this.lose(link, undefined));
    channel.on('drain', () => {
      link.writable = true;
      this.notify();
    });
    channel.on('return', (message: Message) => {
      const { exchange, routingKey } = message.fields;
      const messageId = message.properties.messageId as string | undefined;
      if (!link.unconfirmed.returned({ exchange, routingKey, messageId }))
        this.log.debug({ exchange, routingKey, messageId }, 'rabbitmq: a returned message matched none');
    });
    channel.on('ack', ({ deliveryTag, multiple }: { deliveryTag: number; multiple: boolean }) =>
      this.onAck(link, deliveryTag, multiple),
    );
    channel.on('nack', ({ deliveryTag, multiple }: { deliveryTag: number; multiple: boolean }) =>
      this.onNack(link, deliveryTag, multiple),
    );
    if (closedEarly) this.lose(link, new Error('connection closed while opening the channel'));
    return link;
  }

  /** Sends from the head of `outgoing` until the link is lost or the sink closes. */
  private async pump(link: Link): Promise<void> {
    while (!link.lost && !this.closing) {
      const next = this.outgoing.peek();
      if (!next || link.unconfirmed.size >= this.options.maxUnconfirmed || !link.writable) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      const pause = this.resumeAfterNackAt - Date.now();
      if (pause > 0) {
        await sleep(pause, this.closed.signal);
        continue;
      }
      if (!link.exchanges.has(next.exchange)) {
        await this.prepareExchange(link, next);
        continue;
      }
      this.outgoing.shift();
      this.send(link, next);
    }
  }

  private send(link: Link, pending: Pending): void {
    let writable: boolean;
    try {
      writable = link.channel.publish(
        pending.exchange,
        pending.routingKey,
        Buffer.from(pending.event.payload, 'utf8'),
        publishProperties(pending.event),
      );
    } catch (error) {
      // amqplib refuses headers that do not fit its encoding buffer before sending anything.
      if (error instanceof RangeError) {
        this.options.onPublishError?.(error);
        pending.reject(
          new UndeliverableError(`rabbitmq cannot encode the message: ${error.message}`, 'too_large', {
            cause: error,
          }),
        );
        return;
      }
      this.outgoing.putBack([pending]);
      this.lose(link, error);
      return;
    }
    link.unconfirmed.published(pending);
    if (!writable) link.writable = false;
  }

  /** Declares or checks the exchange of `pending` on a channel of its own; refuses what cannot go. */
  private async prepareExchange(link: Link, pending: Pending): Promise<void> {
    const { exchange, assertExchange } = pending;
    try {
      const channel = await link.connection.createChannel();
      channel.on('error', () => undefined);
      try {
        if (assertExchange) await channel.assertExchange(exchange, assertExchange, { durable: true });
        else await channel.checkExchange(exchange);
      } finally {
        await channel.close().catch(() => undefined);
      }
      link.exchanges.add(exchange);
      return;
    } catch (error) {
      if (link.lost || this.closing) return;
      const refusal = exchangeRefusal(error, exchange, assertExchange);
      if (!refusal) {
        this.lose(link, error);
        return;
      }
      // Every waiting publish to it would meet the same answer now; later ones ask again.
      const refused = this.outgoing.removeWhere(
        (other) => other.exchange === exchange && other.assertExchange === assertExchange,
      );
      for (const other of refused) {
        this.options.onPublishError?.(refusal);
        other.reject(refusal);
      }
    }
  }

  private onAck(link: Link, deliveryTag: number, multiple: boolean): void {
    for (const { item, returned } of link.unconfirmed.confirm(deliveryTag, multiple)) {
      if (returned) {
        this.options.onPublishError?.(new Error('unroutable'));
        item.reject(
          new UndeliverableError(
            `unroutable: no queue bound to exchange "${item.exchange}" for routing key "${item.routingKey}"`,
            'unroutable',
          ),
        );
      } else item.resolve();
    }
    this.lossesInARow = 0;
    this.nackedInARow = 0;
    this.notify();
  }

  /**
   * The broker could not take these (an internal error, a full queue with overflow reject-publish):
   * retriable, so they are sent again, after a backoff and before anything newer. A message of the
   * same key sent after a nacked one may already be in the queue, so a nack can reorder a key.
   */
  private onNack(link: Link, deliveryTag: number, multiple: boolean): void {
    const nacked = link.unconfirmed.confirm(deliveryTag, multiple).map(({ item }) => item);
    if (nacked.length === 0) return;
    this.nackedInARow += 1;
    this.resumeAfterNackAt = Date.now() + backoffDelay(this.nackedInARow, 100, 5_000);
    for (const item of nacked) this.options.onPublishError?.(new Error(`nacked: ${item.messageId}`));
    this.log.warn({ messages: nacked.length }, 'rabbitmq: the broker nacked messages, publishing them again');
    this.outgoing.putBack(nacked);
    this.notify();
  }

  private lose(link: Link, error: unknown): void {
    link.error ??= error;
    if (link.lost) return;
    link.lost = true;
    this.notify();
  }

  /** RabbitMQ closed the channel over a body above its max_message_size: refuse those from now on. */
  private learnSizeLimit(error: unknown): void {
    const match = BROKER_SIZE_LIMIT.exec(error instanceof Error ? error.message : '');
    if (!match) return;
    this.brokerMaxBytes = Number(match[1]);
    this.log.warn(
      { maxMessageBytes: this.brokerMaxBytes },
      "rabbitmq: the broker's max_message_size is below RABBITMQ_MAX_MESSAGE_BYTES: lower the latter to match",
    );
    for (const pending of this.outgoing.removeWhere((p) => p.bodyBytes > this.brokerMaxBytes))
      pending.reject(tooLarge(pending.bodyBytes, this.brokerMaxBytes, pending.exchange));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private setConnected(connected: boolean): void {
    this.connected = connected;
    this.reportReady();
  }

  private setBlocked(blocked: boolean): void {
    this.blocked = blocked;
    this.reportReady();
  }

  private reportReady(): void {
    if (this.reportedReady === this.ready) return;
    this.reportedReady = this.ready;
    this.options.onReadyChange?.(this.ready);
  }
}

/** Why a declaration or check of an exchange failed, when that is the exchange's fault. */
export function exchangeRefusal(
  error: unknown,
  exchange: string,
  assertExchange: ExchangeType | undefined,
): UndeliverableError | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  const detail = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 404:
      return new UndeliverableError(
        `exchange "${exchange}" does not exist: declare it or set assert: true on its route`,
        'exchange_not_found',
        { cause: error },
      );
    case 406:
      return new UndeliverableError(
        `exchange "${exchange}" exists with other properties than a durable ${assertExchange ?? ''} exchange: ${detail}`,
        'exchange_mismatch',
        { cause: error },
      );
    case 403:
      return new UndeliverableError(`access to exchange "${exchange}" refused: ${detail}`, 'access_refused', {
        cause: error,
      });
    default:
      return undefined;
  }
}

/** Persistent, mandatory, and the contract's properties and headers. */
function publishProperties(event: OutboxEvent): Options.Publish {
  const createdAtMs = Date.parse(event.createdAt);
  return {
    persistent: true,
    mandatory: true,
    messageId: event.id,
    type: event.eventType,
    contentType: 'application/json',
    ...(Number.isNaN(createdAtMs) ? {} : { timestamp: Math.floor(createdAtMs / 1000) }),
    headers: messageHeaders(event),
  };
}

function tooLarge(size: number, limit: number, exchange: string): UndeliverableError {
  return new UndeliverableError(
    `message of ${size} bytes exceeds the ${limit}-byte limit for exchange "${exchange}"`,
    'too_large',
  );
}

/** The broker's address without credentials, for logs. */
export function describeBroker(url: string): string {
  try {
    const { protocol, hostname, port, pathname } = new URL(url);
    return `${protocol}//${hostname}${port ? `:${port}` : ''}${pathname}`;
  } catch {
    return 'an unparsable RabbitMQ URL';
  }
}

/** Closes a connection, giving up on a broker that does not answer. */
async function closeConnection(connection: ChannelModel): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<boolean>(
    (resolve) => (timer = setTimeout(() => resolve(true), CLOSE_TIMEOUT_MS)),
  );
  const closed = connection.close().then(
    () => false,
    () => false,
  );
  if (await Promise.race([closed, gaveUp])) {
    (
      connection as unknown as { connection?: { stream?: { destroy(): void } } }
    ).connection?.stream?.destroy();
  }
  clearTimeout(timer);
}
