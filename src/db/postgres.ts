// The one adapter of the pg driver: the only module that opens pools and clients. (The replication
// stream opens its own, inside pg-logical-replication: wal/stream.ts.) Everything else sees the
// interfaces of db/database.ts.
import pg from 'pg';
import type { Connection, Database, Session, Statement } from './database.js';
import { openAhead } from './opened-ahead.js';

export interface DatabaseOptions {
  readonly connectionString: string;
  /** Connections in the pool at most. */
  readonly max: number;
  readonly applicationName?: string;
  /** An idle pooled connection failed; without this, pg's pool throws it as an uncaught error. */
  readonly onError?: (error: Error) => void;
  /** Connections to open now, for a first use soon after (db/opened-ahead.ts). */
  readonly ahead?: AheadConnections;
}

export interface AheadConnections {
  /** The name of a session (connectSession) to open now. */
  readonly session?: string;
  /** Open a replication connection (connectReplication) now. */
  readonly replication?: boolean;
}

/** How long a connection opened ahead waits for its use before it is closed. */
const AHEAD_TTL_MS = 5_000;

export function openDatabase({
  connectionString,
  max,
  applicationName,
  onError,
  ahead,
}: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString,
    max,
    ...(applicationName === undefined ? {} : { application_name: applicationName }),
  });
  if (onError) pool.on('error', onError);
  const openReplication = (): Promise<Session> => openSession(connectionString, { replication: 'database' });
  const openNamed = (name: string): Promise<Session> =>
    openSession(connectionString, { application_name: name });
  const replicationAhead = ahead?.replication ? openAhead(openReplication(), AHEAD_TTL_MS) : undefined;
  const sessionName = ahead?.session;
  const sessionAhead =
    sessionName === undefined ? undefined : openAhead(openNamed(sessionName), AHEAD_TTL_MS);
  return {
    query: (text, values) => pool.query(text, values as unknown[]),
    async transaction(work) {
      const client = await pool.connect();
      let failed = true;
      try {
        await client.query('begin');
        const result = await work(client);
        await client.query('commit');
        failed = false;
        return result;
      } finally {
        if (failed) await client.query('rollback').catch(() => undefined);
        client.release(failed);
      }
    },
    async reserveTextConnection(): Promise<Connection> {
      const client = await pool.connect();
      return {
        query: (text, values) => client.query({ text, values: values as unknown[], types: TEXT_TYPES }),
        release: (broken) => Promise.resolve(client.release(broken)),
      };
    },
    async connectReplication(): Promise<Connection> {
      return (await replicationAhead?.take()) ?? openReplication();
    },
    async connectSession(name): Promise<Session> {
      const early = name === sessionName ? await sessionAhead?.take() : undefined;
      return early ?? openNamed(name);
    },
    async end() {
      await Promise.all([replicationAhead?.discard(), sessionAhead?.discard()]);
      await pool.end();
    },
  };
}

/** A connection of its own; `lost` also keeps an idle one's failure from being an uncaught error. */
async function openSession(
  connectionString: string,
  settings: { readonly application_name: string } | { readonly replication: 'database' },
): Promise<Session> {
  const client = new pg.Client({ connectionString, ...settings });
  const lost = new AbortController();
  client.on('error', () => lost.abort());
  client.on('end', () => lost.abort());
  await connected(client);
  return {
    lost: lost.signal,
    query: (text, values) => client.query(text, values as unknown[]),
    release: () => client.end(),
  };
}

/**
 * Applies drizzle's migrations from `folder` on a connection of their own, named `applicationName`,
 * after running `first` on it (the lock that makes concurrent runs queue). drizzle-orm is loaded
 * here, on the first call: only `migrate` needs it, and loading it took ~60 ms of the relay's start.
 */
export async function applyMigrations(
  connectionString: string,
  applicationName: string,
  folder: string,
  first: Statement,
): Promise<void> {
  const client = await connected(new pg.Client({ connectionString, application_name: applicationName }));
  try {
    await client.query(first.text, first.values as unknown[]);
    const [{ drizzle }, { migrate }] = await Promise.all([
      import('drizzle-orm/node-postgres'),
      import('drizzle-orm/node-postgres/migrator'),
    ]);
    await migrate(drizzle(client), { migrationsFolder: folder });
  } finally {
    await client.end();
  }
}

async function connected(client: pg.Client): Promise<pg.Client> {
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

// Every column as the text PostgreSQL sent, parsed by no one.
const TEXT_TYPES = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;
