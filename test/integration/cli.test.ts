// The command line's answers to bad input: exit status 2 and one line naming the problem and the fix.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { assertNoProcessLeft, startRelayProcess } from '../kit/relay.js';
import {
  adminQuery,
  createTestDatabase,
  ensureServices,
  KAFKA_BROKER,
  PG_PORT,
  uniqueName,
} from '../kit/services.js';
import type { TestDatabase } from '../kit/services.js';

after(assertNoProcessLeft);

const run = promisify(execFile);

async function cli(
  env: Record<string, string>,
  args: string[],
): Promise<{ code: number | string; stderr: string }> {
  const relay = startRelayProcess(env, args);
  const code = await relay.exited;
  // startRelayProcess merges stdout and stderr; the error line is the only non-JSON one.
  return { code, stderr: relay.output.filter((line) => line !== '' && !line.startsWith('{')).join('\n') };
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  assert.equal(stderr.split('\n').length, 1, `expected one line, got: ${stderr}`);
  assert.match(stderr, pattern);
}

describe('outbox-relay command line', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('cli');
  });
  after(async () => {
    await db.drop();
  });

  test('run without DATABASE_URL exits 2 naming the variable', async () => {
    const { code, stderr } = await cli({ KAFKA_BROKERS: KAFKA_BROKER }, ['run']);
    assert.equal(code, 2);
    assertOneLine(stderr, /configuration error: DATABASE_URL: required: a PostgreSQL connection string/);
  });

  test('a malformed DATABASE_URL exits 2', async () => {
    const { code, stderr } = await cli({ DATABASE_URL: 'mysql://x@y/z', KAFKA_BROKERS: KAFKA_BROKER }, [
      'run',
    ]);
    assert.equal(code, 2);
    assertOneLine(stderr, /DATABASE_URL: expected a postgres:\/\/ or postgresql:\/\/ connection string/);
  });

  test('run without any broker exits 2 naming KAFKA_BROKERS and RABBITMQ_URL', async () => {
    const { code, stderr } = await cli({ DATABASE_URL: db.url }, ['run']);
    assert.equal(code, 2);
    assertOneLine(stderr, /KAFKA_BROKERS: required \(or RABBITMQ_URL\)/);
  });

  test('a database without the outbox table exits 2 and says to run migrate', async () => {
    const name = uniqueName('bare');
    await adminQuery(`create database ${name}`);
    try {
      const url = `postgres://postgres@127.0.0.1:${PG_PORT}/${name}`;
      const { code, stderr } = await cli({ DATABASE_URL: url, KAFKA_BROKERS: KAFKA_BROKER }, ['run']);
      assert.equal(code, 2);
      assertOneLine(stderr, /table public\.outbox does not exist: run 'outbox-relay migrate'/);
    } finally {
      await adminQuery(`drop database ${name} with (force)`);
    }
  });

  test('migrate is idempotent', async () => {
    for (let i = 0; i < 2; i++) {
      const { code, stderr } = await cli({ DATABASE_URL: db.url }, ['migrate']);
      assert.equal(code, 0, stderr);
    }
  });

  // Each kind of mistake in the routes file stops the relay before it touches the slot.
  const malformedRoutes: [string, string, RegExp][] = [
    [
      'an unknown key',
      'routes:\n  - aggregateType: order\n    destinations: [{ kafka: { topic: t } }]\n    priority: 1\n',
      /routes\[0\] \(aggregateType "order"\): unknown key "priority"$/,
    ],
    [
      'a missing topic',
      'routes:\n  - aggregateType: order\n    destinations: [{ kafka: {} }]\n',
      /destinations\[0\]\.kafka\.topic: required: a topic name$/,
    ],
    [
      'a missing exchange',
      'default: [{ rabbitmq: { routingKey: k } }]\n',
      /default\[0\]\.rabbitmq\.exchange: required: an exchange name$/,
    ],
    [
      'an unknown template field',
      'default: [{ kafka: { topic: "t.${tenant}" } }]\n',
      /default\[0\]\.kafka\.topic: unknown template field \$\{tenant\}/,
    ],
    [
      'an invalid glob',
      'routes:\n  - aggregateType: "order.?"\n    destinations: [{ kafka: { topic: t } }]\n',
      /aggregateType: expected a name or a glob where only \* is special$/,
    ],
    [
      'a broker that is not configured',
      'default: [{ rabbitmq: { exchange: x } }]\n',
      /default\.destinations\[0\]\.rabbitmq: RABBITMQ_URL is not set/,
    ],
    ['a YAML syntax error', 'routes: [\n', /expected YAML or JSON, syntax error on line 2$/],
  ];
  for (const [kind, text, expected] of malformedRoutes) {
    test(`a routes file with ${kind} exits 2 with one line naming the route and field`, async () => {
      const dir = mkdtempSync(`${tmpdir()}/routes-`);
      writeFileSync(`${dir}/routes.yaml`, text);
      const { code, stderr } = await cli(
        { DATABASE_URL: db.url, KAFKA_BROKERS: KAFKA_BROKER, OUTBOX_ROUTES: `${dir}/routes.yaml` },
        ['run'],
      );
      assert.equal(code, 2);
      assertOneLine(stderr, /^outbox-relay: configuration error: OUTBOX_ROUTES: /);
      assert.match(stderr, expected);
    });
  }

  test('a slot of the same name in another database exits 2 naming it', async () => {
    const other = await createTestDatabase('cliother');
    try {
      await other.pool.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [db.slot]);
      const { code, stderr } = await cli(
        { DATABASE_URL: db.url, KAFKA_BROKERS: KAFKA_BROKER, OUTBOX_SLOT: db.slot },
        ['run'],
      );
      assert.equal(code, 2);
      assertOneLine(
        stderr,
        new RegExp(
          `replication slot ${db.slot} belongs to plugin pgoutput in database ${other.name}: choose another OUTBOX_SLOT or drop that slot`,
        ),
      );
    } finally {
      await adminQuery(`select pg_drop_replication_slot($1)`, [db.slot]);
      await other.drop();
    }
  });

  for (const args of [['status'], ['dead-letters', 'list']]) {
    test(`${args.join(' ')} on a database that was never migrated exits 2 and says to run migrate`, async () => {
      const name = uniqueName('bare');
      await adminQuery(`create database ${name}`);
      try {
        const { code, stderr } = await cli(
          { DATABASE_URL: `postgres://postgres@127.0.0.1:${PG_PORT}/${name}` },
          args,
        );
        assert.equal(code, 2);
        assertOneLine(stderr, /does not exist: run 'outbox-relay migrate'$/);
      } finally {
        await adminQuery(`drop database ${name} with (force)`);
      }
    });
  }

  test('an unknown command exits 2', async () => {
    const { code, stderr } = await cli({}, ['publish']);
    assert.equal(code, 2);
    assertOneLine(
      stderr,
      /unknown command "publish" \(expected migrate, run, status, dead-letters or schemas\)/,
    );
  });

  test('a database whose wal_level is not logical exits 2 and says how to fix it', async () => {
    await ensureServices();
    const cluster = await TemporaryCluster.start({ wal_level: 'replica' });
    try {
      const url = `postgres://postgres@127.0.0.1:${cluster.port}/postgres`;
      assert.equal((await cli({ DATABASE_URL: url }, ['migrate'])).code, 0);
      const { code, stderr } = await cli({ DATABASE_URL: url, KAFKA_BROKERS: KAFKA_BROKER }, ['run']);
      assert.equal(code, 2);
      assertOneLine(stderr, /wal_level is replica: set wal_level = logical and restart PostgreSQL/);
    } finally {
      await cluster.stop();
    }
  });
});

/** A throwaway PostgreSQL cluster from the system binaries, with the given settings. */
class TemporaryCluster {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly bin: string,
  ) {}

  static async start(settings: Record<string, string>): Promise<TemporaryCluster> {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    const bin = `/usr/lib/postgresql/${versions[0]}/bin`;
    const dir = mkdtempSync('/var/tmp/outbox-relay-cli-');
    const port = PG_PORT + 100 + Math.floor(Math.random() * 100);
    if (process.getuid?.() === 0) chownSync(dir, systemId('-u', 'postgres'), systemId('-g', 'postgres'));
    const options = Object.entries({ ...settings, port: String(port), listen_addresses: '127.0.0.1' })
      .map(([name, value]) => `-c ${name}=${value}`)
      .join(' ');
    await asOwner(`${bin}/initdb`, ['-D', `${dir}/data`, '-U', 'postgres', '--auth=trust']);
    // -l: without a log file the server would keep pg_ctl's output pipe open.
    await asOwner(`${bin}/pg_ctl`, [
      '-D',
      `${dir}/data`,
      '-l',
      `${dir}/server.log`,
      '-o',
      `${options} -k ${dir}`,
      '-w',
      'start',
    ]);
    return new TemporaryCluster(port, dir, bin);
  }

  async stop(): Promise<void> {
    await asOwner(`${this.bin}/pg_ctl`, ['-D', `${this.dir}/data`, '-m', 'immediate', '-w', 'stop']).catch(
      () => undefined,
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// initdb and postgres refuse to run as root.
async function asOwner(command: string, args: string[]): Promise<void> {
  if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', command, ...args]);
  else await run(command, args);
}

/** The numeric id of a system user or its group (`id -u` / `id -g`). */
function systemId(flag: '-u' | '-g', user: string): number {
  return Number(execFileSync('id', [flag, user]).toString().trim());
}
