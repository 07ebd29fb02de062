// The one adapter of the pg driver: the only module that opens pools and clients. (The replication
// stream opens its own, inside pg-logical-replication: wal/stream.ts.) Everything else sees the
// interfaces of db/database.ts.
import pg from 'pg';
import type { Connection, Database, Session, Statement } from './database.js';

export interface DatabaseOptions {
  readonly connectionString: string;
  /** Connections in the pool at most. */
  readonly max: number;
  readonly applicationName?: string;
  /** An idle pooled connection failed; without this, pg's pool throws it as an uncaught error. */
  readonly onError?: (error: Error) => void;
}

export function openDatabase({ connectionString, max, applicationName, onError }: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString,
    max,
    ...(applicationName === undefined ? {} : { application_name: applicationName }),
  });
  if (onError) pool.on('error', onError);
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
      const client = await connected(
        new pg.Client({ connectionString, replication: 'database' } as pg.ClientConfig),
      );
      return {
        query: (text, values) => client.query(text, values as unknown[]),
        release: () => client.end(),
      };
    },
    async connectSession(name): Promise<Session> {
      const client = new pg.Client({ connectionString, application_name: name });
      const lost = new AbortController();
      client.on('error', () => lost.abort());
      client.on('end', () => lost.abort());
      await connected(client);
      return {
        lost: lost.signal,
        query: (text, values) => client.query(text, values as unknown[]),
        release: () => client.end(),
      };
    },
    end: () => pool.end(),
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
