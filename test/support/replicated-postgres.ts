// A primary and a physical standby of their own, for the failover tests: with logical slot
// synchronisation (PostgreSQL 17+), or without it (`slotSync: false`, 16+: decoding on the standby). Built from the server binaries deploy/local/postgres.sh unpacked for
// OUTBOX_PG_VERSION (the packaged 17 or 18: they have initdb, pg_ctl and postgres, no pg_basebackup),
// on two ports beside the version's own cluster: OUTBOX_PG_PORT + 70 and + 71.
//
// The standby is a cold copy of the primary's data directory (the primary stopped for a moment),
// started with standby.signal, primary_slot_name, hot_standby_feedback (and sync_replication_slots).
// Commits are synchronous to the standby, so a commit the writer saw acknowledged survives a kill of
// the primary: the test counts against those. Each pair lives in its own directory under
// OUTBOX_RELAY_RUN_DIR and is removed by destroy().
import { execFile } from 'node:child_process';
import { childrenOf, portListening, runToExit } from './processes.js';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { migrateDatabase } from '../../src/index.js';
import { PG_PORT } from '../kit/services.js';
import { waitFor } from '../kit/wait.js';

const exec = promisify(execFile);
const RUN_DIR = process.env.OUTBOX_RELAY_RUN_DIR ?? '/var/tmp/outbox-relay';
const DATABASE = 'app';
export const STANDBY_SLOT = 'standby_1';

export interface PostgresNode {
  readonly name: 'primary' | 'standby';
  readonly port: number;
  readonly dataDir: string;
  /** The relay's database on this server. */
  readonly url: string;
  query<Row extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<Row[]>;
}

export interface ReplicatedPostgres {
  readonly version: number;
  readonly primary: PostgresNode;
  readonly standby: PostgresNode;
  /** A clean stop of the primary (`pg_ctl stop -m fast`: the standby receives all its WAL first). */
  stopPrimary(): Promise<void>;
  /** The primary's postmaster and every child of it, SIGKILLed: a crash of its host. */
  killPrimary(): Promise<void>;
  /**
   * Starts the stopped former primary again, as a primary of its own (split brain): its history
   * forked from the promoted standby's. It waits for no standby.
   */
  startFormerPrimary(): Promise<void>;
  /** `pg_ctl promote` on the standby; resolves once it accepts writes. */
  promoteStandby(): Promise<void>;
  /** Stops whatever still runs and removes both data directories. */
  destroy(): Promise<void>;
}

export interface ReplicatedPostgresOptions {
  /** Sets synchronized_standby_slots on the primary (the documented setup for failover slots). */
  readonly synchronizedStandbySlots: boolean;
  /**
   * The standby synchronises the primary's failover slots (sync_replication_slots, 17+); default
   * true. False leaves both settings out, as PostgreSQL 16 must (it has neither).
   */
  readonly slotSync?: boolean;
  /**
   * The servers' major version instead of OUTBOX_PG_VERSION (without slotSync): the system's
   * PostgreSQL (15 here) too, for the refusal of a standby too old to decode.
   */
  readonly version?: number;
}

/** The server binaries deploy/local/postgres.sh unpacked for OUTBOX_PG_VERSION, or the system's. */
function serverOf(version: number): { bin: string; lib: string } {
  const system = `/usr/lib/postgresql/${version}`;
  if (existsSync(join(system, 'bin/initdb'))) return { bin: join(system, 'bin'), lib: join(system, 'lib') };
  const versionDir = join(RUN_DIR, `postgres-${version}`);
  const server = existsSync(versionDir)
    ? readdirSync(versionDir).find((entry) => entry.startsWith('server-'))
    : undefined;
  if (!server)
    throw new Error(
      `no PostgreSQL ${version} build under ${versionDir}: run the test through scripts/test-matrix.sh ${version}`,
    );
  return { bin: join(versionDir, server, 'native/bin'), lib: join(versionDir, server, 'native/lib') };
}

/** OUTBOX_PG_VERSION, which must be `minimum` or later (17 for failover slots, 16 for a standby's decoding). */
export function serverVersion(minimum = 17): number {
  const version = Number(process.env.OUTBOX_PG_VERSION);
  if (!(version >= minimum))
    throw new Error(
      `OUTBOX_PG_VERSION=${process.env.OUTBOX_PG_VERSION ?? ''}: this test needs PostgreSQL ${minimum} or later ` +
        '(scripts/test-matrix.sh runs test/failover for 16 and later)',
    );
  return version;
}

export async function createReplicatedPostgres(
  options: ReplicatedPostgresOptions,
): Promise<ReplicatedPostgres> {
  const slotSync = options.slotSync ?? true;
  const version = options.version ?? serverVersion(slotSync ? 17 : 16);
  const { bin, lib } = serverOf(version);
  const root = join(RUN_DIR, `failover-${version}`);
  // A run that was interrupted (a test timeout) left its servers running: stop them first.
  for (const name of ['primary', 'standby'])
    if (existsSync(join(root, name, 'postmaster.pid')))
      await runToExit(
        process.getuid?.() === 0 ? 'runuser' : join(bin, 'pg_ctl'),
        [
          ...(process.getuid?.() === 0 ? ['-u', 'postgres', '--', join(bin, 'pg_ctl')] : []),
          '-D',
          join(root, name),
          '-m',
          'immediate',
          '-w',
          'stop',
        ],
        lib,
      ).catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  await exec('chown', ['postgres:', root]);
  // initdb, pg_ctl and postgres refuse to run as root.
  const asOwner = (command: string, args: string[]): Promise<void> =>
    process.getuid?.() === 0
      ? runToExit('runuser', ['-u', 'postgres', '--', join(bin, command), ...args], lib)
      : runToExit(join(bin, command), args, lib);
  const node = (name: 'primary' | 'standby', port: number): PostgresNode => {
    const url = `postgres://postgres@127.0.0.1:${port}/${DATABASE}`;
    return {
      name,
      port,
      dataDir: join(root, name),
      url,
      query: (text, values) => queryAt(url, text, values),
    };
  };
  const primary = node('primary', PG_PORT + 70);
  const standby = node('standby', PG_PORT + 71);
  const pgCtl = (target: PostgresNode, ...args: string[]) =>
    asOwner('pg_ctl', ['-D', target.dataDir, '-l', `${target.dataDir}.log`, ...args]);
  const start = (target: PostgresNode) => pgCtl(target, '-w', '-t', '60', 'start');
  const running = (target: PostgresNode) => existsSync(join(target.dataDir, 'postmaster.pid'));

  await asOwner('initdb', [
    '-D',
    primary.dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
  ]);
  appendFileSync(
    join(primary.dataDir, 'postgresql.conf'),
    `
listen_addresses = '127.0.0.1'
port = ${primary.port}
unix_socket_directories = '${root}'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
hot_standby = on
fsync = off
shared_buffers = 64MB
`,
  );
  await start(primary);
  await queryAt(`postgres://postgres@127.0.0.1:${primary.port}/postgres`, `create database ${DATABASE}`);
  await migrateDatabase(primary.url);
  await primary.query(`select pg_create_physical_replication_slot($1)`, [STANDBY_SLOT]);
  // A cold copy: the data directory of a cleanly stopped primary is a consistent base backup.
  await pgCtl(primary, '-m', 'fast', '-w', 'stop');
  cpSync(primary.dataDir, standby.dataDir, { recursive: true });
  await exec('chown', ['-R', 'postgres:', standby.dataDir]);
  rmSync(join(standby.dataDir, 'postmaster.opts'), { force: true });
  appendFileSync(
    join(standby.dataDir, 'postgresql.conf'),
    `
# The standby (later settings win).
port = ${standby.port}
primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres dbname=${DATABASE} application_name=standby1'
primary_slot_name = '${STANDBY_SLOT}'
hot_standby_feedback = on
${slotSync ? 'sync_replication_slots = on' : ''}
`,
  );
  // Only now that the standby exists: commits would wait for it.
  appendFileSync(
    join(primary.dataDir, 'postgresql.conf'),
    `
# Acknowledged commits are on the standby too: a killed primary loses none of them.
synchronous_standby_names = 'standby1'
${slotSync ? `synchronized_standby_slots = '${options.synchronizedStandbySlots ? STANDBY_SLOT : ''}'` : ''}
`,
  );
  writeFileSync(join(standby.dataDir, 'standby.signal'), '');
  await exec('chown', ['postgres:', join(standby.dataDir, 'standby.signal')]);
  await start(primary);
  await start(standby);
  await waitFor(
    'the standby to stream from the primary',
    async () =>
      (
        await primary.query(
          `select 1 from pg_stat_replication where application_name = 'standby1' and state = 'streaming'`,
        )
      ).length === 1,
    { timeoutMs: 60_000, intervalMs: 100 },
  );

  const postmasterPid = (target: PostgresNode): number =>
    Number(readFileSync(join(target.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    version,
    primary,
    standby,
    async stopPrimary() {
      await pgCtl(primary, '-m', 'fast', '-w', 'stop');
    },
    async killPrimary() {
      const pid = postmasterPid(primary);
      const children = childrenOf(pid);
      process.kill(pid, 'SIGKILL');
      for (const child of children) {
        try {
          process.kill(child, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await waitFor('the killed primary to release its port', () => !portListening(primary.port), {
        timeoutMs: 30_000,
      });
    },
    async startFormerPrimary() {
      await pgCtl(
        primary,
        '-w',
        '-t',
        '60',
        '-o',
        `-c synchronous_standby_names=''${slotSync ? " -c synchronized_standby_slots=''" : ''}`,
        'start',
      );
    },
    async promoteStandby() {
      await pgCtl(standby, '-w', '-t', '60', 'promote');
      await waitFor(
        'the promoted standby to accept writes',
        async () => (await standby.query<{ r: boolean }>('select pg_is_in_recovery() as r'))[0]?.r === false,
        { timeoutMs: 60_000, intervalMs: 100 },
      );
    },
    async destroy() {
      for (const target of [standby, primary]) {
        if (running(target)) await pgCtl(target, '-m', 'immediate', '-w', 'stop').catch(() => undefined);
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

async function queryAt<Row extends pg.QueryResultRow>(
  url: string,
  text: string,
  values?: unknown[],
): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(text, values)).rows;
  } finally {
    await client.end();
  }
}
