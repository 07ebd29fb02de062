// The heartbeat: a non-transactional logical message that moves the WAL forward, so the walsender
// has a new position to report even when nothing else is written. pgoutput forwards logical
// messages only when asked (`messages 'true'`), which the relay does not do; the decoder ignores
// them either way. https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-REPLICATION
import { run } from '../db/database.js';
import type { Queryable } from '../db/database.js';
import * as heartbeatSql from '../db/heartbeat-sql.js';

export const HEARTBEAT_PREFIX = 'outbox-relay-heartbeat';

export async function emitHeartbeat(db: Queryable, slot: string): Promise<void> {
  await run(db, heartbeatSql.emitLogicalMessage(HEARTBEAT_PREFIX, slot));
}

/**
 * Emits a heartbeat every `intervalMs` while `streaming()`. The walsender decodes it (pgoutput drops
 * it) and, having caught up, sends a keepalive with its position, which the session confirms when
 * nothing is in flight. So the slot advances even when the database is otherwise idle or only other
 * databases of the cluster write. Returns the function that stops it; 0 ms: no heartbeat.
 */
export function startHeartbeat(
  db: Queryable,
  slot: string,
  intervalMs: number,
  streaming: () => boolean,
  onError: (error: unknown) => void,
): () => void {
  if (intervalMs <= 0) return () => undefined;
  const timer = setInterval(() => {
    // The database is unreachable or read-only: the stream reports the former; nothing to do here.
    if (streaming()) emitHeartbeat(db, slot).catch(onError);
  }, intervalMs);
  return () => clearInterval(timer);
}
