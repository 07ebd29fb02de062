// Configuration errors through the CLI: exit status 2, one line on stderr naming the field, no secret.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function cli(
  env: Record<string, string>,
  args = ['run'],
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('outbox-relay with bad configuration', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    [
      'no DATABASE_URL',
      { KAFKA_BROKERS: 'k:9092' },
      /^outbox-relay: configuration error: DATABASE_URL: required/,
    ],
    [
      'a broker list without ports',
      { DATABASE_URL: 'postgres://relay:Pa55word@db/app', KAFKA_BROKERS: 'kafka' },
      /^outbox-relay: configuration error: KAFKA_BROKERS: expected a comma-separated list of host:port$/,
    ],
    [
      'a CA file that does not exist',
      {
        DATABASE_URL: 'postgres://relay:Pa55word@db/app',
        KAFKA_BROKERS: 'k:9092',
        PGSSLROOTCERT: '/nonexistent/ca.pem',
      },
      /^outbox-relay: configuration error: PGSSLROOTCERT: expected the path of an existing file$/,
    ],
    [
      'a SASL password without a mechanism',
      {
        DATABASE_URL: 'postgres://relay@db/app',
        KAFKA_BROKERS: 'k:9092',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'Pa55word',
      },
      /^outbox-relay: configuration error: KAFKA_SASL_MECHANISM: required/,
    ],
  ];
  for (const [name, env, expected] of cases) {
    test(`exits 2 naming the field for ${name}`, () => {
      const { status, stdout, stderr } = cli(env);
      assert.equal(status, 2);
      assert.equal(stdout, '');
      assert.match(stderr.trimEnd(), expected);
      assert.equal(stderr.trimEnd().split('\n').length, 1, 'one line');
      assert.ok(!stderr.includes('Pa55word'), 'no password');
    });
  }
});
