// What the results were measured on, and how busy the machine was.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { round } from './stats.js';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly postgres: string;
  readonly kafka: string;
  readonly rabbitmq: string;
  /** 1, 5 and 15 minute load averages when the run started. */
  readonly loadAverageAtStart: readonly number[];
}

export function describeMachine(postgresBin: string): Machine {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1)!,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: run(`${postgresBin}/postgres`, ['--version']).replace(/^postgres \(PostgreSQL\) /, ''),
    kafka: process.env.KAFKA_VERSION ?? '4.1.1',
    rabbitmq: rabbitVersion(),
    loadAverageAtStart: os.loadavg().map((value) => round(value, 2)!),
  };
}

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function rabbitVersion(): string {
  // The system installation deploy/local/rabbitmq.sh runs; its package records the version.
  try {
    const status = readFileSync('/var/lib/dpkg/status', 'utf8');
    const entry = /Package: rabbitmq-server\n(?:.+\n)*?Version: (\S+)/.exec(status);
    return entry?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
