// bin/outbox-relay, the command package.json and the image install: it must run dist/outbox-relay.mjs with the
// V8 flags of bin/node-flags, pass the arguments on, and be replaced by node (exec), so that the
// process a supervisor signals or kills is the relay itself. Checked on a copy of the launcher whose
// dist/outbox-relay.mjs reports what it was started with (no build needed).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ROOT } from '../kit/services.js';

const dir = mkdtempSync(join(tmpdir(), 'launcher-'));
cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
mkdirSync(join(dir, 'dist'));
writeFileSync(
  join(dir, 'dist', 'outbox-relay.mjs'),
  'process.stdout.write(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, args: process.argv.slice(2) }));\n',
);
// As npm installs a command: a symbolic link to the launcher in another directory.
mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
symlinkSync(join(dir, 'bin', 'outbox-relay'), join(dir, 'node_modules', '.bin', 'outbox-relay'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  readonly pid: number;
  readonly execArgv: string[];
  readonly args: string[];
  readonly launcherPid: number;
}

function launch(args: string[], env: Record<string, string> = {}): Promise<Started> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      join(dir, 'node_modules', '.bin', 'outbox-relay'),
      args,
      { env: { PATH: process.env.PATH ?? '', ...env } },
      (error, stdout) => {
        if (error) reject(new Error(error.message, { cause: error }));
        else resolve({ ...(JSON.parse(stdout) as Omit<Started, 'launcherPid'>), launcherPid: child.pid! });
      },
    );
  });
}

describe('bin/outbox-relay', () => {
  const flags = readFileSync(join(ROOT, 'bin', 'node-flags'), 'utf8')
    .trim()
    .split(/\s+/);

  test('runs dist/outbox-relay.mjs with the flags of bin/node-flags and the arguments as given', async () => {
    assert.ok(flags.includes('--max-semi-space-size=2'), 'the flag bench/README.md measured');
    const started = await launch(['run', '--json', 'two words']);
    assert.deepEqual(started.execArgv, flags);
    assert.deepEqual(started.args, ['run', '--json', 'two words']);
  });

  test('is replaced by node: the relay has the process id its supervisor started', async () => {
    const started = await launch(['status']);
    assert.equal(started.pid, started.launcherPid);
  });

  test('leaves the semi-space size to NODE_OPTIONS when it sets one', async () => {
    const started = await launch(['run'], { NODE_OPTIONS: '--max-semi-space-size=16' });
    assert.deepEqual(started.execArgv, []);
  });

  test('is what package.json installs as the outbox-relay command, with bin/ in the package', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      files: string[];
    };
    assert.equal(manifest.bin['outbox-relay'], 'bin/outbox-relay');
    assert.ok(manifest.files.includes('bin'));
  });
});
