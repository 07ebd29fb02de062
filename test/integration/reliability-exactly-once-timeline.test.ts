// Exactly-once to Kafka across a failover that lost WAL, with a real second timeline. A server of its
// own (the version's binaries, port OUTBOX_PG_PORT + 73): the relay creates its slot and stops, the
// server is stopped and its data directory copied (the standby as it was then), the original
// commits events the relay publishes (the progress record moves past them, on timeline 1), then the
// copy is started at the same address and promoted: timeline 2, forked where the copy's WAL ended.
// The events it commits reuse the LSNs of the lost ones. The relay, restarted, must cut its record
// at the switch point (read from TIMELINE_HISTORY) and deliver every new event once.
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { migrateDatabase } from '../../src/index.js';
import { createTopics } from '../support/kafka.js';
import { EventCounter } from '../support/load.js';
import { deliveryContext } from '../support/probes.js';
import { commitEvents, createSlot, progressSetup } from '../support/progress.js';
import type { ProgressSetup } from '../support/progress.js';
import { runToExit } from '../support/processes.js';
import { assertNoProcessLeft, startRelayProcess } from '../kit/relay.js';
import type { RelayProcess } from '../kit/relay.js';
import { adminQuery, PG_PORT, uniqueName } from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';

after(assertNoProcessLeft);

const exec = promisify(execFile);
const EVENTS = 600;
const PORT = PG_PORT + 73;
const RUN_DIR = process.env.OUTBOX_RELAY_RUN_DIR ?? '/var/tmp/outbox-relay';

async function queryAt<Row extends pg.QueryResultRow>(url: string, text: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(text)).rows;
  } finally {
    await client.end();
  }
}

/** A server of this test's own, built with the binaries of the test cluster's version. */
async function ownServer(root: string) {
  const [{ setting: bin }] = (
    await adminQuery<{ setting: string }>(`select setting from pg_config where name = 'BINDIR'`)
  ).rows as [{ setting: string }];
  const lib = join(dirname(bin), 'lib');
  const asOwner = (command: string, args: string[]): Promise<void> =>
    process.getuid?.() === 0
      ? runToExit('runuser', ['-u', 'postgres', '--', join(bin, command), ...args], lib)
      : runToExit(join(bin, command), args, lib);
  const pgCtl = (dataDir: string, ...args: string[]) =>
    asOwner('pg_ctl', ['-D', dataDir, '-l', `${dataDir}.log`, '-w', '-t', '60', ...args]);
  const primary = join(root, 'primary');
  const copy = join(root, 'copy');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  if (process.getuid?.() === 0) await exec('chown', ['postgres:', root]);
  await asOwner('initdb', [
    '-D',
    primary,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
  ]);
  appendFileSync(
    join(primary, 'postgresql.conf'),
    `\nlisten_addresses = '127.0.0.1'\nport = ${PORT}\nunix_socket_directories = '${root}'\nwal_level = logical\nfsync = off\n`,
  );
  return {
    primary,
    copy,
    url: `postgres://postgres@127.0.0.1:${PORT}/app`,
    start: (dataDir: string) => pgCtl(dataDir, 'start'),
    stop: (dataDir: string) => pgCtl(dataDir, '-m', 'fast', 'stop'),
    promote: (dataDir: string) => pgCtl(dataDir, 'promote'),
    async copyStopped(): Promise<void> {
      cpSync(primary, copy, { recursive: true });
      rmSync(join(copy, 'postmaster.opts'), { force: true });
      // A standby with nothing to stream from: it replays its own WAL, then waits to be promoted.
      writeFileSync(join(copy, 'standby.signal'), '');
      if (process.getuid?.() === 0) await exec('chown', ['-R', 'postgres:', copy]);
    },
    async destroy(): Promise<void> {
      for (const dataDir of [primary, copy])
        if (existsSync(join(dataDir, 'postmaster.pid')))
          await pgCtl(dataDir, '-m', 'immediate', 'stop').catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

test('exactly-once: after a failover that lost WAL, the record is cut at the switch point and no new event is skipped', async (t) => {
  const server = await ownServer(join(RUN_DIR, uniqueName('eos-timeline')));
  const db = { url: server.url, slot: 'outbox_relay' } as TestDatabase;
  let before: ProgressSetup | undefined;
  let afterwards: { type: string; counter: EventCounter } | undefined;
  let relay: RelayProcess | undefined;
  try {
    await server.start(server.primary);
    await queryAt(`postgres://postgres@127.0.0.1:${PORT}/postgres`, 'create database app');
    await migrateDatabase(server.url);
    before = await progressSetup(db, 'eos_tl_lost');
    // The new timeline's events go to a topic of their own (aggregate type -> topic).
    const type = uniqueName('eos_tl_new');
    await createTopics([`outbox.${type}`]);
    afterwards = { type, counter: await EventCounter.start(`outbox.${type}`) };
    const { env } = before;
    await createSlot(env);
    await server.stop(server.primary);
    await server.copyStopped();
    // The old primary goes on: its events reach Kafka, the record moves past them on timeline 1.
    await server.start(server.primary);
    const lost = await commitEvents(server.url, before.type, EVENTS);
    relay = startRelayProcess(env);
    await before.counter.waitForAll(lost, undefined, () => deliveryContext(db, relay));
    assert.equal(await relay.stop('SIGTERM'), 0);
    const [{ lsn: oldEnd } = { lsn: '?' }] = await queryAt<{ lsn: string }>(
      server.url,
      'select pg_current_wal_lsn()::text as lsn',
    );
    await server.stop(server.primary);
    // The standby, which never received them, takes over at the same address.
    await server.start(server.copy);
    await server.promote(server.copy);
    const fresh = await commitEvents(server.url, afterwards.type, EVENTS);
    const [now] = await queryAt<{ lsn: string; timeline: number }>(
      server.url,
      'select pg_current_wal_lsn()::text as lsn, (select timeline_id from pg_control_checkpoint()) as timeline',
    );
    t.diagnostic(
      `timeline 1 ended at ${oldEnd}; timeline ${now!.timeline} reused the LSNs up to ${now!.lsn}`,
    );
    relay = startRelayProcess(env);
    const cut = await relay.waitForLog(
      /^kafka: the progress record .* was written on timeline 1, which this server's timeline 2 left at /,
    );
    t.diagnostic(String(cut['msg']));
    await afterwards.counter.waitForAll(fresh, undefined, () => deliveryContext(db, relay));
    assert.deepEqual(afterwards.counter.missing(fresh), [], 'every event of the new timeline delivered');
    assert.equal(afterwards.counter.delivered, fresh.committed);
    assert.equal(afterwards.counter.duplicates, 0, 'no event delivered twice');
    assert.equal(before.counter.duplicates, 0, 'the lost events not published again');
    assert.equal(await relay.stop('SIGTERM'), 0);
  } finally {
    await relay?.stop('SIGKILL');
    await before?.counter.stop();
    await afterwards?.counter.stop();
    await server.destroy();
  }
});
