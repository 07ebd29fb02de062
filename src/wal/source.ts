// What a replication session needs from its WAL connection (stream.ts is the implementation).
import type { Lsn } from './lsn.js';

export interface WalSource {
  /** Reports `lsn` as written, flushed and applied: PostgreSQL may discard WAL before it. */
  confirm(lsn: Lsn): void;
  /** Stops reading: the walsender blocks on a full socket buffer (backpressure). */
  pause(): void;
  resume(): void;
}
