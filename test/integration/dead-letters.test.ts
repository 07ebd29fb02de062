// `outbox-relay dead-letters list|retry`: parked events are listed and put back into the outbox with
// their ids, in their original outbox order (not the order they were parked in); the relay then
// publishes them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createTopics, TopicReader } from '../support/kafka.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import { QueueReader, withChannel } from '../support/rabbitmq.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

interface Parked {
  id: string;
  aggregateType: string;
  aggregateId: string;
  payload: unknown;
  /** The event's outbox.seq when it was parked; null as on rows parked by older versions. */
  outboxSeq: number | null;
}

interface ListedDeadLetter {
  id: string;
  aggregateType: string;
  aggregateId: string;
  eventType: string;
  payload: unknown;
  headers: Record<string, string>;
  createdAt: string;
  error: string;
  attempts: number;
  destination: string | null;
  outboxSeq: number | null;
}

async function cli(
  db: TestDatabase,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = startRelayProcess({ DATABASE_URL: db.url, ...env }, args);
  const code = await child.exited;
  const lines = child.output.filter((line) => line !== '');
  // startRelayProcess merges the two streams; errors are the lines starting with the program's name.
  return {
    code,
    stdout: lines.filter((line) => !line.startsWith('outbox-relay:')).join('\n'),
    stderr: lines.filter((line) => line.startsWith('outbox-relay:')).join('\n'),
  };
}

/** Parks events as the relay does: one completion batch, one transaction, one dead_lettered_at. */
async function park(db: TestDatabase, events: Omit<Parked, 'id'>[]): Promise<Parked[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    `insert into outbox_dead_letter
       (id, aggregate_type, aggregate_id, event_type, payload, headers, created_at, error, destination, attempts,
        outbox_seq)
     select gen_random_uuid(), t, a, 'Parked', p, '{"traceparent":"tp"}', now() - interval '1 hour',
            'message of 9000 bytes exceeds the 4000-byte limit for topic outbox.' || t, 'kafka:outbox.' || t, 3,
            s
       from unnest($1::text[], $2::text[], $3::jsonb[], $4::bigint[]) with ordinality as e(t, a, p, s, n)
      order by n
     returning id`,
    [
      events.map((event) => event.aggregateType),
      events.map((event) => event.aggregateId),
      events.map((event) => JSON.stringify(event.payload)),
      events.map((event) => event.outboxSeq),
    ],
  );
  return events.map((event, i) => ({ ...event, id: rows[i]!.id }));
}

async function list(
  db: TestDatabase,
  ...args: string[]
): Promise<{ total: number; deadLetters: ListedDeadLetter[] }> {
  const { code, stdout, stderr } = await cli(db, ['dead-letters', 'list', '--json', ...args]);
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout) as { total: number; deadLetters: ListedDeadLetter[] };
}

/** The outbox's rows in insertion (publication) order. */
async function outboxIds(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>('select id from outbox order by seq');
  return rows.map((row) => row.id);
}

describe('outbox-relay dead-letters', () => {
  let db: TestDatabase;
  let dir: string;
  before(async () => {
    db = await createTestDatabase('deadletters');
    dir = mkdtempSync(join(tmpdir(), 'outbox-dead-letters-'));
  });
  after(async () => {
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await db.pool.query('truncate outbox, outbox_dead_letter');
  });

  test('list shows the parked events in their original order, as text and JSON, with a limit', async () => {
    // Parked out of order: a refused event is retried while its successors flow.
    const first = await park(db, [
      { aggregateType: 'order', aggregateId: 'o1', payload: { n: 2 }, outboxSeq: 11 },
      { aggregateType: 'order', aggregateId: 'o1', payload: { n: 3 }, outboxSeq: 12 },
    ]);
    const later = await park(db, [
      { aggregateType: 'order', aggregateId: 'o1', payload: { n: 1 }, outboxSeq: 10 },
    ]);
    const legacy = await park(db, [
      { aggregateType: 'user', aggregateId: 'u1', payload: { n: 0 }, outboxSeq: null },
    ]);

    const all = await list(db);
    assert.equal(all.total, 4);
    assert.deepEqual(
      all.deadLetters.map((entry) => entry.id),
      [...legacy, ...later, ...first].map((event) => event.id),
    );
    const entry = all.deadLetters[1]!;
    assert.equal(entry.aggregateType, 'order');
    assert.equal(entry.eventType, 'Parked');
    assert.deepEqual(entry.payload, { n: 1 });
    assert.deepEqual(entry.headers, { traceparent: 'tp' });
    assert.equal(entry.attempts, 3);
    assert.equal(entry.destination, 'kafka:outbox.order');
    assert.equal(entry.outboxSeq, 10);
    assert.match(entry.error, /exceeds the 4000-byte limit/);

    const limited = await list(db, '--limit', '1');
    assert.equal(limited.total, 4);
    assert.deepEqual(
      limited.deadLetters.map((e) => e.id),
      [legacy[0]!.id],
    );

    const text = await cli(db, ['dead-letters', 'list', '--limit', '2']);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.split('\n');
    assert.match(lines[0]!, /^ID +DEAD-LETTERED AT +ATTEMPTS +AGGREGATE +EVENT TYPE +DESTINATION +ERROR$/);
    assert.match(
      lines[2]!,
      new RegExp(`^${later[0]!.id} .* 3 +order/o1 +Parked +kafka:outbox.order +message of`),
    );
    assert.equal(lines[3], '4 dead letters, the first 2 shown (--limit to see more)');

    await db.pool.query('truncate outbox_dead_letter');
    assert.equal((await cli(db, ['dead-letters', 'list'])).stdout, 'no dead letters');
  });

  test('retry --id moves the named events back with their ids; --all the rest, in original order', async () => {
    const parked = await park(db, [
      { aggregateType: 'order', aggregateId: 'o1', payload: { n: 1 }, outboxSeq: 20 },
      { aggregateType: 'order', aggregateId: 'o1', payload: { n: 2 }, outboxSeq: 21 },
      { aggregateType: 'order', aggregateId: 'o1', payload: { n: 4 }, outboxSeq: 23 },
    ]);
    const earlier = await park(db, [
      { aggregateType: 'order', aggregateId: 'o1', payload: { n: 3 }, outboxSeq: 22 },
    ]);
    const { rows: before } = await db.pool.query<{ id: string; created_at: Date }>(
      'select id, created_at from outbox_dead_letter',
    );

    const one = await cli(db, ['dead-letters', 'retry', '--id', parked[1]!.id]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, `1 dead letter put back into the outbox: ${parked[1]!.id}`);
    assert.deepEqual(await outboxIds(db), [parked[1]!.id]);
    const { rows: moved } = await db.pool.query<{
      aggregate_type: string;
      aggregate_id: string;
      event_type: string;
      payload: unknown;
      headers: unknown;
      created_at: Date;
      processed_at: Date | null;
    }>('select * from outbox where id = $1', [parked[1]!.id]);
    assert.deepEqual(
      { ...moved[0], created_at: moved[0]!.created_at.toISOString(), seq: undefined },
      {
        id: parked[1]!.id,
        aggregate_type: 'order',
        aggregate_id: 'o1',
        event_type: 'Parked',
        payload: { n: 2 },
        headers: { traceparent: 'tp' },
        // The event keeps the time the application wrote it.
        created_at: before.find((row) => row.id === parked[1]!.id)!.created_at.toISOString(),
        processed_at: null,
        seq: undefined,
      },
    );
    assert.equal((await list(db)).total, 3);

    const all = await cli(db, ['dead-letters', 'retry', '--all']);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, '3 dead letters put back into the outbox');
    assert.deepEqual(await outboxIds(db), [parked[1]!.id, parked[0]!.id, earlier[0]!.id, parked[2]!.id]);
    assert.equal((await list(db)).total, 0);
    assert.equal((await cli(db, ['dead-letters', 'retry', '--all'])).stdout, 'no dead letters to retry');
  });

  test('retry in batches keeps the original order across transactions', async () => {
    // 1,200 events parked in a shuffled order: three transactions of at most 500.
    const seqs = Array.from({ length: 1_200 }, (_, i) => (i * 7919) % 1_200);
    const parked = await park(
      db,
      seqs.map((outboxSeq) => ({
        aggregateType: 'order',
        aggregateId: `o${outboxSeq % 7}`,
        payload: {},
        outboxSeq,
      })),
    );
    const all = await cli(db, ['dead-letters', 'retry', '--all']);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(
      await outboxIds(db),
      [...parked].sort((x, y) => x.outboxSeq! - y.outboxSeq!).map((event) => event.id),
    );
  });

  test('an unknown id moves nothing and exits 1 naming it', async () => {
    const parked = await park(db, [{ aggregateType: 'order', aggregateId: 'o1', payload: {}, outboxSeq: 1 }]);
    const unknown = '00000000-0000-4000-8000-000000000000';
    const result = await cli(db, ['dead-letters', 'retry', '--id', parked[0]!.id, '--id', unknown]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `outbox-relay: no dead letter with id ${unknown}: nothing was retried ('outbox-relay dead-letters list' shows them)`,
    );
    assert.equal(await outboxCount(db.pool), 0);
    assert.equal((await list(db)).total, 1);
  });

  test('an id still pending in the outbox is refused with a clear error, its dead letter kept', async () => {
    const parked = await park(db, [{ aggregateType: 'order', aggregateId: 'o1', payload: {}, outboxSeq: 1 }]);
    await db.pool.query(
      `insert into outbox (id, aggregate_type, aggregate_id, event_type, payload) values ($1, 'order', 'o1', 'E', '{}')`,
      [parked[0]!.id],
    );
    const result = await cli(db, ['dead-letters', 'retry', '--all']);
    assert.equal(result.code, 1);
    assert.equal(result.stderr.split('\n').length, 1);
    assert.match(
      result.stderr,
      new RegExp(
        `^outbox-relay: dead letter ${parked[0]!.id} was not retried: public\\.outbox still holds an unpublished event with this id`,
      ),
    );
    assert.equal((await list(db)).total, 1);
  });

  test('in mark mode the finished row of the same id is replaced by a pending one', async () => {
    const parked = await park(db, [
      { aggregateType: 'order', aggregateId: 'o1', payload: { n: 1 }, outboxSeq: 1 },
    ]);
    await db.pool.query(
      `insert into outbox (id, aggregate_type, aggregate_id, event_type, payload, processed_at)
       values ($1, 'order', 'o1', 'Parked', '{"n":1}', now())`,
      [parked[0]!.id],
    );
    const result = await cli(db, ['dead-letters', 'retry', '--id', parked[0]!.id]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await outboxCount(db.pool, 'processed_at is null'), 1);
    assert.equal(await outboxCount(db.pool), 1);
  });

  test('a usage mistake exits 2 with one line', async () => {
    for (const [args, message] of [
      [['dead-letters'], 'dead-letters: expected list or retry'],
      [['dead-letters', 'retry'], 'dead-letters retry: expected --id <uuid> (repeatable) or --all'],
      [['dead-letters', 'retry', '--id', 'order-1'], '--id: expected an event id (a UUID), not "order-1"'],
      [['dead-letters', 'list', '--limit', 'ten'], '--limit: expected a positive integer'],
      [['dead-letters', 'list', '--id', 'x'], 'unknown option --id for dead-letters list'],
    ] as const) {
      const result = await cli(db, [...args]);
      assert.equal(result.code, 2, args.join(' '));
      assert.equal(result.stderr, `outbox-relay: ${message}`);
    }
  });

  test('an event too large for Kafka is parked by the relay, retried, and delivered with its id', async () => {
    const type = uniqueName('toolarge');
    const topic = `outbox.${type}`;
    await createTopics([topic], 1);
    const reader = await TopicReader.start([topic]);
    const env = relayEnv(db);
    let relay: RelayProcess = startRelayProcess({
      ...env,
      KAFKA_MAX_MESSAGE_BYTES: '4000',
      OUTBOX_MAX_ATTEMPTS: '1',
    });
    try {
      await relay.waitForLog('streaming');
      const [small, large] = await commitEvents(db.pool, [
        { aggregateType: type, aggregateId: 'k', eventType: 'E', payload: { n: 1 } },
        { aggregateType: type, aggregateId: 'k', eventType: 'E', payload: { n: 2, pad: 'x'.repeat(10_000) } },
      ]);
      await waitFor('the large event parked', async () => (await list(db)).total === 1, {
        timeoutMs: 60_000,
      });
      const [parked] = (await list(db)).deadLetters;
      assert.equal(parked!.id, large);
      assert.match(parked!.error, /exceeds the 4000-byte limit/);
      assert.equal(typeof parked!.outboxSeq, 'number');
      await reader.waitForCount(1);
      assert.deepEqual(reader.ids(), [small]);

      // The operator raises the limit, restarts the relay and retries.
      assert.equal(await relay.stop('SIGTERM'), 0);
      relay = startRelayProcess(env);
      await relay.waitForLog('streaming');
      const retried = await cli(db, ['dead-letters', 'retry', '--all']);
      assert.equal(retried.code, 0, retried.stderr);

      await reader.waitForCount(2);
      assert.deepEqual(reader.ids(), [small, large]);
      assert.equal((JSON.parse(reader.messages[1]!.value) as { n: number }).n, 2);
      await waitFor('the retried row completed', async () => (await outboxCount(db.pool)) === 0);
      assert.equal((await list(db)).total, 0);
    } finally {
      await reader.stop();
      await relay.stop('SIGTERM');
    }
  });

  test('one aggregate parked out of order (RabbitMQ exchange without a queue) comes back in commit order', async () => {
    const type = uniqueName('unbound');
    const exchange = uniqueName('dl_exchange');
    const routes = join(dir, `${type}.yaml`);
    writeFileSync(
      routes,
      `routes:\n  - aggregateType: ${type}\n    destinations:\n` +
        `      - rabbitmq: { exchange: ${exchange}, routingKey: k, assert: true, type: topic }\n`,
    );
    const relay = startRelayProcess(
      relayEnv(db, { OUTBOX_ROUTES: routes, OUTBOX_MAX_ATTEMPTS: '2' }, 'rabbitmq'),
    );
    let reader: QueueReader | undefined;
    try {
      await relay.waitForLog('streaming');
      const committed: string[] = [];
      for (let n = 0; n < 6; n++) {
        committed.push(
          ...(await commitEvents(db.pool, [
            { aggregateType: type, aggregateId: 'k', eventType: 'E', payload: { n } },
          ])),
        );
      }
      await waitFor('all six parked', async () => (await list(db)).total === 6, { timeoutMs: 120_000 });
      assert.deepEqual(
        (await list(db)).deadLetters.map((entry) => entry.id),
        committed,
      );

      reader = await QueueReader.start([{ exchange, routingKey: '#' }]);
      const retried = await cli(db, ['dead-letters', 'retry', '--all']);
      assert.equal(retried.code, 0, retried.stderr);
      await reader.waitForCount(6);
      assert.deepEqual(reader.ids(), committed);
      await waitFor('the retried rows completed', async () => (await outboxCount(db.pool)) === 0);
      assert.equal((await list(db)).total, 0);
    } finally {
      await reader?.stop();
      await relay.stop('SIGTERM');
      await withChannel((channel) => channel.deleteExchange(exchange)).catch(() => undefined);
    }
  });
});
