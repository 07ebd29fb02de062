// The slot sweep: before streaming, make sure the slot exists and can stream. A slot that lost its
// WAL, or whose table sweep never finished, is dropped; a missing slot is created with an exported
// snapshot, and the rows that snapshot sees (the events the new slot will never stream) are
// published first. Rows are completed before their LSN is confirmed, so those rows are exactly the
// unfinished events: no gap, and no duplicate at the boundary (see wal/slot.ts).
import type { Config } from './config.js';
import type { Database, Queryable } from './db/database.js';
import type { Logger } from './observability/logger.js';
import type { RelayMetrics } from './observability/metrics.js';
import type { Dispatcher, TransactionOwner } from './pipeline/dispatcher.js';
import { Watermark } from './pipeline/watermark.js';
import type { InFlightWindow } from './pipeline/window.js';
import { rowToEvent } from './wal/decode.js';
import { SlotRecreationLimitError } from './wal/invalidation.js';
import type { RecreationBudget } from './wal/invalidation.js';
import { formatLsn } from './wal/lsn.js';
import type { Lsn } from './wal/lsn.js';
import {
  createSlotWithSnapshot,
  dropSlot,
  markSlotSwept,
  readSlot,
  setSlotFailover,
  slotSwept,
} from './wal/slot.js';

export interface SweepOptions {
  readonly config: Pick<
    Config,
    'slot' | 'slotFailover' | 'slotMaxRecreationsPerHour' | 'table' | 'completion'
  >;
  readonly logger: Logger;
  readonly metrics: Pick<RelayMetrics, 'slotRecreated'>;
  /** Recreations of invalidated slots this hour (the relay's, kept across sessions). */
  readonly recreations: RecreationBudget;
  /** Readiness (/readyz) says why the slot is being recreated, until the stream starts again. */
  readonly state?: { lastError: string | undefined };
  /** Where the slot is (DATABASE_URL): the slot itself, and the sweep's snapshot read. */
  readonly db: Pick<Database, 'query' | 'connectReplication' | 'reserveTextConnection'>;
  /** Where the relay writes (databases.ts): the slot's bookkeeping in outbox_relay_slot; `db` when not given. */
  readonly primary?: Queryable;
  /** Has the primary log its running transactions, which a slot created on a standby waits for. */
  readonly logStandbySnapshot?: () => Promise<void>;
  readonly window: InFlightWindow;
  readonly dispatcher: Pick<Dispatcher, 'dispatch'>;
  /** Resolves when nothing is in flight (or the stop deadline passed). */
  readonly drain: () => Promise<void>;
  /** The relay's stop: an unfinished sweep leaves the slot unmarked, and the next start sweeps again. */
  readonly signal: AbortSignal;
  /** A new slot's sweep begins, the slot's consistent point given. */
  readonly onSweepStarting?: (consistentLsn: Lsn) => void;
  /** The slot was created at this consistent point (the sinks forget positions of the old WAL). */
  readonly onSlotCreated?: (consistentLsn: Lsn) => Promise<void>;
}

/** Returns the slot's confirmed LSN, creating the slot (and sweeping the table) when it is missing. */
export async function ensureSlot(options: SweepOptions): Promise<Lsn> {
  const { config, logger, db, primary = db } = options;
  let slot = await readSlot(db, config.slot);
  if (slot?.lost) {
    // Its WAL (or what decoding it needs) is gone, and so are the events in it: only the table still
    // has them (see slot.ts).
    const reason = slot.invalidation ?? 'unconfirmed';
    if (!options.recreations.take(Date.now()))
      throw new SlotRecreationLimitError(config.slot, reason, config.slotMaxRecreationsPerHour);
    logger.warn({ slot: config.slot, reason }, 'replication slot invalidated: dropping and recreating it');
    options.metrics.slotRecreated(reason);
    if (options.state)
      options.state.lastError = `replication slot invalidated (${reason}): recreating it and sweeping the table`;
    await dropSlot(db, config.slot);
    slot = undefined;
  }
  if (slot && !(await slotSwept(primary, config.slot))) {
    logger.warn({ slot: config.slot }, 'slot was created but its table sweep never finished: recreating it');
    await dropSlot(db, config.slot);
    slot = undefined;
  }
  if (slot) {
    // null: a server without failover slots, where OUTBOX_SLOT_FAILOVER=false is the only choice.
    if (slot.failover !== null && slot.failover !== config.slotFailover) {
      await setSlotFailover(db, config.slot, config.slotFailover);
      logger.info({ slot: config.slot, failover: config.slotFailover }, 'slot failover flag changed');
    }
    return slot.confirmedLsn;
  }
  logger.warn(
    { slot: config.slot },
    'replication slot missing: creating it and publishing the rows it cannot see',
  );
  const created = await createSlotWithSnapshot(
    db,
    config.slot,
    config.table,
    config.completion === 'mark',
    config.slotFailover,
    { bookkeeping: primary, whileCreating: options.logStandbySnapshot },
  );
  options.onSweepStarting?.(created.consistentLsn);
  const swept = await publishRows(created.rows, options);
  await options.drain();
  // Before the slot counts as swept: a crash here sweeps again and tells the sinks again.
  await options.onSlotCreated?.(created.consistentLsn);
  await markSlotSwept(primary, config.slot);
  logger.info(
    { slot: config.slot, events: swept, at: formatLsn(created.consistentLsn), failover: config.slotFailover },
    'slot created',
  );
  return created.consistentLsn;
}

/** Dispatches every row as one transaction's events, at the window's pace; returns how many. */
async function publishRows(
  pages: AsyncIterable<Record<string, unknown>[]>,
  { window, dispatcher, signal }: SweepOptions,
): Promise<number> {
  // The sweep's own bookkeeping: nothing is confirmed from it, it only has to finish.
  const watermark = new Watermark(0n);
  const transaction = watermark.begin(Date.now());
  const owner: TransactionOwner = { complete: (handle) => void watermark.complete(handle) };
  let swept = 0;
  for await (const rows of pages) {
    for (const row of rows) {
      watermark.addEvent(transaction);
      dispatcher.dispatch(rowToEvent(row), transaction, owner, Date.now());
      swept += 1;
      await window.untilRoom(signal);
      if (signal.aborted) throw new Error('stopped during the table sweep');
    }
  }
  return swept;
}
