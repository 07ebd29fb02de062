// Runs the real relay CLI as a child process, so tests can signal and kill it.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { KAFKA_BROKER, RABBITMQ_URL, ROOT } from './services.js';
import type { TestDatabase } from './services.js';
import { waitFor } from './wait.js';

export interface RelayProcess {
  readonly child: ChildProcess;
  readonly output: string[];
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** Waits for a JSON log line whose msg matches. */
  waitForLog(msg: string | RegExp, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Waits for an output line (stdout or stderr) that matches. */
  waitForLine(line: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** How the relay reaches each broker; either alone gives the default route. */
export const BROKER_ENV = {
  kafka: { KAFKA_BROKERS: KAFKA_BROKER },
  rabbitmq: { RABBITMQ_URL },
} as const;

/** The relay's environment: the test's database and slot, one broker (Kafka unless named), `extra` last. */
export function relayEnv(
  db: TestDatabase,
  extra: Record<string, string> = {},
  broker: keyof typeof BROKER_ENV = 'kafka',
): Record<string, string> {
  return { DATABASE_URL: db.url, OUTBOX_SLOT: db.slot, ...BROKER_ENV[broker], ...extra };
}

const LOG_DIR = `${tmpdir()}/outbox-relay-test-logs`;
mkdirSync(LOG_DIR, { recursive: true });

/** The relay as users run it: bin/outbox-relay, which runs the bundled dist/outbox-relay.mjs. */
export function startRelayProcess(env: Record<string, string>, args: string[] = ['run']): RelayProcess {
  assertBuilt();
  return startCommand(`${ROOT}/bin/outbox-relay`, args, env);
}

let built = false;

/** A build older than src/ would test yesterday's relay: `npm test` builds first (scripts/ensure-build.sh). */
function assertBuilt(): void {
  if (built) return;
  const bundle = statSync(`${ROOT}/dist/outbox-relay.mjs`, { throwIfNoEntry: false });
  const sources = readdirSync(`${ROOT}/src`, { recursive: true, encoding: 'utf8' });
  const newest = Math.max(...sources.map((file) => statSync(`${ROOT}/src/${file}`).mtimeMs));
  if (!bundle || bundle.mtimeMs < newest)
    throw new Error(
      'dist/outbox-relay.mjs is missing or older than src/: run `npm run build` (npm test does)',
    );
  built = true;
}

/** Runs a TypeScript file of the repository (e.g. an example) the same way, with only `env` set. */
export function startScript(script: string, args: string[], env: Record<string, string>): RelayProcess {
  return startNode(['--import', 'tsx', script, ...args], env);
}

/** Runs node with `nodeArgs` the same way (the bench: dist/cli.js, after flags such as --cpu-prof). */
export function startNode(nodeArgs: string[], env: Record<string, string>): RelayProcess {
  return startCommand(process.execPath, nodeArgs, env);
}

/** Runs `command` the same way (the bench: bin/outbox-relay, the command users run). */
export function startCommand(command: string, args: string[], env: Record<string, string>): RelayProcess {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', METRICS_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let partial = '';
  // Every process's log is kept on disk too, for reading after a failed run (CI keeps the folder).
  const logFile = `${LOG_DIR}/${new Date().toISOString().replace(/[:.]/g, '-')}-${child.pid ?? 'x'}.log`;
  const collect = (chunk: Buffer): void => {
    appendFileSync(logFile, chunk);
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    output.push(...lines);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = once(child, 'exit').then(([code, signal]) => {
    running.delete(started);
    return (code ?? signal) as number | string;
  });
  const logs = (): Record<string, unknown>[] =>
    output.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const started: RelayProcess = {
    child,
    output,
    exited,
    waitForLog: (msg, timeoutMs = 60_000) =>
      waitFor(
        `relay log ${String(msg)}`,
        () =>
          logs().find((line) =>
            typeof msg === 'string' ? line['msg'] === msg : msg.test(String(line['msg'])),
          ),
        { timeoutMs },
      ),
    waitForLine: (pattern, timeoutMs = 60_000) =>
      waitFor(`output line ${String(pattern)}`, () => output.find((line) => pattern.test(line)), {
        timeoutMs,
      }),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  running.set(started, [command, ...args].join(' '));
  return started;
}

/** The processes started here that have not exited, with their command lines. */
const running = new Map<RelayProcess, string>();

/**
 * For an `after` hook of each file that starts processes: fails when one is still running, i.e. a
 * test leaked it (after killing it, so the file's own process can end).
 */
export async function assertNoProcessLeft(): Promise<void> {
  const left = [...running];
  if (left.length === 0) return;
  await Promise.all(left.map(([process]) => process.stop('SIGKILL')));
  throw new Error(
    `${left.length} process(es) left running by the tests: ` +
      left.map(([process, command]) => `pid ${process.child.pid} (node ${command})`).join(', '),
  );
}
