// Where the examples find PostgreSQL, Kafka and RabbitMQ: the environment, else the local services
// that `npm run services:up` starts (deploy/local/env.sh sets the same default ports).
const pgPort = process.env.OUTBOX_PG_PORT ?? '15432';

/** The example application's database (created by the orders app when missing). */
export const DATABASE_URL =
  process.env.DATABASE_URL ?? `postgres://postgres@127.0.0.1:${pgPort}/outbox_example`;
export const KAFKA_BROKERS = (
  process.env.KAFKA_BROKERS ?? `127.0.0.1:${process.env.OUTBOX_KAFKA_PORT ?? '19092'}`
).split(',');
export const RABBITMQ_URL =
  process.env.RABBITMQ_URL ?? `amqp://guest:guest@127.0.0.1:${process.env.OUTBOX_RABBITMQ_PORT ?? '16672'}`;

/** Prints one line: the examples' output is read by people and by test/integration/examples.test.ts. */
export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}
