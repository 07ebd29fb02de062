// A RabbitMQ consumer of the orders events that deduplicates on the event id (the message's
// `messageId`): a "notifications" service that records one notification per order event, even
// when a message is delivered twice.
//
//   npm run example:rabbitmq-consumer    runs until Ctrl-C
//
// It binds its durable queue EXAMPLE_QUEUE (default notifications) to the topic exchange
// EXAMPLE_EXCHANGE (default outbox, the relay's default exchange) with the binding key `order.*`:
// the relay's default routing key is `${aggregateType}.${eventType}`. Start it before the relay
// publishes: messages that reach no queue are returned to the relay, which dead-letters them.
import amqp from 'amqplib';
import type { ConsumeMessage } from 'amqplib';
import pg from 'pg';
import type { ShopEvent } from '../orders-app/schema.js';
import { DATABASE_URL, RABBITMQ_URL, say } from '../env.js';
import { CREATE_PROCESSED_EVENTS, handleOnce } from './dedup.js';

const EXCHANGE = process.env.EXAMPLE_EXCHANGE ?? 'outbox';
const QUEUE = process.env.EXAMPLE_QUEUE ?? 'notifications';
const CONSUMER = 'notifications';

const CREATE_NOTIFICATIONS = `
  create table if not exists notifications (
    id serial primary key,
    order_id integer not null,
    event_id uuid not null,
    text text not null
  )`;

type Payload<T extends ShopEvent['eventType']> = Extract<ShopEvent, { eventType: T }>['payload'];

function notification(
  eventType: string | undefined,
  body: unknown,
): { orderId: number; text: string } | undefined {
  if (eventType === 'OrderPlaced') {
    const { orderId, customer } = body as Payload<'OrderPlaced'>;
    return { orderId, text: `thank you for your order, ${customer}` };
  }
  if (eventType === 'OrderCancelled') {
    const { orderId, reason } = body as Payload<'OrderCancelled'>;
    return { orderId, text: `your order was cancelled: ${reason}` };
  }
  return undefined;
}

async function handle(pool: pg.Pool, message: ConsumeMessage): Promise<void> {
  const id = message.properties.messageId as string | undefined;
  const eventType = message.properties.type as string | undefined;
  if (id === undefined) {
    say(`ignored a message without a messageId (routing key ${message.fields.routingKey})`);
    return;
  }
  const note = notification(eventType, JSON.parse(message.content.toString()));
  const handled = await handleOnce(pool, CONSUMER, id, async (client) => {
    if (note)
      await client.query('insert into notifications (order_id, event_id, text) values ($1, $2, $3)', [
        note.orderId,
        id,
        note.text,
      ]);
  });
  say(handled ? `handled ${eventType} ${id} (${message.fields.routingKey})` : `skipped duplicate ${id}`);
}

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: DATABASE_URL });
  await pool.query(CREATE_PROCESSED_EVENTS);
  await pool.query(CREATE_NOTIFICATIONS);
  const connection = await amqp.connect(RABBITMQ_URL);
  const channel = await connection.createChannel();
  // As the relay declares it, so whichever starts first creates it.
  await channel.assertExchange(EXCHANGE, 'topic', { durable: true });
  await channel.assertQueue(QUEUE, { durable: true });
  await channel.bindQueue(QUEUE, EXCHANGE, 'order.*');
  await channel.prefetch(10);
  // One message at a time, in queue order, so an order's events are handled in the order they were
  // committed. Acknowledged only after the handling committed: a crash in between redelivers the
  // message, and handleOnce makes that harmless.
  let previous = Promise.resolve();
  await channel.consume(QUEUE, (message) => {
    if (message === null) return;
    previous = previous.then(() =>
      handle(pool, message).then(
        () => channel.ack(message),
        (error: unknown) => {
          say(`failed to handle ${String(message.properties.messageId)}: ${String(error)}`);
          channel.nack(message, false, true);
        },
      ),
    );
  });
  say(`consuming queue ${QUEUE} bound to ${EXCHANGE} with order.*`);

  const stop = (): void => {
    void channel
      .close()
      .then(() => connection.close())
      .then(() => pool.end())
      .then(() => say('stopped'));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `rabbitmq consumer failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exitCode = 1;
  process.exit();
});
