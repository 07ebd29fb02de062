// Completion: rows whose events are done leave the outbox (deleted, or marked processed), in batches,
// one transaction per batch. Dead letters are written in the same transaction as their row's
// completion, so an event is always in exactly one of the two tables until it is finished.
//
// PostgreSQL writes and flushes a commit record, and a walsender may decode and send it, a moment
// before the committing session makes the transaction visible to other sessions. Under load the relay
// can publish an event and complete its row within that moment: the delete then misses the row, which
// would stay in the outbox for good. So when a batch completes fewer rows than it has events, the
// store waits until the events' transactions are visible and completes the batch once more (rows
// already gone, e.g. of events published again after a restart, simply stay gone).
import { sleep } from './pipeline/sleep.js';
import type { CompletionMode } from './config.js';
import { run } from './db/database.js';
import type { Database, Statement } from './db/database.js';
import * as completionSql from './db/completion-sql.js';
import type { TableName } from './wal/decode.js';
import type { OutboxEvent } from './wal/event.js';

export interface DeadLetter {
  readonly error: string;
  readonly destination: string | undefined;
  /** Publish attempts made before giving up (0 when no route matched). */
  readonly attempts: number;
}

export interface CompletedEvent {
  readonly event: OutboxEvent;
  readonly deadLetter: DeadLetter | undefined;
}

export interface CompletionStore {
  complete(batch: readonly CompletedEvent[]): Promise<void>;
}

/** What the store needs of the database: statements, and a transaction for dead letters. */
export type CompletionDatabase = Pick<Database, 'query' | 'transaction'>;

// A transaction whose commit the WAL already carries becomes visible within moments; far longer
// means something else is wrong, which the caller reports and retries.
const VISIBILITY_LIMIT_MS = 30_000;

export class PgCompletionStore implements CompletionStore {
  constructor(
    private readonly db: CompletionDatabase,
    private readonly table: TableName,
    private readonly mode: CompletionMode,
  ) {}

  async complete(batch: readonly CompletedEvent[]): Promise<void> {
    const ids = batch.map(({ event }) => event.id);
    const completed = await this.finish(batch, ids);
    if (completed >= ids.length) return;
    const xids = [...new Set(batch.flatMap(({ event }) => (event.xid === undefined ? [] : [event.xid])))];
    if (xids.length === 0) return;
    const since = Date.now();
    for (let attempt = 1; await this.anyRunning(xids); attempt++) {
      if (Date.now() - since > VISIBILITY_LIMIT_MS) {
        throw new Error(`transactions ${xids.join(', ')} still not visible after ${VISIBILITY_LIMIT_MS} ms`);
      }
      await sleep(Math.min(100, 2 ** attempt));
    }
    await run(this.db, this.finishRows(ids));
  }

  /** Completes the batch's rows (and writes its dead letters); returns how many rows it completed. */
  private async finish(batch: readonly CompletedEvent[], ids: readonly string[]): Promise<number> {
    const deadLetters = batch.flatMap(({ event, deadLetter }) =>
      deadLetter ? [{ event, ...deadLetter }] : [],
    );
    if (deadLetters.length === 0) return (await run(this.db, this.finishRows(ids))).rowCount;
    return this.db.transaction(async (tx) => {
      await run(tx, completionSql.insertDeadLetters(this.table, deadLetters));
      return (await run(tx, this.finishRows(ids))).rowCount;
    });
  }

  private finishRows(ids: readonly string[]): Statement {
    return completionSql.finishRows(this.table, this.mode, ids);
  }

  private async anyRunning(xids: readonly number[]): Promise<boolean> {
    const { rowCount } = await run(this.db, completionSql.runningXids(xids));
    return rowCount > 0;
  }
}
