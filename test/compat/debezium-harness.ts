// Real Debezium beside the relay: Kafka Connect standalone with the Debezium PostgreSQL connector and
// its Outbox Event Router (deploy/local/debezium.sh), configured to read OUR outbox table, and a
// reader that keeps what reaches Kafka as raw bytes. Used by the compatibility test
// (debezium.test.ts) and by the script that captured the unit tests' fixtures
// (capture-debezium-fixtures.ts), so both run Debezium the same way.
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import type { Consumer } from 'kafkajs';
import { adminQuery, KAFKA_BROKER, PG_PORT, ROOT, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

const run = promisify(execFile);
const CONNECT_PORT = Number(process.env.OUTBOX_CONNECT_PORT ?? 18083);
const RUN_DIR = process.env.OUTBOX_RELAY_RUN_DIR ?? '/var/tmp/outbox-relay';

/** One Debezium connector: its name, the prefix of its topics, and the router options it adds. */
export interface Connector {
  readonly name: string;
  /** Unique per run, so that a reader from the beginning sees this run's records only. */
  readonly topicPrefix: string;
  readonly database: TestDatabase;
  /** transforms.outbox.* beyond the column mapping every connector has (routerProperties). */
  readonly router: Readonly<Record<string, string>>;
}

/** Debezium's default topic for an aggregate type's events, behind a prefix. */
export const outboxTopic = (prefix: string, aggregateType: string): string =>
  `${prefix}.outbox.event.${aggregateType}`;

/**
 * What every connector sets to read outbox-relay's table instead of Debezium's default columns
 * (id, aggregatetype, aggregateid, payload): docs/migrating-from-debezium.md shows the same
 * mapping. route.topic.replacement keeps Debezium's naming, outbox.event.${routedByValue}, behind a
 * prefix of the connector's own, so that several connectors and the relay write apart.
 */
export function routerProperties(topicPrefix: string): Record<string, string> {
  return {
    'table.field.event.id': 'id',
    'table.field.event.key': 'aggregate_id',
    'table.field.event.payload': 'payload',
    'route.by.field': 'aggregate_type',
    'route.topic.replacement': outboxTopic(topicPrefix, '${routedByValue}'),
  };
}

function connectorProperties(connector: Connector, slot: string): string {
  const database = new URL(connector.database.url).pathname.slice(1);
  const properties: Record<string, string> = {
    name: connector.name,
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    'tasks.max': '1',
    'database.hostname': '127.0.0.1',
    'database.port': String(PG_PORT),
    'database.user': 'postgres',
    'database.password': 'postgres',
    'database.dbname': database,
    'topic.prefix': `dbz_${connector.name}`,
    'plugin.name': 'pgoutput',
    'slot.name': slot,
    // The relay's publication (inserts only): the relay's own deletes never reach Debezium either.
    'publication.name': 'outbox_relay_pub',
    'publication.autocreate.mode': 'disabled',
    'table.include.list': 'public.outbox',
    'snapshot.mode': 'no_data',
    transforms: 'outbox',
    'transforms.outbox.type': 'io.debezium.transforms.outbox.EventRouter',
  };
  for (const [name, value] of Object.entries({
    ...routerProperties(connector.topicPrefix),
    ...connector.router,
  }))
    properties[`transforms.outbox.${name}`] = value;
  // A properties file escapes backslashes; ours have none, and ${...} is left to the router.
  return Object.entries(properties)
    .map(([name, value]) => `${name}=${value}`)
    .join('\n');
}

export interface DebeziumRun {
  /** The slot each connector streams from. */
  readonly slots: ReadonlyMap<string, string>;
  /** Stops Kafka Connect gracefully (it commits its offsets and confirms them to its slots). */
  stopConnect(): Promise<void>;
  /** Stops Kafka Connect and drops the connectors' slots. */
  stop(): Promise<void>;
}

/**
 * Starts one Kafka Connect worker running every connector, and resolves once each connector's task
 * runs and its slot is active (rows committed from then on reach it).
 */
export async function startDebezium(connectors: readonly Connector[]): Promise<DebeziumRun> {
  const dir = `${RUN_DIR}/debezium/connectors`;
  mkdirSync(dir, { recursive: true });
  // Fresh connectors: offsets a previous run stored under the same names must not be resumed.
  rmSync(`${RUN_DIR}/debezium/offsets.dat`, { force: true });
  const slots = new Map<string, string>();
  const files = connectors.map((connector) => {
    const slot = uniqueName(`dbz_${connector.name}`);
    slots.set(connector.name, slot);
    const file = `${dir}/${connector.name}.properties`;
    writeFileSync(file, connectorProperties(connector, slot));
    return file;
  });
  const stopConnect = async () => {
    await run('bash', [`${ROOT}/deploy/local/debezium.sh`, 'stop'], { cwd: ROOT, timeout: 120_000 });
  };
  const stop = async () => {
    await stopConnect();
    for (const slot of slots.values())
      await adminQuery(
        'select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1',
        [slot],
      ).catch(() => undefined);
  };
  try {
    await run('bash', [`${ROOT}/deploy/local/debezium.sh`, 'start', ...files], {
      cwd: ROOT,
      timeout: 300_000,
    });
    for (const connector of connectors) {
      await waitFor(
        `Debezium connector ${connector.name} running`,
        async () => {
          const response = await fetch(
            `http://127.0.0.1:${CONNECT_PORT}/connectors/${connector.name}/status`,
          );
          const status = (await response.json()) as { tasks?: { state: string; trace?: string }[] };
          const task = status.tasks?.[0];
          if (task?.state === 'FAILED') throw new Error(`task failed: ${task.trace ?? ''}`);
          return task?.state === 'RUNNING';
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      await waitFor(
        `slot ${slots.get(connector.name)!} active`,
        async () =>
          (
            await adminQuery('select 1 from pg_replication_slots where slot_name = $1 and active', [
              slots.get(connector.name)!,
            ])
          ).rowCount === 1,
        { timeoutMs: 120_000, intervalMs: 500 },
      );
    }
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  return { slots, stopConnect, stop };
}

/** A Kafka record as bytes: what a consumer of either system receives. */
export interface RawRecord {
  readonly topic: string;
  readonly partition: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** In the record's order. */
  readonly headers: readonly (readonly [string, Buffer])[];
}

/** Reads topics from the beginning and keeps every record's bytes untouched. */
export class RawReader {
  readonly records: RawRecord[] = [];
  private constructor(private readonly consumer: Consumer) {}

  static async start(topics: readonly string[]): Promise<RawReader> {
    const kafka = new Kafka({
      clientId: 'debezium-compat',
      brokers: [KAFKA_BROKER],
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      // Created up front, so the reader can subscribe and both writers find the same partitions.
      await admin.createTopics({
        topics: topics.map((topic) => ({ topic, numPartitions: 3 })),
        waitForLeaders: true,
      });
    } finally {
      await admin.disconnect();
    }
    const consumer = kafka.consumer({ groupId: uniqueName('debezium-compat') });
    const reader = new RawReader(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ topic, partition, message }) => {
        // kafkajs hands headers as an object in the record's order; a repeated name is an array.
        const headers = Object.entries(message.headers ?? {}).flatMap(([name, value]) =>
          (Array.isArray(value) ? value : [value]).map((one) => [name, Buffer.from(one ?? '')] as const),
        );
        reader.records.push({ topic, partition, key: message.key, value: message.value, headers });
        return Promise.resolve();
      },
    });
    return reader;
  }

  async waitFor(count: number, what: string): Promise<RawRecord[]> {
    await waitFor(
      () => `${count} records (${what}); have ${this.records.length}`,
      () => this.records.length >= count,
      { timeoutMs: 120_000 },
    );
    return this.records;
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
