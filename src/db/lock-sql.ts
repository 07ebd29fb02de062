// Advisory locks: the leader's (one per slot, held by a session of its own: leader.ts) and the
// migrations' (concurrent `outbox-relay migrate` runs queue on it: migrate.ts).
import { statement } from './database.js';
import type { Statement } from './database.js';

export function tryLeaderLock(slot: string): Statement<{ locked: boolean }> {
  return statement(`select pg_try_advisory_lock(hashtextextended('outbox-relay:' || $1, 0)) as locked`, [
    slot,
  ]);
}

export function migrationLock(): Statement {
  return statement(`select pg_advisory_lock(hashtextextended('outbox-relay:migrate', 0))`);
}
