// Reads RabbitMQ back from the real broker, for assertions. A reader owns a durable queue of its own,
// bound before the relay publishes: it survives closed connections and a broker restart (the relay's
// messages are persistent), and the reader reconnects and consumes on until stopped.
import { connect } from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { ExchangeType } from '../../src/sinks/rabbitmq-destination.js';
import { EventCounter } from './load.js';
import { RABBITMQ_URL, uniqueName } from '../kit/services.js';
import { waitForMessages } from '../kit/wait.js';

export interface AmqpMessage {
  readonly exchange: string;
  readonly routingKey: string;
  readonly messageId: string | undefined;
  readonly type: string | undefined;
  readonly contentType: string | undefined;
  readonly timestamp: number | undefined;
  readonly deliveryMode: number | undefined;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** The body's bytes as sent (Avro, Protobuf). */
  readonly content: Buffer;
  /** The broker delivered it before (to this reader, whose connection then closed). */
  readonly redelivered: boolean;
}

export interface Binding {
  readonly exchange: string;
  readonly routingKey: string;
  /** Declare the exchange (durable, of this type) before binding; otherwise it must exist. */
  readonly declare?: ExchangeType;
}

/** Every routing key the default route gives an aggregate type: `<type>.<eventType>`. */
export function outboxBinding(aggregateType: string): Binding {
  return { exchange: 'outbox', routingKey: `${aggregateType}.*`, declare: 'topic' };
}

/** Runs `use` on a channel of a connection of its own, then closes both. */
export async function withChannel<T>(use: (channel: Channel) => Promise<T>): Promise<T> {
  const connection = await connect(RABBITMQ_URL);
  connection.on('error', () => undefined);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    return await use(channel);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Collects the messages routed to its queue, in arrival order, until stopped. */
export class QueueReader {
  readonly messages: AmqpMessage[] = [];
  /** Times the reader had to reconnect. */
  reconnections = 0;
  private connection: ChannelModel | undefined;
  private stopping = false;
  private readonly running: Promise<void>;

  private constructor(
    readonly queue: string,
    private readonly bindings: readonly Binding[],
    private readonly onMessage: ((message: AmqpMessage) => void) | undefined,
    private readonly keep: boolean,
    started: () => void,
  ) {
    this.running = this.consumeForever(started);
  }

  static async start(
    bindings: readonly Binding[],
    { onMessage, keep = true }: { onMessage?: (message: AmqpMessage) => void; keep?: boolean } = {},
  ): Promise<QueueReader> {
    let reader: QueueReader | undefined;
    await new Promise<void>((resolve) => {
      reader = new QueueReader(uniqueName('test_queue'), bindings, onMessage, keep, resolve);
    });
    return reader!;
  }

  waitForCount(count: number, timeoutMs?: number): Promise<AmqpMessage[]> {
    return waitForMessages(this, count, timeoutMs);
  }

  ids(): string[] {
    return this.messages.map((message) => message.messageId ?? '');
  }

  /** Where the reader stands: messages waiting in its queue, and its reconnections. */
  async describe(): Promise<string> {
    const waiting = await withChannel((channel) => channel.checkQueue(this.queue)).then(
      ({ messageCount }) => `${messageCount} ready`,
      (error: Error) => `not readable (${error.message})`,
    );
    return `RabbitMQ: queue ${this.queue} ${waiting}; reader reconnections: ${this.reconnections}`;
  }

  /** Stops consuming and deletes the queue. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.connection?.close().catch(() => undefined);
    await this.running;
    await withChannel((channel) => channel.deleteQueue(this.queue)).catch(() => undefined);
  }

  private async consumeForever(started: () => void): Promise<void> {
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        const connection = await connect(RABBITMQ_URL);
        connection.on('error', () => undefined);
        const closed = new Promise((resolve) => connection.on('close', resolve));
        this.connection = connection;
        const channel = await connection.createChannel();
        channel.on('error', () => undefined);
        await channel.prefetch(1_000);
        await channel.assertQueue(this.queue, { durable: true });
        for (const { exchange, routingKey, declare } of this.bindings) {
          if (declare) await channel.assertExchange(exchange, declare, { durable: true });
          await channel.bindQueue(this.queue, exchange, routingKey);
        }
        await channel.consume(this.queue, (message) => message && this.receive(channel, message));
        if (attempt > 0) this.reconnections += 1;
        started();
        await closed;
      } catch {
        // The broker is down or closed the connection: try again.
      }
      if (!this.stopping) await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private receive(channel: Channel, message: ConsumeMessage): void {
    const { fields, properties } = message;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(properties.headers ?? {})) headers[name] = String(value);
    const received: AmqpMessage = {
      exchange: fields.exchange,
      routingKey: fields.routingKey,
      messageId: properties.messageId as string | undefined,
      type: properties.type as string | undefined,
      contentType: properties.contentType as string | undefined,
      timestamp: properties.timestamp as number | undefined,
      deliveryMode: properties.deliveryMode as number | undefined,
      headers,
      body: message.content.toString('utf8'),
      content: message.content,
      redelivered: fields.redelivered,
    };
    if (this.keep) this.messages.push(received);
    this.onMessage?.(received);
    try {
      channel.ack(message);
    } catch {
      // The channel closed: the broker delivers the message again.
    }
  }
}

/**
 * An EventCounter (per-key order, duplicates) fed from a queue bound to the default route of an
 * aggregate type. The broker redelivering to this reader (its connection closed before its ack) also
 * makes duplicates; `readerDuplicates` counts those, so the relay's are the rest.
 */
export async function countQueue(
  aggregateType: string,
): Promise<{ counter: EventCounter; reader: QueueReader; readerDuplicates: () => number }> {
  let readerDuplicates = 0;
  const counter = new EventCounter(
    () => reader.stop(),
    () => reader.describe(),
  );
  const reader = await QueueReader.start([outboxBinding(aggregateType)], {
    keep: false,
    onMessage: (message) => {
      const duplicates = counter.duplicates;
      counter.count(message.messageId ?? '', message.headers['aggregate_id'] ?? '', message.body);
      if (message.redelivered && counter.duplicates > duplicates) readerDuplicates += 1;
    },
  });
  return { counter, reader, readerDuplicates: () => readerDuplicates };
}
