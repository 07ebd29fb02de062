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
import type { Pool } from 'pg';
import { sleep } from './pipeline/sleep.js';
import type { CompletionMode } from './config.js';
import { quoteTable } from './db/identifiers.js';
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

/** The part of pg's Pool the store uses. */
export type CompletionPool = Pick<Pool, 'query' | 'connect'>;

// A transaction whose commit the WAL already carries becomes visible within moments; far longer
// means something else is wrong, which the caller reports and retries.
const VISIBILITY_LIMIT_MS = 30_000;

// xids of the batch that other sessions cannot see yet (still in the current snapshot's running set).
const RUNNING_XIDS_SQL = `
  select x::text from unnest($1::xid[]) x
   where x = any(array(select xid(r) from pg_snapshot_xip(pg_current_snapshot()) r))`;

export class PgCompletionStore implements CompletionStore {
  private readonly finishSql: string;
  private readonly insertDeadLettersSql: string;

  constructor(
    private readonly pool: CompletionPool,
    table: TableName,
    mode: CompletionMode,
  ) {
    this.insertDeadLettersSql = insertDeadLettersSql(table);
    this.finishSql =
      mode === 'delete'
        ? `delete from ${quoteTable(table)} where id = any($1::uuid[])`
        : `update ${quoteTable(table)} set processed_at = now() where id = any($1::uuid[]) and processed_at is null`;
  }

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
    await this.pool.query(this.finishSql, [ids]);
  }

  /** Completes the batch's rows (and writes its dead letters); returns how many rows it completed. */
  private async finish(batch: readonly CompletedEvent[], ids: readonly string[]): Promise<number> {
    const deadLetters = batch.filter((entry) => entry.deadLetter !== undefined);
    if (deadLetters.length === 0) return (await this.pool.query(this.finishSql, [ids])).rowCount ?? 0;
    const client = await this.pool.connect();
    let failed = true;
    try {
      await client.query('begin');
      await client.query(this.insertDeadLettersSql, deadLetterColumns(deadLetters));
      const { rowCount } = await client.query(this.finishSql, [ids]);
      await client.query('commit');
      failed = false;
      return rowCount ?? 0;
    } finally {
      if (failed) await client.query('rollback').catch(() => undefined);
      client.release(failed);
    }
  }

  private async anyRunning(xids: readonly number[]): Promise<boolean> {
    const { rowCount } = await this.pool.query(RUNNING_XIDS_SQL, [xids]);
    return (rowCount ?? 0) > 0;
  }
}

// A replayed event that fails again keeps one dead-letter row, with all its attempts counted. The
// outbox row is still there (it is completed after this, in the same transaction): its seq records
// the event's original position, for `outbox-relay dead-letters retry`.
function insertDeadLettersSql(table: TableName): string {
  return `
  insert into outbox_dead_letter
    (id, aggregate_type, aggregate_id, event_type, payload, headers, created_at, error, destination,
     attempts, outbox_seq)
  select d.*, o.seq
    from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[],
                $7::timestamptz[], $8::text[], $9::text[], $10::int[])
           as d(id, aggregate_type, aggregate_id, event_type, payload, headers, created_at, error,
                destination, attempts)
    left join ${quoteTable(table)} o on o.id = d.id
  on conflict (id) do update set
    error = excluded.error, destination = excluded.destination,
    attempts = outbox_dead_letter.attempts + excluded.attempts, dead_lettered_at = now(),
    outbox_seq = coalesce(excluded.outbox_seq, outbox_dead_letter.outbox_seq)`;
}

function deadLetterColumns(entries: readonly CompletedEvent[]): unknown[][] {
  return [
    entries.map(({ event }) => event.id),
    entries.map(({ event }) => event.aggregateType),
    entries.map(({ event }) => event.aggregateId),
    entries.map(({ event }) => event.eventType),
    entries.map(({ event }) => event.payload),
    entries.map(({ event }) => JSON.stringify(event.headers)),
    entries.map(({ event }) => event.createdAt || new Date().toISOString()),
    entries.map(({ deadLetter }) => deadLetter!.error),
    entries.map(({ deadLetter }) => deadLetter!.destination ?? null),
    entries.map(({ deadLetter }) => deadLetter!.attempts),
  ];
}
