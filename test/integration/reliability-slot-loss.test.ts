// Slot loss: a dropped or lost slot is recreated with an exported snapshot; the rows that snapshot
// shows are published first, then the stream continues from the slot's consistent point. Every event
// arrives exactly once across that boundary, even with writers committing while the slot is made.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTopics, TopicReader } from '../support/kafka.js';
import { probeUrl, sampleValue, scrape } from '../kit/metrics.js';
import { commitEvents, outboxCount } from '../support/outbox.js';
import type { TestEvent } from '../support/outbox.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { adminQuery, createTestDatabase, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

function slotLossEnv(db: TestDatabase): Record<string, string> {
  return relayEnv(db, { OUTBOX_HEARTBEAT_INTERVAL_MS: '0' });
}

function events(type: string, count: number, tag: string): TestEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    aggregateType: type,
    aggregateId: `a${i % 7}`,
    eventType: 'E',
    payload: { tag, i },
  }));
}

/**
 * Commits a marker and waits for it. The topic has one partition written by one producer, so every
 * message published before the marker is already in the reader's hands: a duplicate would show.
 */
async function waitForEverything(
  db: TestDatabase,
  reader: TopicReader,
  type: string,
  expected: readonly string[],
): Promise<void> {
  await waitFor('every committed event', () => expected.every((id) => reader.ids().includes(id)), {
    timeoutMs: 120_000,
    intervalMs: 200,
  });
  const [marker] = await commitEvents(db.pool, events(type, 1, 'marker'));
  await waitFor('the marker', () => reader.ids().includes(marker!), { timeoutMs: 60_000 });
  await waitFor('rows completed', async () => (await outboxCount(db.pool)) === 0, { timeoutMs: 60_000 });
  const received = reader.ids().filter((id) => id !== marker);
  const duplicates = received.filter((id, index) => received.indexOf(id) !== index);
  assert.deepEqual(duplicates, [], 'no event published twice');
  assert.deepEqual([...received].sort(), [...expected].sort(), 'every event published, nothing else');
}

/** Events committed one transaction after another reach the topic in commit order, per aggregate. */
function assertCommitOrderPerAggregate(reader: TopicReader, committedInOrder: readonly string[]): void {
  const position = new Map(committedInOrder.map((id, index) => [id, index]));
  const lastByKey = new Map<string, number>();
  for (const message of reader.messages) {
    const at = position.get(message.headers['id']!);
    if (at === undefined) continue;
    const last = lastByKey.get(message.key) ?? -1;
    assert.ok(at > last, `aggregate ${message.key}: event #${at} arrived after #${last}`);
    lastByKey.set(message.key, at);
  }
  assert.ok(lastByKey.size > 1, 'several aggregates checked');
}

async function slotState(db: TestDatabase): Promise<{ wal_status: string | null } | undefined> {
  const { rows } = await db.pool.query<{ wal_status: string | null }>(
    `select wal_status from pg_replication_slots where slot_name = $1`,
    [db.slot],
  );
  return rows[0];
}

/** Our own cluster only: lets slots keep almost no WAL, writes past it and checkpoints until the slot is lost. */
async function loseSlot(db: TestDatabase): Promise<void> {
  await adminQuery(`alter system set max_slot_wal_keep_size = '1MB'`);
  await adminQuery(`select pg_reload_conf()`);
  try {
    await db.pool.query(`create table if not exists filler (id bigserial primary key, data text)`);
    await db.pool.query(`alter table filler alter column data set storage external`);
    await waitFor(
      'the slot to be lost',
      async () => {
        await db.pool.query(
          `insert into filler (data) select repeat(md5(g::text), 320) from generate_series(1, 2000) g`,
        );
        await adminQuery('checkpoint');
        return (await slotState(db))?.wal_status === 'lost';
      },
      { timeoutMs: 120_000, intervalMs: 10 },
    );
  } finally {
    await adminQuery(`alter system reset max_slot_wal_keep_size`);
    await adminQuery(`select pg_reload_conf()`);
  }
  const { rows } = await adminQuery(`show max_slot_wal_keep_size`);
  assert.equal((rows[0] as { max_slot_wal_keep_size: string }).max_slot_wal_keep_size, '-1');
}

describe('slot loss', () => {
  let db: TestDatabase;
  let relay: RelayProcess | undefined;
  let reader: TopicReader | undefined;

  before(async () => {
    db = await createTestDatabase('slotloss');
  });
  after(async () => {
    await reader?.stop();
    await relay?.stop('SIGKILL');
    await db.drop();
  });

  test('a dropped slot is recreated: pending rows and concurrent commits each arrive once', async () => {
    const type = uniqueName('dropped');
    const topic = `outbox.${type}`;
    await createTopics([topic], 1);
    reader = await TopicReader.start([topic]);
    relay = startRelayProcess(slotLossEnv(db));
    await relay.waitForLog('streaming');
    const delivered = await commitEvents(db.pool, events(type, 20, 'before'));
    await waitFor('first events completed', async () => (await outboxCount(db.pool)) === 0);
    assert.equal(await relay.stop('SIGTERM'), 0);

    // While the relay is down: events pile up, and the slot disappears.
    const pending: string[] = [];
    for (let t = 0; t < 10; t++) pending.push(...(await commitEvents(db.pool, events(type, 30, 'pending'))));
    await db.pool.query(`select pg_drop_replication_slot($1)`, [db.slot]);

    // Writers commit without pause from before the relay starts until well after the slot exists.
    const concurrent: string[] = [];
    let writing = true;
    const writers = Array.from({ length: 3 }, async (_, writer) => {
      for (let t = 0; writing; t++)
        concurrent.push(...(await commitEvents(db.pool, events(type, 3, `w${writer}-${t}`))));
    });
    try {
      relay = startRelayProcess(slotLossEnv(db));
      const created = await relay.waitForLog('slot created');
      await relay.waitForLog('streaming');
      const afterStart = concurrent.length;
      await waitFor('commits after the stream started', () => concurrent.length >= afterStart + 60);
      // Some concurrent commits landed before the consistent point (swept), others after it (streamed).
      assert.ok(Number(created['events']) > pending.length, `swept ${String(created['events'])} rows`);
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    const swept = relay.output.some((line) => line.includes('replication slot missing'));
    assert.ok(swept, 'the relay noticed the missing slot');
    await waitForEverything(db, reader, type, [...delivered, ...pending, ...concurrent]);
    // The pending rows were swept from the table: in insertion order, not created_at/id order.
    assertCommitOrderPerAggregate(reader, [...delivered, ...pending]);
    assert.equal((await slotState(db))?.wal_status, 'reserved');
    assert.equal(await relay.stop('SIGTERM'), 0);
    relay = undefined;
    await reader.stop();
    reader = undefined;
  });

  test('a slot whose WAL was removed (wal_status lost) is dropped and recreated, losing nothing', async () => {
    const type = uniqueName('lost');
    const topic = `outbox.${type}`;
    await createTopics([topic], 1);
    reader = await TopicReader.start([topic]);
    relay = startRelayProcess(slotLossEnv(db));
    await relay.waitForLog('streaming');
    const delivered = await commitEvents(db.pool, events(type, 10, 'before'));
    await waitFor('first events completed', async () => (await outboxCount(db.pool)) === 0);
    assert.equal(await relay.stop('SIGTERM'), 0);

    const pending: string[] = [];
    for (let t = 0; t < 5; t++) pending.push(...(await commitEvents(db.pool, events(type, 20, 'pending'))));
    await loseSlot(db);

    relay = startRelayProcess(slotLossEnv(db));
    const invalidated = await relay.waitForLog('replication slot invalidated: dropping and recreating it');
    // PostgreSQL 17+ names the reason; before, wal_status 'lost' means the same.
    assert.equal(invalidated['reason'], 'wal_removed');
    const { samples } = await scrape(await probeUrl(relay));
    assert.equal(sampleValue(samples, 'outbox_relay_slot_invalidations_total', { reason: 'wal_removed' }), 1);
    const created = await relay.waitForLog('slot created');
    await relay.waitForLog('streaming');
    assert.equal(Number(created['events']), pending.length);
    const later = await commitEvents(db.pool, events(type, 10, 'after'));
    await waitForEverything(db, reader, type, [...delivered, ...pending, ...later]);
    assert.equal((await slotState(db))?.wal_status, 'reserved');
    assert.equal(await relay.stop('SIGTERM'), 0);
    relay = undefined;
  });

  test('a slot invalidated once more than OUTBOX_SLOT_MAX_RECREATIONS_PER_HOUR allows stops the relay, naming the reason', async () => {
    const type = uniqueName('limit');
    relay = startRelayProcess(slotLossEnv(db));
    await relay.waitForLog('streaming');
    assert.equal(await relay.stop('SIGTERM'), 0);
    const pending = await commitEvents(db.pool, events(type, 5, 'pending'));
    await loseSlot(db);
    relay = startRelayProcess({ ...slotLossEnv(db), OUTBOX_SLOT_MAX_RECREATIONS_PER_HOUR: '0' });
    assert.equal(await relay.exited, 1);
    const failed = await relay.waitForLog('relay failed');
    assert.match(
      String((failed['err'] as { message?: string }).message),
      /^replication slot \S+ was invalidated \(wal_removed\) more than OUTBOX_SLOT_MAX_RECREATIONS_PER_HOUR=0 times in an hour/,
    );
    // Nothing dropped, nothing swept: the rows wait for the operator.
    assert.equal((await slotState(db))?.wal_status, 'lost');
    assert.equal(await outboxCount(db.pool, `id = any('{${pending.join(',')}}'::uuid[])`), pending.length);
    relay = undefined;
  });
});
