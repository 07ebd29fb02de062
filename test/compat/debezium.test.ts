// outbox-relay's `debezium` format against real Debezium, on the same rows: Kafka Connect standalone
// with the Debezium PostgreSQL connector and its Outbox Event Router (deploy/local/debezium.sh) and
// one relay per scenario each stream the rows of debezium-rows.ts from their own slot into Kafka;
// every record's key, value, headers, partition and topic name are compared as raw bytes.
//
// Keeping the two outputs apart: each side writes behind a topic prefix of its own
// (Debezium's route.topic.replacement `<run>_dbz_<scenario>.outbox.event.${routedByValue}`, the
// relay's route topic `<run>_relay_<scenario>.outbox.event.${aggregateType}`), and the names are
// compared after that prefix. The comparison stays fair: the replacement only renames the topic
// (the router computes key, value and headers before it), the envelope's schema name comes from
// the connector's topic.prefix, which the relay is given as its topicPrefix option, and both sides
// write to topics created with the same partition count, so equal key bytes must land on equal
// partitions. Debezium 3's own context headers (__debezium.context.*, naming its task's run) are
// checked to be exactly those and left out of the comparison.
//
// Run by `npm run test:debezium-compat` and by .ci/run (about a minute: the JVM starts in ~15 s).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';
import { outboxTopic, RawReader, startDebezium } from './debezium-harness.js';
import type { DebeziumRun, RawRecord } from './debezium-harness.js';
import { insertRows, relayFormatOptions, ROW_SETS, SCENARIOS } from './debezium-rows.js';
import type { RowSet } from './debezium-rows.js';

after(assertNoProcessLeft);

const CONTEXT_HEADERS = [
  '__debezium.context.connectorLogicalName',
  '__debezium.context.taskId',
  '__debezium.context.connectorName',
  '__debezium.context.runId',
];

const idOf = (record: RawRecord) => record.headers.find(([name]) => name === 'id')?.[1].toString('utf8');

describe('the debezium format against Debezium 3.4 on the same rows', () => {
  const run = uniqueName('compat');
  const debeziumPrefix = (scenario: string) => `${run}_dbz_${scenario}`;
  const relayPrefix = (scenario: string) => `${run}_relay_${scenario}`;
  const databases = {} as Record<RowSet, TestDatabase>;
  const relays: RelayProcess[] = [];
  let debezium: DebeziumRun | undefined;
  let reader: RawReader | undefined;

  before(async () => {
    for (const set of Object.keys(ROW_SETS) as RowSet[])
      databases[set] = await createTestDatabase(`dbz${set}`);
    const topics = SCENARIOS.flatMap((scenario) =>
      [...new Set(ROW_SETS[scenario.rows].map((row) => row.aggregateType))].flatMap((type) => [
        outboxTopic(debeziumPrefix(scenario.name), type),
        outboxTopic(relayPrefix(scenario.name), type),
      ]),
    );
    reader = await RawReader.start(topics);
    debezium = await startDebezium(
      SCENARIOS.map((scenario) => ({
        name: scenario.name,
        topicPrefix: debeziumPrefix(scenario.name),
        database: databases[scenario.rows],
        router: scenario.router,
      })),
    );
    const dir = mkdtempSync(`${tmpdir()}/debezium-compat-`);
    for (const scenario of SCENARIOS) {
      const routes = `${dir}/${scenario.name}.json`;
      writeFileSync(
        routes,
        JSON.stringify({
          routes: [
            {
              aggregateType: '*',
              format: { debezium: relayFormatOptions(scenario.router, `dbz_${scenario.name}`) },
              destinations: [
                { kafka: { topic: outboxTopic(relayPrefix(scenario.name), '${aggregateType}') } },
              ],
            },
          ],
        }),
      );
      const db = databases[scenario.rows];
      const relay = startRelayProcess(
        relayEnv(db, { OUTBOX_ROUTES: routes, OUTBOX_SLOT: `${db.slot}_${scenario.name}` }),
      );
      relays.push(relay);
    }
    for (const relay of relays) await relay.waitForLog('streaming', 120_000);
  });

  after(async () => {
    for (const relay of relays) await relay.stop('SIGKILL');
    await reader?.stop();
    await debezium?.stop();
    for (const db of Object.values(databases)) await db.drop();
  });

  test('key, value, headers, partition and topic name are the same bytes for every row', async () => {
    for (const set of Object.keys(ROW_SETS) as RowSet[]) await insertRows(databases[set].pool, ROW_SETS[set]);
    const expected = SCENARIOS.reduce((sum, scenario) => sum + 2 * ROW_SETS[scenario.rows].length, 0);
    const records = await reader!.waitFor(expected, 'from Debezium and the relays');
    assert.equal(records.length, expected, 'no record twice');

    for (const scenario of SCENARIOS) {
      const side = (prefix: string) =>
        new Map(
          records
            .filter((record) => record.topic.startsWith(`${prefix}.`))
            .map((record) => [idOf(record), record]),
        );
      const fromDebezium = side(debeziumPrefix(scenario.name));
      const fromRelay = side(relayPrefix(scenario.name));
      assert.equal(fromDebezium.size, ROW_SETS[scenario.rows].length, `${scenario.name}: Debezium's records`);
      assert.deepEqual(
        [...fromRelay.keys()].sort(),
        [...fromDebezium.keys()].sort(),
        `${scenario.name}: same events`,
      );
      for (const [id, theirs] of fromDebezium) {
        const ours = fromRelay.get(id)!;
        const what = `${scenario.name}, event ${id}`;
        assert.ok(theirs.key !== null && theirs.value !== null, `${what}: Debezium wrote a key and a value`);
        assert.deepEqual(ours.key, theirs.key, `${what}: key`);
        assert.deepEqual(ours.value, theirs.value, `${what}: value`);
        assert.deepEqual(
          theirs.headers.filter(([name]) => name.startsWith('__debezium.context.')).map(([name]) => name),
          CONTEXT_HEADERS,
          `${what}: Debezium's context headers`,
        );
        assert.deepEqual(
          ours.headers,
          theirs.headers.filter(([name]) => !name.startsWith('__debezium.context.')),
          `${what}: headers`,
        );
        assert.equal(ours.partition, theirs.partition, `${what}: partition`);
        assert.equal(
          ours.topic.slice(relayPrefix(scenario.name).length),
          theirs.topic.slice(debeziumPrefix(scenario.name).length),
          `${what}: topic`,
        );
      }
    }
  });
});

// The switch docs/migrating-from-debezium.md describes: Debezium stops gracefully, events keep
// being committed, and the relay starts on Debezium's slot. The slot's confirmed position can stand
// behind what Debezium published (it confirms what its offsets held at their last flush), so the
// relay publishes Debezium's last transactions once more, with the same bytes, as Debezium itself
// would on a restart from its slot; nothing committed after them is lost or published twice.
describe("switching from Debezium to the relay on Debezium's slot", () => {
  const run = uniqueName('switch');
  const debeziumPrefix = `${run}_dbz`;
  const relayPrefix = `${run}_relay`;
  const row = (eventType: string) => ({
    aggregateType: 'order',
    aggregateId: 'o-1',
    eventType,
    payload: `{"step": "${eventType}"}`,
  });
  let db: TestDatabase;
  let debezium: DebeziumRun | undefined;
  let reader: RawReader | undefined;
  let relay: RelayProcess | undefined;

  before(async () => {
    db = await createTestDatabase('dbzswitch');
    reader = await RawReader.start([outboxTopic(debeziumPrefix, 'order'), outboxTopic(relayPrefix, 'order')]);
    debezium = await startDebezium([
      { name: 'switch', topicPrefix: debeziumPrefix, database: db, router: {} },
    ]);
  });

  after(async () => {
    await relay?.stop('SIGKILL');
    await reader?.stop();
    await debezium?.stop();
    await db.drop();
  });

  test("nothing is lost, and only Debezium's last transactions come again, with the same bytes", async () => {
    const from = (prefix: string) =>
      reader!.records.filter((record) => record.topic.startsWith(`${prefix}.`));

    // One aggregate, one partition: the relay publishes in commit order.
    for (const step of ['a1', 'a2', 'a3']) await insertRows(db.pool, [row(step)]);
    await reader!.waitFor(3, "Debezium's events");
    await debezium!.stopConnect();
    for (const step of ['b1', 'b2']) await insertRows(db.pool, [row(step)]);

    const routes = `${mkdtempSync(`${tmpdir()}/debezium-switch-`)}/routes.json`;
    writeFileSync(
      routes,
      JSON.stringify({
        routes: [
          {
            aggregateType: '*',
            format: 'debezium',
            destinations: [{ kafka: { topic: outboxTopic(relayPrefix, '${aggregateType}') } }],
          },
        ],
      }),
    );
    // The ids before the relay completes (deletes) its rows.
    const { rows } = await db.pool.query<{ id: string }>('select id::text from outbox order by seq');
    const ids = rows.map(({ id }) => id);
    relay = startRelayProcess(
      relayEnv(db, { OUTBOX_ROUTES: routes, OUTBOX_SLOT: debezium!.slots.get('switch')! }),
    );
    await relay.waitForLog('streaming', 120_000);
    await insertRows(db.pool, [row('c1')]);
    const c1 = (await db.pool.query<{ id: string }>("select id::text from outbox where event_type = 'c1'"))
      .rows[0]!.id;
    await waitFor('the relay publishing c1', () => from(relayPrefix).some((record) => idOf(record) === c1));

    const debeziums = from(debeziumPrefix);
    assert.deepEqual(debeziums.map(idOf), ids.slice(0, 3), 'Debezium published a1, a2, a3');
    const relays = from(relayPrefix);
    const again = relays.filter((record) => ids.slice(0, 3).includes(idOf(record)!));
    assert.deepEqual(
      relays.slice(again.length).map(idOf),
      [...ids.slice(3), c1],
      'the relay published b1, b2, c1 once each, after what came again',
    );
    assert.deepEqual(
      again.map(idOf),
      ids.slice(3 - again.length, 3),
      "what came again is the end of Debezium's sequence, in order",
    );
    for (const ours of again) {
      const theirs = debeziums.find((record) => idOf(record) === idOf(ours))!;
      assert.deepEqual([ours.key, ours.value], [theirs.key, theirs.value], 'with the same bytes');
    }
  });
});
