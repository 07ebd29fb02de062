// What the relay publishes to Kafka, read by Kafka's own console consumer (the Java tool the
// distribution's kafka-console-consumer.sh runs, from the jars deploy/local/kafka.sh caches), with
// read_committed isolation: keys, headers and values of the native, cloudevents and avro formats.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { createTopics } from '../support/kafka.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { avroSchemasByFingerprint, decodeAvro } from '../support/schema-readers.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, KAFKA_BROKER, ROOT, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const run = promisify(execFile);
const SCHEMAS = new URL('../fixtures/schemas/good', import.meta.url).pathname;
/** Ends each record in the tool's output: an Avro value may hold any byte, newlines included. */
const END = '\n--end-of-record--\n';

interface ConsoleRecord {
  readonly headers: Record<string, string>;
  readonly key: string;
  readonly value: Buffer;
}

/**
 * Reads `count` records of `topic` from the beginning with the console consumer. Each record is
 * printed as `<name>:<value>,...<TAB><key><TAB><value><END>`.
 */
async function consoleConsume(topic: string, count: number): Promise<ConsoleRecord[]> {
  const { stdout } = await run(
    'bash',
    [
      'deploy/local/kafka.sh',
      'console-consumer',
      ...['--bootstrap-server', KAFKA_BROKER, '--topic', topic, '--from-beginning'],
      ...['--isolation-level', 'read_committed', '--max-messages', String(count), '--timeout-ms', '30000'],
      ...['--property', 'print.key=true', '--property', 'print.headers=true'],
      ...['--property', `line.separator=${END}`],
    ],
    { cwd: ROOT, encoding: 'buffer', timeout: 120_000, maxBuffer: 16 << 20 },
  );
  const records: ConsoleRecord[] = [];
  let rest = stdout;
  for (let end = rest.indexOf(END); end !== -1; end = rest.indexOf(END)) {
    const record = rest.subarray(0, end);
    rest = rest.subarray(end + END.length);
    const afterHeaders = record.indexOf('\t');
    const afterKey = record.indexOf('\t', afterHeaders + 1);
    const headers: Record<string, string> = {};
    const printed = record.subarray(0, afterHeaders).toString();
    if (printed !== 'NO_HEADERS')
      for (const header of printed.split(',')) {
        const colon = header.indexOf(':');
        headers[header.slice(0, colon)] = header.slice(colon + 1);
      }
    records.push({
      headers,
      key: record.subarray(afterHeaders + 1, afterKey).toString(),
      value: record.subarray(afterKey + 1),
    });
  }
  assert.equal(records.length, count, `${topic}: records printed`);
  return records;
}

describe("Kafka's console consumer reads what the relay published", () => {
  const types = {
    native: uniqueName('ccnative'),
    cloudevents: uniqueName('ccce'),
    avro: uniqueName('ccavro'),
  };
  let db: TestDatabase;
  let dir: string;
  let relay: RelayProcess;

  before(async () => {
    db = await createTestDatabase('console');
    dir = mkdtempSync(join(tmpdir(), 'outbox-console-'));
    const routes = join(dir, 'routes.json');
    writeFileSync(
      routes,
      JSON.stringify({
        routes: Object.entries(types).map(([format, aggregateType]) => ({
          aggregateType,
          destinations: [{ kafka: { topic: 'outbox.${aggregateType}' } }],
          format,
        })),
      }),
    );
    await createTopics(Object.values(types).map((type) => `outbox.${type}`));
    relay = startRelayProcess(relayEnv(db, { OUTBOX_ROUTES: routes, OUTBOX_SCHEMAS_DIR: SCHEMAS }));
    await relay.waitForLog('streaming');
  });
  after(async () => {
    await relay.stop('SIGKILL');
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('keys, headers and values of native, cloudevents and avro messages', async () => {
    const eventsOf = (aggregateType: string): TestEvent[] => [
      {
        aggregateType,
        aggregateId: 'o-1',
        eventType: 'OrderPlaced',
        payload: { orderId: 1, totalCents: 4200, note: 'café' },
        headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      },
      { aggregateType, aggregateId: 'o-2', eventType: 'OrderPlaced', payload: { orderId: 2, totalCents: 5 } },
    ];
    const ids = new Map<string, string[]>();
    for (const type of Object.values(types)) ids.set(type, await commitEvents(db.pool, eventsOf(type)));
    await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0);

    const byId = (records: ConsoleRecord[], idHeader: string, type: string): ConsoleRecord[] =>
      ids.get(type)!.map((id) => {
        const record = records.find((r) => r.headers[idHeader] === id);
        assert.ok(record, `${type}: record ${id} printed`);
        return record;
      });

    const native = byId(await consoleConsume(`outbox.${types.native}`, 2), 'id', types.native);
    for (const [index, event] of eventsOf(types.native).entries()) {
      const { key, headers, value } = native[index]!;
      assert.equal(key, event.aggregateId);
      assert.deepEqual(JSON.parse(value.toString()), event.payload);
      assert.equal(headers['aggregate_type'], types.native);
      assert.equal(headers['aggregate_id'], event.aggregateId);
      assert.equal(headers['event_type'], event.eventType);
      assert.ok(!Number.isNaN(Date.parse(headers['created_at']!)), headers['created_at']);
      assert.equal(headers['traceparent'], event.headers?.['traceparent']);
    }

    const cloudevents = byId(
      await consoleConsume(`outbox.${types.cloudevents}`, 2),
      'ce_id',
      types.cloudevents,
    );
    for (const [index, event] of eventsOf(types.cloudevents).entries()) {
      const { key, headers, value } = cloudevents[index]!;
      assert.equal(key, event.aggregateId);
      assert.deepEqual(JSON.parse(value.toString()), event.payload);
      assert.equal(headers['ce_specversion'], '1.0');
      assert.equal(headers['ce_type'], event.eventType);
      assert.equal(headers['ce_subject'], event.aggregateId);
      assert.equal(headers['ce_source'], `outbox-relay/${db.name}/public.outbox`);
      assert.equal(headers['content-type'], 'application/json');
      assert.equal(headers['traceparent'], event.headers?.['traceparent']);
    }

    const avro = byId(await consoleConsume(`outbox.${types.avro}`, 2), 'id', types.avro);
    const schemas = avroSchemasByFingerprint(SCHEMAS);
    for (const [index, event] of eventsOf(types.avro).entries()) {
      const { key, headers, value } = avro[index]!;
      assert.equal(key, event.aggregateId);
      assert.equal(headers['content-type'], 'avro/binary');
      assert.equal(headers['schema_version'], '2');
      const decoded = decodeAvro(schemas, value);
      assert.equal(decoded.writer, 'OrderPlaced/v2.avsc');
      assert.deepEqual(decoded.value, { note: null, ...(event.payload as object) });
    }
  });
});
