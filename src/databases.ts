// Which server each statement goes to: the one place that owns "the primary connection".
//
// DATABASE_URL is the source: the slot lives there and is streamed from there, with everything that
// belongs to the slot (reading, creating and dropping it, the sweep's snapshot read, its lag, the
// leadership lock: advisory locks work on a hot standby, and the lock belongs beside the walsender it
// guards). When DATABASE_URL leads to a hot standby (PostgreSQL 16+, wal/standby.ts), every write goes
// to OUTBOX_PRIMARY_URL instead: heartbeats, completions and dead letters, the bookkeeping in
// outbox_relay_slot, the publication, migrations. Otherwise `primary` is the same pool as `source`.
import type { Config } from './config.js';
import { ConfigError } from './config-fields.js';
import { run } from './db/database.js';
import type { Database } from './db/database.js';
import { openDatabase } from './db/postgres.js';
import type { AheadConnections } from './db/postgres.js';
import * as preflightSql from './db/preflight-sql.js';
import * as slotSql from './db/slot-sql.js';
import { emitHeartbeat } from './wal/heartbeat.js';
import { identifyServer } from './wal/slot.js';
import { assessTopology } from './wal/standby.js';
import type { ServerFacts } from './wal/standby.js';

export interface Databases {
  /** DATABASE_URL: the slot and its stream. */
  readonly source: Database;
  /** Where the relay writes: OUTBOX_PRIMARY_URL when the source is a standby, else `source` itself. */
  readonly primary: Database;
  /** The connection string of `primary` (migrations open their own connection). */
  readonly primaryUrl: string;
  /** DATABASE_URL leads to a hot standby. */
  readonly onStandby: boolean;
  /**
   * Has the primary log its running transactions now (standby only; otherwise a no-op): a slot
   * being created on the standby waits for that record.
   */
  readonly logStandbySnapshot: () => Promise<void>;
  /** Closes both pools. */
  end(): Promise<void>;
}

export interface DatabasesOptions {
  /** Connections of each pool at most. */
  readonly max: number;
  readonly applicationName?: string;
  readonly onError?: (error: Error) => void;
  /** Said once at start-up: a setting that is not used, a risky standby setting. */
  readonly onWarning?: (message: string) => void;
  /** Connections of DATABASE_URL's to open at once, beside its pool's first (db/opened-ahead.ts). */
  readonly ahead?: AheadConnections;
}

/**
 * Opens DATABASE_URL and, when it leads to a hot standby, OUTBOX_PRIMARY_URL; throws ConfigError
 * (exit 2) for a combination that cannot work (wal/standby.ts).
 */
export async function openDatabases(
  config: Pick<Config, 'databaseUrl' | 'primaryUrl' | 'slotFailover'>,
  options: DatabasesOptions,
): Promise<Databases> {
  const { ahead, ...poolOptions } = options;
  const open = (connectionString: string, early?: AheadConnections): Database =>
    openDatabase({ connectionString, ...poolOptions, ahead: early });
  const source = open(config.databaseUrl, ahead);
  const primary = config.primaryUrl === undefined ? undefined : open(config.primaryUrl);
  try {
    let sourceFacts = await factsOf(source);
    let primaryFacts = primary && (await factsOf(primary));
    // Whether the two are one cluster matters (and is asked, on a replication connection) only then.
    if (primary && primaryFacts && sourceFacts.inRecovery) {
      sourceFacts = { ...sourceFacts, systemId: (await identifyServer(source)).systemId };
      primaryFacts = { ...primaryFacts, systemId: (await identifyServer(primary)).systemId };
    }
    const verdict = assessTopology(sourceFacts, primaryFacts, config.slotFailover);
    if (verdict.kind === 'refused') throw new ConfigError(verdict.setting, verdict.message);
    for (const warning of verdict.warnings) options.onWarning?.(warning);
    if (verdict.kind === 'primary' || !primary || config.primaryUrl === undefined) {
      await primary?.end();
      return single(source, config.databaseUrl);
    }
    return {
      source,
      primary,
      primaryUrl: config.primaryUrl,
      onStandby: true,
      async logStandbySnapshot() {
        // pg_log_standby_snapshot() is a superuser's unless granted: without it, any WAL makes the
        // primary log its running transactions on its own within 15 s, and a logical message is WAL.
        await run(primary, slotSql.logStandbySnapshot()).catch(() =>
          emitHeartbeat(primary, 'standby slot creation'),
        );
      },
      async end() {
        await Promise.allSettled([source.end(), primary.end()]);
      },
    };
  } catch (error) {
    await Promise.allSettled([source.end(), primary?.end()]);
    throw error;
  }
}

function single(db: Database, url: string): Databases {
  return {
    source: db,
    primary: db,
    primaryUrl: url,
    onStandby: false,
    logStandbySnapshot: () => Promise.resolve(),
    end: () => db.end(),
  };
}

/** The server's facts, but its system identifier (asked only when it matters). */
async function factsOf(db: Database): Promise<ServerFacts> {
  const { rows } = await run(db, preflightSql.serverFacts());
  const row = rows[0]!;
  return {
    version: row.version,
    inRecovery: row.in_recovery,
    database: row.database,
    hotStandbyFeedback: row.hot_standby_feedback,
    systemId: '',
  };
}
