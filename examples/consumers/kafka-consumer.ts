// A Kafka consumer of the orders events that deduplicates on the event id (the `id` header): a
// "shipping" service that creates one shipment per placed order and cancels it when the order is
// cancelled, even when a message is delivered twice.
//
//   npm run example:kafka-consumer       runs until Ctrl-C
//
// EXAMPLE_TOPIC (default example.orders, where examples/routes.yaml sends `order` events) and
// EXAMPLE_GROUP_ID (default shipping) choose what it reads; DATABASE_URL and KAFKA_BROKERS where.
import { Kafka, logLevel } from 'kafkajs';
import type { KafkaMessage } from 'kafkajs';
import pg from 'pg';
import type { ShopEvent } from '../orders-app/schema.js';
import { DATABASE_URL, KAFKA_BROKERS, say } from '../env.js';
import { CREATE_PROCESSED_EVENTS, handleOnce } from './dedup.js';

const TOPIC = process.env.EXAMPLE_TOPIC ?? 'example.orders';
const GROUP_ID = process.env.EXAMPLE_GROUP_ID ?? 'shipping';
// The dedup key's owner is the service, not the group: a new group re-reading the topic from the
// start (offsets lost, a replay) finds every event handled already.
const CONSUMER = 'shipping';

// The consumer's own state; in a real system it lives in the shipping service's database.
const CREATE_SHIPMENTS = `
  create table if not exists shipments (
    id serial primary key,
    order_id integer not null,
    event_id uuid not null,
    status text not null default 'pending'
  )`;

type Payload<T extends ShopEvent['eventType']> = Extract<ShopEvent, { eventType: T }>['payload'];

function header(message: KafkaMessage, name: string): string | undefined {
  return message.headers?.[name]?.toString();
}

async function handle(pool: pg.Pool, message: KafkaMessage): Promise<void> {
  const id = header(message, 'id');
  const eventType = header(message, 'event_type');
  if (id === undefined || message.value === null) {
    say(`ignored a message without an id header at offset ${message.offset}`);
    return;
  }
  const body: unknown = JSON.parse(message.value.toString());
  const handled = await handleOnce(pool, CONSUMER, id, async (client) => {
    if (eventType === 'OrderPlaced') {
      const { orderId } = body as Payload<'OrderPlaced'>;
      await client.query('insert into shipments (order_id, event_id) values ($1, $2)', [orderId, id]);
    } else if (eventType === 'OrderCancelled') {
      const { orderId } = body as Payload<'OrderCancelled'>;
      await client.query(`update shipments set status = 'cancelled' where order_id = $1`, [orderId]);
    }
  });
  say(handled ? `handled ${eventType} ${id} (order ${message.key?.toString()})` : `skipped duplicate ${id}`);
}

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: DATABASE_URL });
  await pool.query(CREATE_PROCESSED_EVENTS);
  await pool.query(CREATE_SHIPMENTS);
  const kafka = new Kafka({
    clientId: 'shipping-example',
    brokers: KAFKA_BROKERS,
    logLevel: logLevel.NOTHING,
  });
  // Subscribing to a topic that does not exist yet fails; production topics are provisioned ahead.
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC }], waitForLeaders: true });
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: GROUP_ID, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
  // Offsets are committed after eachMessage returns, so a crash in between redelivers the message:
  // handleOnce makes that harmless.
  await consumer.run({ eachMessage: ({ message }) => handle(pool, message) });
  say(`consuming ${TOPIC} as group ${GROUP_ID}`);

  const stop = (): void => {
    void consumer
      .disconnect()
      .then(() => pool.end())
      .then(() => say('stopped'));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`kafka consumer failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
  process.exit();
});
