// The heartbeat: a non-transactional logical message that moves the WAL forward, so the walsender
// has a new position to report even when nothing else is written. pgoutput forwards logical
// messages only when asked (`messages 'true'`), which the relay does not do; the decoder ignores
// them either way. https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-REPLICATION
import type { Pool } from 'pg';

export const HEARTBEAT_PREFIX = 'outbox-relay-heartbeat';

export async function emitHeartbeat(pool: Pool, slot: string): Promise<void> {
  await pool.query(`select pg_logical_emit_message(false, $1, $2)`, [HEARTBEAT_PREFIX, slot]);
}
