// Why a replication slot can no longer stream, and how often the relay may recreate one. Pure.
//
// PostgreSQL 17+ names the reason in pg_replication_slots.invalidation_reason: wal_removed (past
// max_slot_wal_keep_size), rows_removed (catalog rows it needed were vacuumed), wal_level_insufficient,
// and from 18 idle_timeout (idle_replication_slot_timeout). Before 17 only wal_status = 'lost' tells,
// which is wal_removed. Each is recovered the same way (drop, recreate with a snapshot, sweep the
// table: sweep.ts), but a slot invalidated again and again means a setting is wrong (a WAL bound too
// small, a timeout too short): after OUTBOX_SLOT_MAX_RECREATIONS_PER_HOUR the relay stops and says so.

export interface SlotValidity {
  readonly invalidationReason: string | null;
  readonly walStatus: string | null;
  readonly confirmedFlushLsn: string | null;
}

/** The reason the slot cannot stream, or undefined while it can. */
export function invalidationOf(slot: SlotValidity): string | undefined {
  if (slot.invalidationReason) return slot.invalidationReason;
  if (slot.walStatus === 'lost') return 'wal_removed';
  // A logical slot without a confirmed position never finished its creation.
  if (slot.confirmedFlushLsn === null) return 'unconfirmed';
  return undefined;
}

const HOUR_MS = 3_600_000;

/** Recreations of invalidated slots in the last hour, at most `perHour`; owned by the relay. */
export class RecreationBudget {
  private readonly times: number[] = [];

  constructor(private readonly perHour: number) {}

  /** Records a recreation at `now`; false (and nothing recorded) when the hour's budget is spent. */
  take(now: number): boolean {
    while (this.times.length > 0 && this.times[0]! <= now - HOUR_MS) this.times.shift();
    if (this.times.length >= this.perHour) return false;
    this.times.push(now);
    return true;
  }
}

/** The relay must stop: no retry helps (replication.ts lets it through). */
export class SlotRecreationLimitError extends Error {
  override name = 'SlotRecreationLimitError';
  constructor(slot: string, reason: string, perHour: number) {
    super(
      `replication slot ${slot} was invalidated (${reason}) more than OUTBOX_SLOT_MAX_RECREATIONS_PER_HOUR=${perHour} ` +
        `times in an hour: fix the cause (max_slot_wal_keep_size, idle_replication_slot_timeout) and restart`,
    );
  }
}
