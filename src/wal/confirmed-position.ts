// The confirmed-position record (db/position-sql.ts): read when a session starts (wal/resume.ts
// decides what it allows), written as the session confirms.
//
// Writes stay off the hot path: at most one every `minIntervalMs` (the latest position waits, and is
// written once the interval has passed), one at a time, and never for a position reached without a
// newly completed event (an idle slot moving with keepalives), so an idle relay writes nothing and its
// own writes do not keep the slot moving. A graceful stop writes what is pending (flush). A failed
// write is retried while its session lasts: any recorded position is true on the history it was
// confirmed on, the latest only saves more. The statement itself checks that the server's WAL is past
// the position (db/position-sql.ts).
import { run } from '../db/database.js';
import type { Queryable } from '../db/database.js';
import * as positionSql from '../db/position-sql.js';
import { formatLsn, parseLsn } from './lsn.js';
import type { Lsn } from './lsn.js';
import type { ConfirmedPosition } from './resume.js';
import type { ServerIdentity } from './timeline.js';
import { PreflightError } from './slot.js';
import type { Logger } from '../observability/logger.js';

export const RECORD_INTERVAL_MS = 1_000;

export async function readConfirmedPosition(
  db: Queryable,
  slot: string,
): Promise<ConfirmedPosition | undefined> {
  const { rows } = await run(db, positionSql.readConfirmedPosition(slot));
  const row = rows[0];
  if (!row?.system_id || row.timeline === null || row.confirmed_lsn === null) return undefined;
  return { systemId: row.system_id, timeline: Number(row.timeline), lsn: parseLsn(row.confirmed_lsn) };
}

export interface PositionRecorderOptions {
  /** Where the record is written (the stream's database today; a primary's, later). */
  readonly db: Queryable;
  readonly slot: string;
  readonly minIntervalMs?: number;
  readonly onError: (error: unknown) => void;
}

export class PositionRecorder {
  private server: ServerIdentity | undefined;
  /** The highest position recorded on `server`, and the session's completed events then. */
  private recorded: Lsn = 0n;
  private eventsAtRecord = 0;
  /** Sessions started so far: a session's count of completed events is its own. */
  private session = 0;
  private pending:
    { readonly position: ConfirmedPosition; readonly events: number; readonly session: number } | undefined;
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(private readonly options: PositionRecorderOptions) {}

  /** A session starts on `server`: what is confirmed from now on is recorded as its position. */
  streamingFrom(server: ServerIdentity): void {
    if (!this.sameServer(server)) this.recorded = 0n;
    this.server = server;
    this.session += 1;
    this.eventsAtRecord = 0;
    this.sessionEnded();
  }

  /**
   * The session's connection ended: a position not written yet is dropped, not written later. The
   * next connection may reach another server (a copy restored at the same address) whose history
   * does not have that position: written there, it would skip that server's own transactions.
   */
  sessionEnded(): void {
    this.cancelTimer();
    this.pending = undefined;
  }

  /** The session confirmed `lsn`, having completed `completedEvents` events so far. */
  confirmed(lsn: Lsn, completedEvents: number): void {
    const server = this.server;
    if (!server || this.closed || lsn <= this.recorded || completedEvents <= this.eventsAtRecord) return;
    this.pending = { position: { ...server, lsn }, events: completedEvents, session: this.session };
    this.schedule();
  }

  /** Writes what is pending now (a graceful stop), after the write under way. */
  async flush(): Promise<void> {
    this.cancelTimer();
    await this.writing;
    if (this.pending) await this.write();
  }

  /** No more writes. The one under way is not waited for: a database that hangs must not hold the stop. */
  close(): void {
    this.closed = true;
    this.cancelTimer();
  }

  private schedule(): void {
    if (this.writing || this.timer || this.closed) return;
    const waitMs = this.lastWriteAt + (this.options.minIntervalMs ?? RECORD_INTERVAL_MS) - Date.now();
    if (waitMs <= 0) {
      void this.write();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, waitMs);
  }

  private write(): Promise<void> {
    const next = this.pending;
    if (!next) return Promise.resolve();
    this.pending = undefined;
    const { systemId, timeline, lsn } = next.position;
    const writing = run(
      this.options.db,
      positionSql.recordConfirmedPosition(this.options.slot, systemId, timeline, formatLsn(lsn)),
    )
      .then(() => {
        if (!this.sameServer(next.position)) return;
        if (lsn > this.recorded) this.recorded = lsn;
        if (next.session === this.session) this.eventsAtRecord = Math.max(this.eventsAtRecord, next.events);
      })
      .catch((error: unknown) => {
        this.options.onError(error);
        // Written with the next one, unless a newer one replaced it or its session ended.
        if (next.session === this.session) this.pending ??= next;
      })
      .finally(() => {
        this.lastWriteAt = Date.now();
        this.writing = undefined;
        if (this.pending) this.schedule();
      });
    this.writing = writing;
    return writing;
  }

  private sameServer(server: ServerIdentity): boolean {
    // The record is per cluster and timeline: a position of another one says nothing here.
    return this.server?.systemId === server.systemId && this.server.timeline === server.timeline;
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Before starting: the record's columns exist (a database migrated before they did has none). */
export async function checkPositionRecord(db: Queryable, slot: string): Promise<void> {
  try {
    await readConfirmedPosition(db, slot);
  } catch (error) {
    if ((error as { code?: unknown }).code !== UNDEFINED_COLUMN) throw error;
    throw new PreflightError(
      `outbox_relay_slot has no confirmed-position columns (${(error as Error).message}): run 'outbox-relay migrate'`,
    );
  }
}

const UNDEFINED_COLUMN = '42703';

/** What a relay's sessions need of the record: reading it, and a recorder writing to `db`. */
export function positionRecord(
  db: Queryable,
  slot: string,
  logger: Pick<Logger, 'debug'>,
): { readonly recorder: PositionRecorder; readConfirmedPosition(): Promise<ConfirmedPosition | undefined> } {
  const onError = (error: unknown): void =>
    logger.debug({ err: error }, 'recording the confirmed position failed');
  return {
    recorder: new PositionRecorder({ db, slot, onError }),
    readConfirmedPosition: () => readConfirmedPosition(db, slot),
  };
}
