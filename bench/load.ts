// The load: concurrent writers committing outbox events in transactions of a given size, as fast as
// they can or at a fixed offered rate. Each payload names its transaction (`"tx": n`), and the time
// each transaction's COMMIT was sent is kept, so a consumer can compute commit-to-delivery latency
// on the bench's own monotonic clock.
//
// The time taken is the moment COMMIT is sent, which precedes PostgreSQL's commit timestamp: the
// latency measured from it is an upper bound of the one from the WAL commit time.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface LoadShape {
  readonly aggregateType: string;
  readonly events: number;
  readonly txSize: number;
  /** Bytes of each payload's JSON text (as jsonb prints it, approximately). */
  readonly payloadBytes: number;
  readonly writers: number;
  /** Offered rate, events per second, all writers together; as fast as possible if absent. */
  readonly eventsPerSecond?: number;
  /** Aggregates per writer (Kafka keys): a writer's events of one aggregate keep commit order. */
  readonly aggregatesPerWriter?: number;
}

export interface LoadResult {
  readonly events: number;
  readonly transactions: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
}

const INSERT = `insert into outbox (aggregate_type, aggregate_id, event_type, payload, headers)
  select $1, a, 'BenchEvent', p, h from unnest($2::text[], $3::jsonb[], $4::jsonb[]) as t(a, p, h)`;

/**
 * Sends transactions at an offered rate and records when each was sent, for a consumer to time: the
 * writers (COMMIT sent), or the floor's publisher (bench/floor.ts: handed to the broker's client).
 */
export interface PacedSource {
  /** performance.now() at which each transaction was sent, by transaction number (NaN until then). */
  readonly sentAt: readonly number[];
  run(shape: LoadShape): Promise<LoadResult>;
}

/**
 * `lanes` concurrent senders share the shape's events in transactions of `txSize`, as fast as they
 * can or at the offered rate. Transactions are numbered in claim order, continuing `sentAt` (so a
 * second run's numbers follow the first's); at a fixed rate, a transaction is due when the events
 * claimed before it would have been sent. `send(lane, tx, size)` sends one and sets `sentAt[tx]`.
 */
export async function paced(
  shape: Pick<LoadShape, 'events' | 'txSize' | 'eventsPerSecond'>,
  lanes: number,
  sentAt: number[],
  send: (lane: number, tx: number, size: number) => Promise<void>,
): Promise<LoadResult> {
  const { events, txSize, eventsPerSecond } = shape;
  const started = performance.now();
  let claimed = 0;
  let transactions = 0;
  const claim = (): { tx: number; size: number; dueAt: number } | undefined => {
    if (claimed >= events) return undefined;
    const size = Math.min(txSize, events - claimed);
    const dueAt = eventsPerSecond ? started + (claimed / eventsPerSecond) * 1000 : 0;
    claimed += size;
    const tx = sentAt.length;
    sentAt.push(Number.NaN);
    return { tx, size, dueAt };
  };
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let next = claim(); next; next = claim()) {
        const wait = next.dueAt - performance.now();
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        await send(lane, next.tx, next.size);
        transactions += 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    events: claimed,
    transactions,
    seconds: Math.round(seconds * 1000) / 1000,
    eventsPerSecond: Math.round(claimed / seconds),
  };
}

/** Connected writers; run() commits the events and resolves when all are committed. */
export class Writers implements PacedSource {
  /** performance.now() at which each transaction's COMMIT was sent, by transaction number. */
  readonly sentAt: number[] = [];
  private constructor(
    private readonly clients: pg.Client[],
    readonly backendPids: number[],
  ) {}

  static async connect(url: string, count: number): Promise<Writers> {
    const clients: pg.Client[] = [];
    const pids: number[] = [];
    for (let i = 0; i < count; i++) {
      const client = new pg.Client({ connectionString: url, application_name: 'outbox-bench-writer' });
      await client.connect();
      const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      clients.push(client);
      pids.push(rows[0]!.pid);
    }
    return new Writers(clients, pids);
  }

  run(shape: LoadShape): Promise<LoadResult> {
    const pad = 'x'.repeat(Math.max(0, shape.payloadBytes - PAYLOAD_OVERHEAD));
    const aggregates = this.clients.map((_, writer) =>
      Array.from({ length: shape.aggregatesPerWriter ?? 50 }, (_, i) => `w${writer}-a${i}`),
    );
    return paced(shape, this.clients.length, this.sentAt, async (writer, tx, size) => {
      const client = this.clients[writer]!;
      const own = aggregates[writer]!;
      // One trace per transaction, as when one request writes its events.
      const trace = `{"traceparent": "00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01"}`;
      await client.query('begin');
      // A large transaction goes in statements of at most STATEMENT_ROWS rows (one array parameter
      // of a million payloads would be a string near V8's limit).
      for (let first = 0; first < size; first += STATEMENT_ROWS) {
        const rows = Math.min(STATEMENT_ROWS, size - first);
        const ids: string[] = [];
        const payloads: string[] = [];
        const headers: string[] = [];
        for (let i = first; i < first + rows; i++) {
          ids.push(own[(tx + i) % own.length]!);
          payloads.push(`{"tx": ${tx}, "pad": "${pad}"}`);
          headers.push(trace);
        }
        await client.query(INSERT, [shape.aggregateType, ids, payloads, headers]);
      }
      this.sentAt[tx] = performance.now();
      await client.query('commit');
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.end().catch(() => undefined)));
  }
}

const STATEMENT_ROWS = 10_000;

// `{"tx": 1234567, "pad": ""}`: what a payload holds besides its padding.
const PAYLOAD_OVERHEAD = 27;

/** The transaction number a payload names, or -1. */
export function transactionOf(payload: string): number {
  // The payload as it is, or as a JSON string inside another document (Debezium's JSON converter).
  const match = /\\?"tx\\?": ?(\d+)/.exec(payload);
  return match ? Number(match[1]) : -1;
}
