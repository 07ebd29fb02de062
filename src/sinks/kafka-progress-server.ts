// Exactly-once to Kafka, the pure part: which server a progress record speaks for, and what it may
// still cover on the server streamed now. No I/O.
//
// Positions (commit LSNs) and xids mean something only on the server and timeline that produced
// them. A progress record names both (IDENTIFY_SYSTEM's system identifier and timeline), and is
// judged against the server each replication session identifies:
// - Same system, same timeline: the same history. It covers what it says.
// - Same system, a later timeline: a promoted standby (or a point-in-time recovery). The new timeline
//   shares the recorded one's WAL up to the switch point where it forked (the current timeline's
//   history file says where; wal/timeline.ts) and reuses the LSNs above it for other transactions.
//   The record covers only positions below the switch point. Swept rows: a transaction in the list
//   that committed below the switch point was replayed by the standby, so its xid is this history's
//   too and the standby's next xid is past it (never handed out again): it stays. One that committed
//   at or past it never reached the new primary; the promoted standby hands out xids from what it
//   replayed, so the same xid may now name another transaction: it goes.
// - Same system, a switch point not known (no history file, or the recorded timeline is not an
//   ancestor of the current one), or an earlier timeline (a former primary, or a record from a
//   history this server never had): nothing can be told apart, so nothing is covered.
// - Another system (a restore into a new cluster, DATABASE_URL moved): nothing is covered.
// Covering nothing costs duplicates (events since the slot's confirmed position are published
// again), never a loss. A record from before records named their server (no systemId) is taken as
// the current server's, as it always was; the next commit names it.
import { formatLsn } from '../wal/lsn.js';
import type { Lsn } from '../wal/lsn.js';
import type { ServerIdentity, TimelineHistory } from '../wal/timeline.js';
import type { Progress } from './kafka-progress.js';

export type ProgressScope =
  | { readonly kind: 'all' }
  | { readonly kind: 'below'; readonly switchpoint: Lsn }
  | { readonly kind: 'none'; readonly reason: string };

/** True when judging a record of `recorded` on `current` needs the current timeline's history. */
export function needsHistory(recorded: ServerIdentity | undefined, current: ServerIdentity): boolean {
  return (
    recorded !== undefined && recorded.systemId === current.systemId && recorded.timeline < current.timeline
  );
}

/**
 * What a record written while streaming `recorded` may cover on `current`; `history` is the current
 * timeline's history (undefined when it could not be read).
 */
export function progressScope(
  recorded: ServerIdentity | undefined,
  current: ServerIdentity,
  history: TimelineHistory | undefined,
): ProgressScope {
  if (!recorded) return { kind: 'all' };
  const written = `written while streaming system ${recorded.systemId} timeline ${recorded.timeline}`;
  if (recorded.systemId !== current.systemId)
    return { kind: 'none', reason: `${written}, this is system ${current.systemId}` };
  if (recorded.timeline === current.timeline) return { kind: 'all' };
  if (recorded.timeline > current.timeline)
    return {
      kind: 'none',
      reason: `${written}, this server is on the earlier timeline ${current.timeline}`,
    };
  const switchpoint = history?.get(recorded.timeline);
  if (switchpoint === undefined)
    return {
      kind: 'none',
      reason: `${written}, this server is on timeline ${current.timeline} and where it forked from timeline ${recorded.timeline} is not known (${history ? 'not an ancestor in its history' : 'no timeline history'})`,
    };
  return { kind: 'below', switchpoint };
}

export interface JudgedProgress {
  /** What the record covers here, named as the current server's; undefined: nothing. */
  readonly progress: Progress | undefined;
  /** Why the record was set aside or cut; undefined when it covers what it says. */
  readonly warning: string | undefined;
}

/** `progress` as far as it holds on `current` (see the top of this file). */
export function progressOnServer(
  progress: Progress | undefined,
  current: ServerIdentity,
  history: TimelineHistory | undefined,
): JudgedProgress {
  if (!progress) return { progress: undefined, warning: undefined };
  const scope = progressScope(progress.server, current, history);
  const named = { ...progress, server: current };
  if (scope.kind === 'all') return { progress: named, warning: undefined };
  const record = `the progress record (${formatLsn(progress.commitLsn)}#${progress.events})`;
  if (scope.kind === 'none')
    return {
      progress: undefined,
      warning: `${record} was ${scope.reason}: set aside, it covers nothing here (events since the slot's confirmed position are published again)`,
    };
  const cut = cutAt(named, scope.switchpoint);
  if (cut === named) return { progress: named, warning: undefined };
  return {
    progress: cut,
    warning: `${record} was written on timeline ${progress.server!.timeline}, which this server's timeline ${current.timeline} left at ${formatLsn(scope.switchpoint)}: it covers only positions and swept transactions before that point`,
  };
}

/** `progress` without what lies at or past `switchpoint`; the same object when nothing does. */
function cutAt(progress: Progress, switchpoint: Lsn): Progress {
  const positionsCut = progress.commitLsn >= switchpoint;
  const unconfirmed = progress.unconfirmed?.filter((entry) => entry.commitLsn < switchpoint);
  const listCut = unconfirmed !== undefined && unconfirmed.length !== progress.unconfirmed!.length;
  if (!positionsCut && !listCut) return progress;
  // Covers every event committed before the switch point, and none at or past it.
  const positions = positionsCut ? { commitLsn: switchpoint, events: 0 } : {};
  return { ...progress, ...positions, ...(unconfirmed ? { unconfirmed } : {}) };
}
