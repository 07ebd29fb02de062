// What the relay tells every sink about the WAL it streams (each sink takes what it needs: the
// exactly-once Kafka sink uses all four). Sinks without the optional method are skipped.
import type { ServerIdentity, TimelineHistory } from '../wal/timeline.js';
import type { Lsn } from '../wal/lsn.js';
import type { Sink } from './sink.js';

export interface SinkEvents {
  /** A new slot exists, consistent at `consistentLsn`; resolves once every sink took it in. */
  readonly onSlotCreated: (consistentLsn: Lsn) => Promise<void>;
  /** The new slot's sweep begins. */
  readonly onSweepStarting: (consistentLsn: Lsn) => void;
  /** The slot confirmed `lsn`. */
  readonly onConfirm: (lsn: Lsn) => void;
  /** A replication session streams from `identity`; resolves once every sink judged it. */
  readonly onServer: (identity: ServerIdentity) => Promise<void>;
}

export function sinkEvents(
  sinks: Iterable<Sink>,
  timelineHistory: (timeline: number) => Promise<TimelineHistory | undefined>,
): SinkEvents {
  const all = [...sinks];
  return {
    onSlotCreated: async (consistentLsn) => {
      await Promise.all(all.map((sink) => sink.slotCreated?.(consistentLsn) ?? Promise.resolve()));
    },
    onSweepStarting: (consistentLsn) => {
      for (const sink of all) sink.sweepStarting?.(consistentLsn);
    },
    onConfirm: (lsn) => {
      for (const sink of all) sink.walConfirmed?.(lsn);
    },
    onServer: async (identity) => {
      await Promise.all(
        all.map((sink) => sink.serverIdentified?.(identity, timelineHistory) ?? Promise.resolve()),
      );
    },
  };
}
