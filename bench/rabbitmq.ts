// The bench's RabbitMQ side: a durable queue per scenario bound to the default route's exchange, a
// latency consumer, and amqplib's raw confirmed-publish rate and the latency floor's publisher with
// the sink's settings (one confirm channel, persistent and mandatory messages with the same
// properties; the raw rate with at most 1,000 unconfirmed).
import { connect } from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import type { BenchBroker, BrokerPublisher, Consumer, RawMessage } from './brokers.js';

/** The default route: topic exchange `outbox`, routing key `<aggregateType>.<eventType>`. */
const EXCHANGE = 'outbox';

export class RabbitBenchBroker implements BenchBroker {
  readonly name = 'rabbitmq';
  readonly relayEnv: Record<string, string>;

  private constructor(
    private readonly url: string,
    private readonly connection: ChannelModel,
    private readonly channel: Channel,
    readonly pid: number | undefined,
    private readonly maxUnconfirmed: number,
  ) {
    this.relayEnv = { RABBITMQ_URL: url };
  }

  static async create(
    url: string,
    pid: number | undefined,
    maxUnconfirmed = 1_000,
  ): Promise<RabbitBenchBroker> {
    const connection = await connect(url);
    const channel = await connection.createChannel();
    await channel.assertExchange(EXCHANGE, 'topic', { durable: true });
    return new RabbitBenchBroker(url, connection, channel, pid, maxUnconfirmed);
  }

  async prepare(aggregateType: string): Promise<void> {
    const queue = queueOf(aggregateType);
    await this.channel.assertQueue(queue, { durable: true });
    await this.channel.bindQueue(queue, EXCHANGE, `${aggregateType}.*`);
  }

  async delivered(aggregateType: string): Promise<number> {
    return (await this.channel.checkQueue(queueOf(aggregateType))).messageCount;
  }

  async consume(
    aggregateType: string,
    onPayloads: (payloads: string[], at: number) => void,
  ): Promise<Consumer> {
    const connection = await connect(this.url);
    const channel = await connection.createChannel();
    await channel.consume(
      queueOf(aggregateType),
      (message) => {
        if (message) onPayloads([message.content.toString()], performance.now());
      },
      { noAck: true },
    );
    return { stop: () => connection.close() };
  }

  async rawPublish(
    aggregateType: string,
    count: number,
    message: (index: number) => RawMessage,
  ): Promise<number> {
    const connection = await connect(this.url);
    try {
      const channel = await connection.createConfirmChannel();
      const routingKey = `${aggregateType}.BenchEvent`;
      // A warm-up message outside the timing.
      await publishConfirmed(channel, routingKey, message(0));
      const started = performance.now();
      await new Promise<void>((resolve, reject) => {
        let sent = 0;
        let confirmed = 0;
        let writable = true;
        const pump = (): void => {
          while (sent < count && sent - confirmed < this.maxUnconfirmed && writable) {
            writable = publish(channel, routingKey, message(sent++), (error) => {
              if (error) return reject(asError(error));
              confirmed += 1;
              if (confirmed === count) resolve();
              else pump();
            });
          }
        };
        channel.on('drain', () => {
          writable = true;
          pump();
        });
        pump();
      });
      return (performance.now() - started) / 1000;
    } finally {
      await connection.close();
    }
  }

  async publisher(aggregateType: string): Promise<BrokerPublisher> {
    const connection = await connect(this.url);
    const channel = await connection.createConfirmChannel();
    const routingKey = `${aggregateType}.BenchEvent`;
    // publish() answers false when the socket's buffer is full: wait for it to drain before more.
    let drained: Promise<void> = Promise.resolve();
    return {
      send: async (messages) => {
        const confirmed: Promise<void>[] = [];
        for (const message of messages) {
          await drained;
          confirmed.push(
            new Promise((resolve, reject) => {
              const writable = publish(channel, routingKey, message, (error) =>
                error ? reject(asError(error)) : resolve(),
              );
              if (!writable) drained = new Promise((resolve) => channel.once('drain', () => resolve()));
            }),
          );
        }
        await Promise.all(confirmed);
      },
      close: () => connection.close(),
    };
  }

  async remove(aggregateType: string): Promise<void> {
    await this.channel.deleteQueue(queueOf(aggregateType)).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

function queueOf(aggregateType: string): string {
  return `bench.${aggregateType}`;
}

/** The sink's message properties (src/sinks/rabbitmq.ts). */
function publish(
  channel: ConfirmChannel,
  routingKey: string,
  { value, headers }: RawMessage,
  confirmed: (error: unknown) => void,
): boolean {
  return channel.publish(
    EXCHANGE,
    routingKey,
    Buffer.from(value, 'utf8'),
    {
      persistent: true,
      mandatory: true,
      messageId: headers['id'],
      type: headers['event_type'],
      contentType: 'application/json',
      timestamp: Math.floor(Date.now() / 1000),
      headers,
    },
    confirmed,
  );
}

function publishConfirmed(channel: ConfirmChannel, routingKey: string, message: RawMessage): Promise<void> {
  return new Promise((resolve, reject) =>
    publish(channel, routingKey, message, (error) => (error ? reject(asError(error)) : resolve())),
  );
}

function asError(error: unknown): Error {
  return error instanceof Error
    ? error
    : new Error(`the broker refused the message: ${JSON.stringify(error)}`);
}
