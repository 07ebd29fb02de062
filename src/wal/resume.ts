// Where a new session may resume, from the record of the position the relay last confirmed
// (wal/confirmed-position.ts) and the server IDENTIFY_SYSTEM describes. Pure.
//
// PostgreSQL writes a logical slot's confirmed position to disk lazily (at checkpoints, and only when
// the slot is dirty for another reason), so after a crash the slot can be behind what the relay
// confirmed, and it streams again transactions whose events were all delivered and completed. The
// record says how far the relay really got. It may be trusted only on the history it was written on:
// - same cluster, same timeline: transactions whose commit record starts before the recorded LSN were
//   finished (the record is a watermark, wal/../pipeline/watermark.ts): they are skipped. Strictly
//   before, as PostgreSQL itself skips below a slot's confirmed_flush: the recorded LSN is the *end*
//   of a finished transaction, and the next commit record can start exactly there;
// - same cluster, a later timeline (a promoted standby, a point-in-time recovery): the record may be
//   past the fork, on a history this server does not have: nothing skipped;
// - another cluster (a restore into a new cluster): nothing skipped;
// - same cluster, an earlier timeline: a former primary (wal/timeline.ts), refused.
// The record lives in the database it describes, so a restored copy carries its own, older record.
import type { Lsn } from './lsn.js';
import { formatLsn } from './lsn.js';
import { judgeServer } from './timeline.js';
import type { ServerIdentity, ServerVerdict } from './timeline.js';

/** The position the relay last confirmed with every event before it completed, and where. */
export interface ConfirmedPosition extends ServerIdentity {
  readonly lsn: Lsn;
}

export interface ResumePlan {
  /** Against the server this process streamed from; former_primary also when the record says so. */
  readonly verdict: ServerVerdict;
  /** Transactions whose commit LSN is below this are already complete: not published again. */
  readonly skipBelow: Lsn | undefined;
  /** Why a record exists but allows no skip. */
  readonly note: string | undefined;
}

/**
 * `known`: the server this process last streamed from; `recorded`: the record read from the
 * database; `current`: IDENTIFY_SYSTEM's answer now.
 */
export function planResume(
  known: ServerIdentity | undefined,
  recorded: ConfirmedPosition | undefined,
  current: ServerIdentity,
): ResumePlan {
  const byProcess = judgeServer(known, current);
  if (byProcess.kind === 'former_primary')
    return { verdict: byProcess, skipBelow: undefined, note: undefined };
  if (!recorded) return { verdict: byProcess, skipBelow: undefined, note: undefined };
  // The record also refuses a former primary, but only one whose database has a record of a later
  // timeline: a forked former primary's own database never saw the writes made after the fork.
  const byRecord = judgeServer(recorded, current);
  if (byRecord.kind === 'former_primary') return { verdict: byRecord, skipBelow: undefined, note: undefined };
  const verdict = byProcess;
  const at = formatLsn(recorded.lsn);
  switch (byRecord.kind) {
    case 'same':
      return { verdict, skipBelow: recorded.lsn, note: undefined };
    case 'new_timeline':
      return {
        verdict,
        skipBelow: undefined,
        note: `the recorded confirmed position ${at} is on timeline ${recorded.timeline}, the server is on timeline ${current.timeline}: nothing skipped, the slot's own position decides (safe: at worst events are published again)`,
      };
    case 'other_cluster':
      return {
        verdict,
        skipBelow: undefined,
        note: `the recorded confirmed position ${at} is of system ${recorded.systemId}, the server is system ${current.systemId} (a restore?): nothing skipped`,
      };
  }
}
