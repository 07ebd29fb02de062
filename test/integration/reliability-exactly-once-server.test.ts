// Exactly-once to Kafka: a progress record covers only WAL of the server it was streamed from. A
// record forged before the relay starts stands for one written while streaming another server (a
// failover that lost WAL, a restore into another cluster): one of another system identifier, or of a
// later timeline of this system, whose position lies far ahead (or whose swept-row list names the
// xids of the rows in the table), must make the relay skip nothing: every event is delivered. The
// same record naming this very server still skips what it covers.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { EventCounter, OutboxLoad } from '../support/load.js';
import { deliveryContext, probesOf, waitForOutboxEmpty } from '../support/probes.js';
import { commitEvents, createSlot, forgeProgress, progressSetup } from '../support/progress.js';
import { assertNoProcessLeft, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { adminQuery, createTestDatabase, dropSlotIfExists } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const EVENTS = 600;

interface Identity {
  readonly systemId: string;
  readonly timeline: number;
}

type Forge = (real: Identity) => Identity;
const CASES: readonly { name: string; forge: Forge; skips: boolean }[] = [
  { name: 'another system identifier', forge: (real) => ({ ...real, systemId: '1' }), skips: false },
  {
    name: 'a later timeline of this system',
    forge: (real) => ({ ...real, timeline: real.timeline + 1 }),
    skips: false,
  },
  { name: 'this very server', forge: (real) => real, skips: true },
];

async function serverIdentity(): Promise<Identity> {
  const { rows } = await adminQuery<{ system_id: string; timeline: number }>(
    `select (select system_identifier::text from pg_control_system()) as system_id,
            (select timeline_id from pg_control_checkpoint()) as timeline`,
  );
  return { systemId: rows[0]!.system_id, timeline: Number(rows[0]!.timeline) };
}

/** Whether the relay delivered every event once, or skipped every one (rows completed, none sent). */
async function assertOutcome(
  db: TestDatabase,
  relay: RelayProcess,
  counter: EventCounter,
  load: OutboxLoad,
  skips: boolean,
): Promise<void> {
  const probes = await probesOf(relay);
  if (skips) {
    await waitForOutboxEmpty(db, relay);
    await waitFor('every event counted as skipped', async () => {
      return (await probes.metric('outbox_relay_kafka_events_skipped_total')) === load.committed;
    });
    assert.equal(counter.received, 0, 'nothing sent for events the record covers');
    return;
  }
  await counter.waitForAll(load, undefined, () => deliveryContext(db, relay));
  await waitForOutboxEmpty(db, relay);
  assert.deepEqual(counter.missing(load), [], 'every committed event delivered');
  assert.equal(counter.delivered, load.committed);
  assert.equal(counter.duplicates, 0, 'no event delivered twice');
  assert.equal(await probes.metric('outbox_relay_kafka_events_skipped_total'), 0);
}

describe('exactly-once: a progress record far ahead, streamed events', () => {
  for (const { name, forge, skips } of CASES)
    test(`written while streaming ${name}: ${skips ? 'covers the events' : 'skips no event'}`, async () => {
      const db = await createTestDatabase('eos_server');
      const setup = await progressSetup(db, 'eos_server');
      const { type, counter, env } = setup;
      let relay: RelayProcess | undefined;
      try {
        await createSlot(env);
        await forgeProgress(setup, {
          commitLsn: 'FFFFFF/0',
          events: 0,
          ...forge(await serverIdentity()),
        });
        const load = await commitEvents(db.url, type, EVENTS);
        relay = startRelayProcess(env);
        if (!skips)
          await relay.waitForLog(/^kafka: the progress record \(FFFFFF\/0#0\) was written .*: set aside/);
        await assertOutcome(db, relay, counter, load, skips);
        assert.equal(await relay.stop('SIGTERM'), 0);
      } finally {
        await relay?.stop('SIGKILL');
        await counter.stop();
        await db.drop();
      }
    });
});

describe('exactly-once: a progress record listing the rows, a lost slot swept', () => {
  for (const { name, forge, skips } of CASES)
    test(`written while streaming ${name}: ${skips ? 'covers the rows' : 'skips no row'}`, async () => {
      const db = await createTestDatabase('eos_server_sweep');
      const setup = await progressSetup(db, 'eos_server_sweep');
      const { type, counter, env } = setup;
      let relay: RelayProcess | undefined;
      try {
        await createSlot(env);
        await dropSlotIfExists(db.pool, db.slot);
        const load = await commitEvents(db.url, type, EVENTS);
        // Every row's transaction listed up to its highest seq, before any position of the new slot.
        const { rows } = await db.pool.query<{ xid: string; seq: string }>(
          'select xmin::text as xid, max(seq)::text as seq from outbox group by xmin',
        );
        await forgeProgress(setup, {
          commitLsn: '0/1',
          events: 0,
          unconfirmed: rows.map((row) => [Number(row.xid), Number(row.seq), '0/1']),
          ...forge(await serverIdentity()),
        });
        relay = startRelayProcess(env);
        await relay.waitForLog('slot created');
        await assertOutcome(db, relay, counter, load, skips);
        assert.equal(await relay.stop('SIGTERM'), 0);
      } finally {
        await relay?.stop('SIGKILL');
        await counter.stop();
        await db.drop();
      }
    });
});
