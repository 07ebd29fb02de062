// Which server the relay streams from: IDENTIFY_SYSTEM's system identifier and timeline, compared
// with the last ones this process streamed from. Pure.
//
// - Same cluster, same timeline: the usual reconnect.
// - Same cluster, a later timeline: a standby was promoted (or a point-in-time recovery ran). Its slot,
//   if synchronised (OUTBOX_SLOT_FAILOVER), continues where the old primary's was; if it is missing,
//   the sweep recreates it. Either way the slot and the table belong to that server: safe.
// - Same cluster, an earlier timeline: a former primary, back after a failover (its history forked
//   from the new primary's). Transactions it has past the fork never reached the new primary;
//   publishing them would announce events that did not happen there. Refused: the relay keeps
//   retrying (not ready) until its address leads to the current primary again.
// - Another cluster: DATABASE_URL now leads elsewhere (a restore, a migration). Its slot and its
//   table agree with each other, so it is streamed (or created and swept) like any first start.
import { parseLsn } from './lsn.js';
import type { Lsn } from './lsn.js';

export interface ServerIdentity {
  readonly systemId: string;
  readonly timeline: number;
}

export type ServerVerdict =
  | { readonly kind: 'same' | 'new_timeline' | 'other_cluster'; readonly message: string | undefined }
  | { readonly kind: 'former_primary'; readonly message: string };

export function judgeServer(known: ServerIdentity | undefined, current: ServerIdentity): ServerVerdict {
  if (!known || (known.systemId === current.systemId && known.timeline === current.timeline))
    return { kind: 'same', message: undefined };
  if (known.systemId !== current.systemId)
    return {
      kind: 'other_cluster',
      message: `another database cluster (system identifier ${current.systemId}, was ${known.systemId}): streaming its own slot, or creating it and sweeping the table`,
    };
  if (current.timeline > known.timeline)
    return {
      kind: 'new_timeline',
      message: `timeline ${current.timeline} (was ${known.timeline}): a promoted standby; resuming from its slot, or recreating it and sweeping the table`,
    };
  return {
    kind: 'former_primary',
    message: `refusing to stream from timeline ${current.timeline} of system ${current.systemId}: this relay already streamed from timeline ${known.timeline}, so this server is a former primary whose history forked; point DATABASE_URL at the current primary`,
  };
}

/** The server is a former primary (wal/timeline.ts): retried, logged as an error of its own. */
export class FormerPrimaryError extends Error {
  override name = 'FormerPrimaryError';
}

/** Where each ancestor timeline of a server's timeline ended (its switch point), by timeline. */
export type TimelineHistory = ReadonlyMap<number, Lsn>;

/**
 * Reads a timeline history file (TIMELINE_HISTORY's content): one line per ancestor timeline,
 * "tli<TAB>switchpoint<TAB>reason"; blank lines and '#' comments are skipped.
 * https://www.postgresql.org/docs/current/continuous-archiving.html#BACKUP-TIMELINES
 */
export function parseTimelineHistory(content: string): TimelineHistory {
  const history = new Map<number, Lsn>();
  for (const line of content.split('\n')) {
    const text = line.trim();
    if (text === '' || text.startsWith('#')) continue;
    const [timeline, switchpoint] = text.split(/\s+/);
    if (!timeline || !/^\d+$/.test(timeline) || !switchpoint)
      throw new Error(`not a timeline history line: ${JSON.stringify(line)}`);
    history.set(Number(timeline), parseLsn(switchpoint));
  }
  return history;
}
