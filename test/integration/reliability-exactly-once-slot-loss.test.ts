// Exactly-once to Kafka across a crash and a lost slot: the relay is SIGKILLed under load while events
// are in Kafka and their rows not yet completed (a trigger makes deletes wait for a lock the test
// holds), the slot is dropped, and the restart sweeps the table. The rows the committed progress
// covers are skipped; a read_committed consumer counts every event: none lost, none twice.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { createTopics } from '../support/kafka.js';
import { EventCounter, OutboxLoad } from '../support/load.js';
import { deliveryContext, waitForOutboxEmpty } from '../support/probes.js';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { adminQuery, createTestDatabase, dropSlotIfExists, uniqueName } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const HOLD_LOCK = 4242;
const HELD = 500;

test('exactly-once: killed with events in Kafka but not completed, then the slot lost: the sweep skips them', async (t) => {
  const db = await createTestDatabase('eos_slotloss');
  const type = uniqueName('eos_slotloss');
  const topic = `outbox.${type}`;
  await createTopics([topic]);
  const counter = await EventCounter.start(topic);
  const env = relayEnv(db, { KAFKA_EXACTLY_ONCE: 'true', OUTBOX_MAX_IN_FLIGHT: '1000' });
  let relay: RelayProcess = startRelayProcess(env);
  let load: OutboxLoad | undefined;
  // Completion waits while the test holds this lock: events reach Kafka, their rows stay.
  await db.pool.query(`create function hold_completion() returns trigger language plpgsql as
    $$ begin perform pg_advisory_xact_lock_shared(${HOLD_LOCK}); return old; end $$`);
  await db.pool.query(`create trigger hold_completion before delete or update on outbox
    for each row execute function hold_completion()`);
  const locker = new pg.Client({ connectionString: db.url });
  await locker.connect();
  try {
    await relay.waitForLog('streaming');
    load = await OutboxLoad.start(db.url, { aggregateType: type, eventsPerSecond: 1_000 });
    await waitFor('delivery under way', () => counter.delivered > 1_000, { timeoutMs: 60_000 });
    await locker.query(`select pg_advisory_lock(${HOLD_LOCK})`);
    const delivered = counter.delivered;
    // The window (1,000) fills with events in Kafka whose rows wait for the lock.
    await waitFor('events in Kafka, not completed', () => counter.delivered > delivered + HELD, {
      timeoutMs: 60_000,
    });
    relay.child.kill('SIGKILL');
    assert.equal(await relay.exited, 'SIGKILL');
    // A crash ends the relay's sessions: the deletes waiting for the locks must not complete later.
    await adminQuery(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = $1 and wait_event_type = 'Lock'`,
      [db.name],
    );
    await locker.query(`select pg_advisory_unlock(${HOLD_LOCK})`);
    const { rows } = await db.pool.query<{ id: string }>('select id from outbox');
    // Rows whose events the consumer already has: at least these are in Kafka.
    const seen = new Set(counter.deliveredIds());
    const inKafka = rows.filter((row) => seen.has(row.id)).length;
    t.diagnostic(`killed: ${rows.length} rows left, ${inKafka} of them already consumed from Kafka`);
    assert.ok(inKafka > 0, 'killed with events in Kafka whose rows were not completed');
    await waitFor('the walsender gone', async () => {
      const { rows: slots } = await db.pool.query(
        'select 1 from pg_replication_slots where slot_name = $1 and active',
        [db.slot],
      );
      return slots.length === 0;
    });
    await dropSlotIfExists(db.pool, db.slot);
    relay = startRelayProcess(env);
    await relay.waitForLog('slot created');
    const skipped = await relay.waitForLog(/the table sweep skipped \d+ rows the committed progress covers/);
    const count = Number(/skipped (\d+) rows/.exec(String(skipped['msg']))![1]);
    t.diagnostic(`the sweep skipped ${count} rows`);
    assert.ok(
      count >= inKafka && count <= rows.length,
      `skipped ${count} of ${rows.length}, ${inKafka} consumed`,
    );
    await load.waitForCommitted(load.committed + 2_000);
    await load.stop();
    await counter.waitForAll(load, undefined, () => deliveryContext(db, relay));
    await waitForOutboxEmpty(db, relay);
    t.diagnostic(
      `${load.committed} committed: ${counter.received} received, ${counter.duplicates} duplicates`,
    );
    assert.deepEqual(counter.missing(load), [], 'every committed event delivered');
    assert.equal(counter.delivered, load.committed);
    assert.equal(counter.duplicates, 0, 'no event delivered twice');
    assert.equal(await relay.stop('SIGTERM'), 0);
  } finally {
    await locker.end().catch(() => undefined);
    await load?.stop();
    await relay.stop('SIGKILL');
    await counter.stop();
    await db.drop();
  }
});
