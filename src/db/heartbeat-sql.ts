// The heartbeat (wal/heartbeat.ts): a non-transactional logical message that moves the WAL forward.
import { statement } from './database.js';
import type { Statement } from './database.js';

export function emitLogicalMessage(prefix: string, content: string): Statement {
  return statement(`select pg_logical_emit_message(false, $1, $2)`, [prefix, content]);
}
