// One relay streams a slot at a time. Instances of the same slot queue on a PostgreSQL advisory lock
// held by a dedicated session: the lock is released the moment the leader's connection ends, which
// is also when its walsender stops, so a standby can take over within a poll interval.
import pg from 'pg';
import { sleep } from '../pipeline/sleep.js';

export interface Leadership {
  /** Aborted when the lock's connection is lost: the instance is no longer the leader. */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export async function acquireLeadership(
  connectionString: string,
  slot: string,
  pollMs: number,
  signal: AbortSignal,
  /** Called at each poll that finds another instance holding the lock; `first` once per call. */
  onWaiting: (first: boolean) => void,
  onUnreachable: () => void,
): Promise<Leadership | undefined> {
  let announced = false;
  while (!signal.aborted) {
    const client = new pg.Client({ connectionString, application_name: `outbox-relay:${slot}:lock` });
    const lost = new AbortController();
    client.on('error', () => lost.abort());
    client.on('end', () => lost.abort());
    try {
      await client.connect();
      for (;;) {
        const { rows } = await client.query<{ locked: boolean }>(
          `select pg_try_advisory_lock(hashtextextended('outbox-relay:' || $1, 0)) as locked`,
          [slot],
        );
        if (rows[0]?.locked) {
          return { lost: lost.signal, release: () => client.end().catch(() => undefined) };
        }
        onWaiting(!announced);
        announced = true;
        await sleep(pollMs, signal);
        if (signal.aborted || lost.signal.aborted) break;
      }
    } catch {
      // The database is unreachable: try again after a pause.
      onUnreachable();
      await sleep(pollMs, signal);
    }
    await client.end().catch(() => undefined);
  }
  return undefined;
}
