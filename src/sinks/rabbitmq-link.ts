// One connection to RabbitMQ with its confirm channel: opened here, its events handed to the sink
// (rabbitmq-sink.ts), which owns what is sent on it and what happens when it is lost.
import { connect } from 'amqplib';
import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import type { Logger } from 'pino';
import type { TlsMaterial } from '../tls.js';
import type { ExchangeType } from './rabbitmq-destination.js';
import type { Publication } from './sink.js';
import { coalesceWrites, installPublishEncoder } from './amqplib-socket.js';
import { closeConnection } from './rabbitmq-amqp.js';
import { UnconfirmedMessages } from './rabbitmq-queues.js';
import type { ReturnedMessage } from './rabbitmq-queues.js';

// The body and properties are built when the message is sent (and again if it is resent): the many
// messages waiting in `outgoing` (up to the relay's in-flight window) hold no copy of them.
export interface Pending {
  readonly seq: number;
  readonly exchange: string;
  readonly routingKey: string;
  readonly messageId: string;
  readonly assertExchange: ExchangeType | undefined;
  readonly bodyBytes: number;
  /** The event and its destination (with the format applied when the message is sent); told the outcome. */
  readonly publication: Publication;
}

export interface AmqpLink<T extends ReturnedMessage> {
  readonly connection: ChannelModel;
  readonly channel: ConfirmChannel;
  readonly unconfirmed: UnconfirmedMessages<T>;
  /** Exchanges declared or checked on this connection. */
  readonly exchanges: Set<string>;
  writable: boolean;
  lost: boolean;
  error: unknown;
  confirmWatch: NodeJS.Timeout | undefined;
}

/** The sink's link. */
export type Link = AmqpLink<Pending>;

/** What the link reports to its sink, and asks of it. */
export interface LinkHandlers<T extends ReturnedMessage> {
  readonly log: Logger;
  closing(): boolean;
  /** Whether the broker blocks publishers (it then holds confirms back on purpose). */
  blocked(): boolean;
  setBlocked(blocked: boolean): void;
  lose(link: AmqpLink<T>, error: unknown): void;
  /** The channel's write buffer drained. */
  drained(): void;
  ack(link: AmqpLink<T>, deliveryTag: number, multiple: boolean): void;
  nack(link: AmqpLink<T>, deliveryTag: number, multiple: boolean): void;
}

const CONNECT_TIMEOUT_MS = 10_000;
// A confirm that has not come after this long will not come on this channel: reconnect and publish
// the unconfirmed again, rather than hold their events (and the slot) for ever.
const CONFIRM_TIMEOUT_MS = 30_000;

/** Connects and opens a confirm channel; rejects when either fails (the connection is then closed). */
export async function openLink<T extends ReturnedMessage>(
  url: string,
  tls: TlsMaterial | undefined,
  on: LinkHandlers<T>,
): Promise<AmqpLink<T>> {
  const connection = await connect(url, {
    ...tls,
    timeout: CONNECT_TIMEOUT_MS,
    // Nagle's algorithm off (amqplib leaves it on): with it, the handshake's last frames waited for
    // the broker's delayed acknowledgement, 40 ms of every connect (55 -> 14 ms here).
    noDelay: true,
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
    if (on.closing()) throw new Error('the RabbitMQ sink closed');
    if (!installPublishEncoder(channel))
      on.log.warn(
        "rabbitmq: publish encoder not installed (amqplib's internals moved): amqplib's own is used",
      );
    if (!coalesceWrites(connection))
      on.log.warn("rabbitmq: socket writes not coalesced (amqplib's internals moved): one per message");
  } catch (error) {
    await closeConnection(connection);
    throw error;
  }
  const link: AmqpLink<T> = {
    connection,
    channel,
    unconfirmed: new UnconfirmedMessages<T>(),
    exchanges: new Set(['']),
    writable: true,
    lost: false,
    error: undefined,
    confirmWatch: undefined,
  };
  // Not while the broker blocks publishers: it then holds confirms back on purpose.
  link.confirmWatch = setInterval(() => {
    const waited = link.unconfirmed.oldestWait();
    if (!on.blocked() && waited > CONFIRM_TIMEOUT_MS)
      on.lose(link, new Error(`no publisher confirm for ${waited} ms`));
  }, 1_000);
  link.confirmWatch.unref();
  connection.on('error', (error: Error) => on.lose(link, error));
  connection.on('close', (error?: Error) => on.lose(link, error));
  connection.on('blocked', (reason: string) => {
    on.log.warn({ reason }, 'rabbitmq: the broker blocks publishing');
    on.setBlocked(true);
  });
  connection.on('unblocked', () => {
    on.log.info('rabbitmq: the broker unblocked publishing');
    on.setBlocked(false);
  });
  channel.on('error', (error: Error) => on.lose(link, error));
  // A channel closes before its connection reports why: the 'close' events only mark the loss.
  channel.on('close', () => on.lose(link, undefined));
  channel.on('drain', () => {
    link.writable = true;
    on.drained();
  });
  channel.on('return', (message: Message) => {
    const { exchange, routingKey } = message.fields;
    const messageId = message.properties.messageId as string | undefined;
    // basic.return's fields; amqplib's types leave its reply code out.
    const { replyCode } = message.fields as unknown as { replyCode: number };
    if (!link.unconfirmed.returned({ exchange, routingKey, messageId }, replyCode))
      on.log.debug({ exchange, routingKey, messageId }, 'rabbitmq: a returned message matched none');
  });
  channel.on('ack', ({ deliveryTag, multiple }: { deliveryTag: number; multiple: boolean }) =>
    on.ack(link, deliveryTag, multiple),
  );
  channel.on('nack', ({ deliveryTag, multiple }: { deliveryTag: number; multiple: boolean }) =>
    on.nack(link, deliveryTag, multiple),
  );
  if (closedEarly) on.lose(link, new Error('connection closed while opening the channel'));
  return link;
}

/**
 * Declares (assert) or checks an exchange on a short-lived channel of its own, since a failed
 * declaration closes its channel. Resolves undefined once the exchange is known to exist.
 */
export async function declareExchange(
  link: AmqpLink<Pending>,
  exchange: string,
  assertExchange: ExchangeType | undefined,
): Promise<{ error: unknown } | undefined> {
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
    return undefined;
  } catch (error) {
    return { error };
  }
}

/** Connected, and not blocked by the broker: each change of the two together is reported once. */
export class Readiness {
  connected = false;
  blocked = false;
  private reported = false;

  constructor(private readonly onChange?: (ready: boolean) => void) {}

  get ready(): boolean {
    return this.connected && !this.blocked;
  }

  set(change: { readonly connected?: boolean; readonly blocked?: boolean }): void {
    if (change.connected !== undefined) this.connected = change.connected;
    if (change.blocked !== undefined) this.blocked = change.blocked;
    if (this.reported !== this.ready) this.onChange?.((this.reported = this.ready));
  }
}
