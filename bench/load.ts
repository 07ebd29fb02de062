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

/** Connected writers; run() commits the events and resolves when all are committed. */
export class Writers {
  /** performance.now() at which each transaction's COMMIT was sent, by transaction number. */
  readonly commitSentAt: number[] = [];
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

  async run(shape: LoadShape): Promise<LoadResult> {
    const { events, txSize, eventsPerSecond } = shape;
    const pad = 'x'.repeat(Math.max(0, shape.payloadBytes - PAYLOAD_OVERHEAD));
    const started = performance.now();
    let claimed = 0;
    let transactions = 0;
    // Transactions are numbered in claim order; at a fixed rate, transaction k is due at k * txSize / rate.
    const claim = (): { tx: number; size: number; dueAt: number } | undefined => {
      if (claimed >= events) return undefined;
      const size = Math.min(txSize, events - claimed);
      const dueAt = eventsPerSecond ? started + (claimed / eventsPerSecond) * 1000 : 0;
      claimed += size;
      const tx = this.commitSentAt.length;
      this.commitSentAt.push(Number.NaN);
      return { tx, size, dueAt };
    };
    await Promise.all(
      this.clients.map(async (client, writer) => {
        const aggregates = Array.from(
          { length: shape.aggregatesPerWriter ?? 50 },
          (_, i) => `w${writer}-a${i}`,
        );
        for (let next = claim(); next; next = claim()) {
          const wait = next.dueAt - performance.now();
          if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
          // One trace per transaction, as when one request writes its events.
          const trace = `{"traceparent": "00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01"}`;
          const ids: string[] = [];
          const payloads: string[] = [];
          const headers: string[] = [];
          for (let i = 0; i < next.size; i++) {
            ids.push(aggregates[(next.tx + i) % aggregates.length]!);
            payloads.push(`{"tx": ${next.tx}, "pad": "${pad}"}`);
            headers.push(trace);
          }
          await client.query('begin');
          await client.query(INSERT, [shape.aggregateType, ids, payloads, headers]);
          this.commitSentAt[next.tx] = performance.now();
          await client.query('commit');
          transactions += 1;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const committed = Math.min(claimed, events);
    return {
      events: committed,
      transactions,
      seconds: Math.round(seconds * 1000) / 1000,
      eventsPerSecond: Math.round(committed / seconds),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.end().catch(() => undefined)));
  }
}

// `{"tx": 1234567, "pad": ""}`: what a payload holds besides its padding.
const PAYLOAD_OVERHEAD = 27;

/** The transaction number a payload names, or -1. */
export function transactionOf(payload: string): number {
  // The payload as it is, or as a JSON string inside another document (Debezium's JSON converter).
  const match = /\\?"tx\\?": ?(\d+)/.exec(payload);
  return match ? Number(match[1]) : -1;
}
