// The decoding ceiling: pg_recvlogical streaming the same WAL range through pgoutput (proto 1, our
// publication) to /dev/null, i.e. how fast PostgreSQL hands out the changes at all.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { PG_PORT } from '../test/kit/services.js';

/** The newest PostgreSQL installation's bin directory (as deploy/local/postgres.sh picks it). */
export function postgresBin(): string {
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(a) - Number(b));
  const newest = versions[versions.length - 1];
  if (!newest) throw new Error('no PostgreSQL installation under /usr/lib/postgresql');
  return `/usr/lib/postgresql/${newest}/bin`;
}

export interface RecvLogical {
  readonly pid: number;
  /** Resolves when pg_recvlogical reached endpos and exited 0. */
  readonly done: Promise<void>;
}

/** Streams `slot` (created beforehand, before the events) up to `endLsn`, discarding the output. */
export function startRecvLogical(
  database: string,
  slot: string,
  endLsn: string,
  publication: string,
): RecvLogical {
  const child = spawn(
    `${postgresBin()}/pg_recvlogical`,
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(PG_PORT),
      '-U',
      'postgres',
      '-d',
      database,
      '--slot',
      slot,
      '--start',
      '--endpos',
      endLsn,
      '--no-loop',
      '-o',
      'proto_version=1',
      '-o',
      `publication_names=${publication}`,
      '-f',
      '/dev/null',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = once(child, 'exit').then(([code]) => {
    if (code !== 0) throw new Error(`pg_recvlogical exited with ${String(code)}: ${stderr.trim()}`);
  });
  return { pid: child.pid!, done };
}
