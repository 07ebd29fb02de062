// Captures what real Debezium writes for the compatibility rows into test/fixtures/debezium/, the
// fixtures of test/unit/debezium-format.test.ts. Run with the local services' environment:
//   bash deploy/local/with-services.sh node --import tsx test/compat/capture-debezium-fixtures.ts
// (OUTBOX_SERVICES="postgres kafka" is enough). It starts Kafka Connect with Debezium's PostgreSQL
// connector and Outbox Event Router (deploy/local/debezium.sh), one connector per scenario of
// debezium-rows.ts, commits the rows, reads every record back as bytes and writes, per scenario,
// the events as the relay decodes them beside the records Debezium produced from them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { rowToEvent } from '../../src/wal/decode.js';
import type { OutboxEvent } from '../../src/wal/event.js';
import { createTestDatabase, ROOT, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { outboxTopic, RawReader, routerProperties, startDebezium } from './debezium-harness.js';
import type { RawRecord } from './debezium-harness.js';
import { insertRows, ROW_SETS, SCENARIOS } from './debezium-rows.js';
import type { RowSet } from './debezium-rows.js';

const OUT = `${ROOT}/test/fixtures/debezium`;

/** The rows as the relay's decoder hands them to a format: pgoutput prints columns as these casts do. */
async function eventsOf(db: TestDatabase): Promise<OutboxEvent[]> {
  const { rows } = await db.pool.query<Record<string, string>>(
    `select id::text, aggregate_type, aggregate_id, event_type, payload::text, headers::text, created_at::text
       from outbox order by seq`,
  );
  return rows.map((row) => rowToEvent(row));
}

const text = (bytes: Buffer | null) => (bytes === null ? null : bytes.toString('utf8'));

function fixtureRecord(record: RawRecord, prefix: string) {
  return {
    // As Debezium names it by default (route.topic.replacement outbox.event.${routedByValue}).
    topic: record.topic.slice(prefix.length + 1),
    key: text(record.key),
    value: text(record.value),
    headers: record.headers.map(([name, value]) => [name, value.toString('utf8')]),
  };
}

async function main(): Promise<void> {
  const databases = {
    mixed: await createTestDatabase('dbzmix'),
    expandable: await createTestDatabase('dbzexp'),
    single: await createTestDatabase('dbzone'),
  };
  const rows = ROW_SETS;
  const run = uniqueName('capture');
  const prefix = (scenario: string) => `${run}_${scenario}`;
  const topics = SCENARIOS.flatMap((scenario) =>
    [...new Set(rows[scenario.rows].map((row) => row.aggregateType))].map((type) =>
      outboxTopic(prefix(scenario.name), type),
    ),
  );
  const reader = await RawReader.start(topics);
  const debezium = await startDebezium(
    SCENARIOS.map((scenario) => ({
      name: scenario.name,
      topicPrefix: prefix(scenario.name),
      database: databases[scenario.rows],
      router: scenario.router,
    })),
  );
  try {
    for (const set of Object.keys(rows) as RowSet[]) await insertRows(databases[set].pool, rows[set]);
    const expected = SCENARIOS.reduce((sum, scenario) => sum + rows[scenario.rows].length, 0);
    const records = await reader.waitFor(expected, 'from Debezium');
    const events = {
      mixed: await eventsOf(databases.mixed),
      expandable: await eventsOf(databases.expandable),
      single: await eventsOf(databases.single),
    };
    mkdirSync(OUT, { recursive: true });
    for (const scenario of SCENARIOS) {
      const own = records.filter((record) => record.topic.startsWith(`${prefix(scenario.name)}.`));
      const byId = new Map(
        own.map((record) => [record.headers.find(([name]) => name === 'id')![1].toString('utf8'), record]),
      );
      const cases = events[scenario.rows].map((event) => ({
        event,
        debezium: fixtureRecord(byId.get(event.id)!, prefix(scenario.name)),
      }));
      const fixture = {
        producedBy: `Debezium ${process.env.DEBEZIUM_VERSION ?? '3.4.3.Final'} PostgreSQL connector, Kafka Connect ${process.env.KAFKA_VERSION ?? '4.1.1'} JsonConverter (schemas enabled), test/compat/capture-debezium-fixtures.ts`,
        // The connector's topic.prefix names the envelope's schema (dbz_<scenario>.public.outbox...).
        topicPrefix: `dbz_${scenario.name}`,
        // The cases' topics are given without this run's prefix, as Debezium's default names them.
        router: { ...routerProperties(prefix(scenario.name)), ...scenario.router },
        cases,
      };
      writeFileSync(`${OUT}/${scenario.name}.json`, `${JSON.stringify(fixture, null, 2)}\n`);
    }
  } finally {
    await reader.stop();
    await debezium.stop();
    for (const db of Object.values(databases)) await db.drop();
  }
}

await main();
