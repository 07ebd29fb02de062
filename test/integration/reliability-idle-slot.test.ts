// Idle outbox, busy database: the relay's slot must not pin the WAL other tables write.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertNoProcessLeft, relayEnv, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { createTestDatabase, currentWalLsn, dropSlotIfExists } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

after(assertNoProcessLeft);

const MB = 1024 * 1024;

interface SlotWal {
  /** WAL the slot keeps from being recycled: current position - restart_lsn. */
  retained: number;
  /** WAL written since the relay's last confirmation: current position - confirmed_flush_lsn. */
  unconfirmed: number;
  confirmed: string;
}

async function slotWal(db: TestDatabase, slot: string): Promise<SlotWal> {
  const { rows } = await db.pool.query<{ retained: string; unconfirmed: string; confirmed: string }>(
    `select (pg_current_wal_lsn() - restart_lsn)::bigint::text as retained,
            (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint::text as unconfirmed,
            confirmed_flush_lsn::text as confirmed
       from pg_replication_slots where slot_name = $1`,
    [slot],
  );
  assert.ok(rows[0], `slot ${slot} exists`);
  return {
    retained: Number(rows[0].retained),
    unconfirmed: Number(rows[0].unconfirmed),
    confirmed: rows[0].confirmed,
  };
}

describe('idle outbox, busy database', () => {
  let db: TestDatabase;
  let relay: RelayProcess | undefined;
  const controlSlot = `control_${Date.now()}`;

  before(async () => {
    db = await createTestDatabase('idle');
  });
  after(async () => {
    await relay?.stop('SIGKILL');
    await dropSlotIfExists(db.pool, controlSlot).catch(() => undefined);
    await db.drop();
  });

  test('keepalives alone keep the slot near the head while another table writes 300 MB', async () => {
    // Heartbeats off: this test is about the walsender's own keepalives.
    relay = startRelayProcess(relayEnv(db, { OUTBOX_HEARTBEAT_INTERVAL_MS: '0' }));
    await relay.waitForLog('streaming');
    // A slot nobody reads, created at the same point: it shows what the writes pin when unconfirmed.
    await db.pool.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [controlSlot]);
    await db.pool.query(`create table filler (id bigserial primary key, data text)`);
    // Stored uncompressed, so the WAL carries every byte written.
    await db.pool.query(`alter table filler alter column data set storage external`);

    let largestUnconfirmed = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        largestUnconfirmed = Math.max(largestUnconfirmed, (await slotWal(db, db.slot)).unconfirmed);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const start = await currentWalLsn(db.pool);
    // 30 transactions of 1,000 rows of 10 kB.
    for (let batch = 0; batch < 30; batch++) {
      await db.pool.query(
        `insert into filler (data) select repeat(md5(g::text || $1), 320) from generate_series(1, 1000) g`,
        [String(batch)],
      );
    }
    const { rows: written } = await db.pool.query<{ bytes: string }>(
      `select (pg_current_wal_lsn() - $1::pg_lsn)::bigint::text as bytes`,
      [start],
    );
    const walWritten = Number(written[0]!.bytes);
    assert.ok(walWritten > 300 * MB, `wrote ${walWritten} bytes of WAL`);

    // restart_lsn moves at the next running-transactions record (every 15 s at most, or a
    // checkpoint) once the confirmed position passed it: wait for that.
    const settled = await waitFor(
      'the relay slot to retain less than 16 MB',
      async () => {
        const wal = await slotWal(db, db.slot);
        return wal.retained < 16 * MB ? wal : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    sampling = false;
    await sampler;

    const control = await slotWal(db, controlSlot);
    assert.ok(control.retained >= walWritten, `the unread control slot pins ${control.retained} bytes`);
    assert.ok(settled.unconfirmed < 16 * MB, `unconfirmed ${settled.unconfirmed} bytes at the end`);
    // While the writes ran, the confirmed position trailed by about a transaction, never the lot.
    assert.ok(
      largestUnconfirmed < walWritten / 3,
      `largest unconfirmed WAL while writing: ${largestUnconfirmed} of ${walWritten} bytes`,
    );
    assert.ok(relay.child.exitCode === null, 'the relay is still running');
  });

  test('heartbeats move the confirmed position while the whole database is idle', async () => {
    await relay?.stop('SIGTERM');
    // A test_decoding slot sees the heartbeat messages (pgoutput, without `messages`, does not).
    const witness = `witness_${Date.now()}`;
    await db.pool.query(`select pg_create_logical_replication_slot($1, 'test_decoding')`, [witness]);
    try {
      relay = startRelayProcess(relayEnv(db, { OUTBOX_HEARTBEAT_INTERVAL_MS: '200' }));
      await relay.waitForLog('streaming');
      // Three heartbeats written, then the relay's slot confirmed past the third: it follows them.
      const third = await waitFor(
        'three heartbeat messages in the WAL',
        async () => {
          const { rows } = await db.pool.query<{ lsn: string }>(
            `select lsn::text from pg_logical_slot_peek_changes($1, null, null)
              where data like '%prefix: outbox-relay-heartbeat%' order by lsn`,
            [witness],
          );
          return rows.length >= 3 ? rows[2]!.lsn : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      await waitFor(
        `the relay slot to confirm past heartbeat ${third}`,
        async () => {
          const { rows } = await db.pool.query<{ past: boolean }>(
            `select confirmed_flush_lsn > $2::pg_lsn as past from pg_replication_slots where slot_name = $1`,
            [db.slot, third],
          );
          return rows[0]?.past;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      const { rows } = await db.pool.query<{ count: string }>(`select count(*)::text as count from outbox`);
      assert.equal(rows[0]!.count, '0');
      assert.equal(await relay.stop('SIGTERM'), 0);
      relay = undefined;
    } finally {
      await db.pool.query(`select pg_drop_replication_slot($1)`, [witness]);
    }
  });
});
