#!/usr/bin/env node
// The command line: arguments, signals and exit codes. With its subcommands' parts (cli-schemas.ts,
// cli-dead-letters.ts) the only module that touches `process` (besides config.ts reading the environment).
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import type { Config } from './config.js';
import { openDatabases } from './databases.js';
import { openDatabase } from './db/postgres.js';
import { migrateDatabase } from './migrate.js';
import { createLogger, redactUrl } from './observability/logger.js';
import { createRelay } from './relay.js';
import { schemasCheck, schemasSubcommand, UsageError } from './cli-schemas.js';
import {
  deadLetters,
  deadLetterSubcommand,
  DEFAULT_LIST_LIMIT,
  listLimit,
  retrySelection,
} from './cli-dead-letters.js';
import { SINKS } from './sinks/registry.js';
import { formatStatus, readStatus } from './status.js';
import { PreflightError } from './wal/slot.js';
import { errorMessage } from './errors.js';

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

// The registry's brokers by title (`A and B`), and the variables that configure them.
const BROKERS = new Intl.ListFormat('en', { type: 'conjunction' }).format(SINKS.map((sink) => sink.title));
const BROKER_VARIABLES = SINKS.map((sink) => sink.variable).join(', ');

const HELP: Record<string, string> = {
  main: `Usage: outbox-relay <command> [options]

Publishes the rows inserted into the outbox table to ${BROKERS}, from the PostgreSQL WAL.

Commands:
  migrate          create or update the outbox tables and publication (idempotent)
  run              run the relay until SIGTERM or SIGINT
  status [--json]  show the slot, its lag, pending rows and dead letters
  dead-letters     list the events the relay parked, or retry them (put them back into the outbox)
  schemas check    compare each schema of OUTBOX_SCHEMAS_DIR with its previous version

Configuration comes from the environment (DATABASE_URL, ${BROKER_VARIABLES}, ...);
see the README. Exit status: 0 ok, 1 runtime failure, 2 bad configuration or usage.`,
  migrate: `Usage: outbox-relay migrate

Applies the outbox migrations to DATABASE_URL. Safe to run on every deploy.`,
  run: `Usage: outbox-relay run

Streams outbox inserts from the replication slot (OUTBOX_SLOT) to the brokers until SIGTERM or
SIGINT, then finishes in-flight events (up to OUTBOX_SHUTDOWN_TIMEOUT_MS) and exits 0.
A second signal exits at once. Metrics and probes: http://METRICS_HOST:METRICS_PORT/metrics.`,
  status: `Usage: outbox-relay status [--json]

Prints the slot, whether it is active (and the PID serving it), its confirmed LSN, retained WAL,
lag, WAL status, pending rows, dead letters, and the running relay's last error. --json prints one
JSON object for scripts. Exit status 0 healthy, 1 when the slot is missing, lost its WAL or is more
than 1 GiB behind (see docs/monitoring.md).`,
  'dead-letters': `Usage: outbox-relay dead-letters list [--json] [--limit <n>]
       outbox-relay dead-letters retry (--id <uuid> [--id <uuid>...] | --all)

Events the relay could not deliver (too large, refused, no route) wait in outbox_dead_letter with
their error.

  list    the parked events in their original outbox order (the order retry uses): id, when
          parked, attempts, aggregate, event type, destination and error. --limit (default 100)
          caps how many are shown; --json prints one JSON object {"total": n, "deadLetters": [...]}
          with payloads and headers.
  retry   moves events back into the outbox table with their original ids (consumers deduplicate
          on them), in their original order, one transaction per 500 events; the running relay
          then publishes them. --id (repeatable) names events, all of which must be parked, else
          none is moved; --all takes every event parked when the retry starts.
          Fix the cause first (the route, the destination, the broker's *_MAX_MESSAGE_BYTES), or
          they come back.

Exit status 0 ok, 1 when an id is not parked or still in the outbox, 2 bad usage.`,
  schemas: `Usage: outbox-relay schemas check [--dir <dir>] [--compatibility backward|forward|full]

Checks every schema of the directory (default OUTBOX_SCHEMAS_DIR) against its event type's previous
version (default mode OUTBOX_SCHEMAS_COMPATIBILITY, else backward); prints one line per problem.
Needs no database. Exit status 0 compatible, 1 incompatible, 2 bad usage or a schema that does not
parse.`,
};

/** A table of ours missing means the database was never migrated: say so, as `run` does. */
async function unmigratedIsPreflight(command: Promise<number>): Promise<number> {
  try {
    return await command;
  } catch (error) {
    const undefinedTable = (error as { code?: unknown }).code === '42P01';
    if (undefinedTable) throw new PreflightError(`${(error as Error).message}: run 'outbox-relay migrate'`);
    throw error;
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      json: { type: 'boolean' },
      limit: { type: 'string' },
      id: { type: 'string', multiple: true },
      all: { type: 'boolean' },
      dir: { type: 'string' },
      compatibility: { type: 'string' },
    },
  });
  const command = positionals[0];
  if (command === undefined || command === 'help') {
    process.stdout.write(`${HELP['main']}\n`);
    return command === undefined && !values['help'] ? EXIT_USAGE : EXIT_OK;
  }
  const help = HELP[command];
  if (!help || command === 'main')
    throw new UsageError(
      `unknown command ${JSON.stringify(command)} (expected migrate, run, status, dead-letters or schemas)`,
    );
  if (values['help']) {
    process.stdout.write(`${help}\n`);
    return EXIT_OK;
  }
  const subcommand =
    command === 'dead-letters'
      ? deadLetterSubcommand(positionals)
      : command === 'schemas'
        ? schemasSubcommand(positionals)
        : undefined;
  const allowed = ALLOWED_OPTIONS[subcommand ? `${command} ${subcommand}` : command] ?? [];
  const unknown = Object.keys(values).filter((flag) => !allowed.includes(flag));
  if (unknown.length > 0)
    throw new UsageError(
      `unknown option --${unknown[0]} for ${subcommand ? `${command} ${subcommand}` : command}`,
    );
  // Parsed before the configuration is read, so a usage mistake is reported as one.
  const retry = subcommand === 'retry' ? retrySelection(values) : undefined;
  const limit = subcommand === 'list' ? listLimit(values['limit']) : undefined;
  if (values['json'] !== undefined && values['json'] !== true) throw new UsageError('--json takes no value');

  if (command === 'schemas') return schemasCheck(values) ? EXIT_OK : EXIT_FAILURE;
  const config = loadConfig();
  switch (command) {
    case 'migrate':
      // On the primary: a hot standby replays the migrations.
      await migrateDatabase(await writableUrl(config));
      process.stdout.write('migrations applied\n');
      return EXIT_OK;
    case 'status':
      return await unmigratedIsPreflight(status(config, values['json'] === true));
    case 'dead-letters':
      return await unmigratedIsPreflight(
        deadLetters(config, retry, limit ?? DEFAULT_LIST_LIMIT, values['json'] === true).then(() => EXIT_OK),
      );
    default:
      return run(config);
  }
}

const ALLOWED_OPTIONS: Record<string, string[]> = {
  status: ['json'],
  'dead-letters list': ['json', 'limit'],
  'dead-letters retry': ['id', 'all'],
  'schemas check': ['dir', 'compatibility'],
};
/** DATABASE_URL, or OUTBOX_PRIMARY_URL when DATABASE_URL leads to a hot standby (databases.ts). */
async function writableUrl(config: Config): Promise<string> {
  const databases = await openDatabases(config, { max: 1 });
  await databases.end();
  return databases.primaryUrl;
}

/** How long after OUTBOX_SHUTDOWN_TIMEOUT_MS a stop that still hangs ends the process anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

async function run(config: ReturnType<typeof loadConfig>): Promise<number> {
  const logger = createLogger(config.logLevel);
  const running = await createRelay(config, logger);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(EXIT_FAILURE);
    }
    logger.info({ signal }, 'signal received: draining');
    // The stop waits for in-flight events up to the timeout; should anything else hang (a database
    // connection that never answers), the process still ends a little after it.
    setTimeout(() => {
      logger.error(
        { shutdownTimeoutMs: config.shutdownTimeoutMs },
        'shutdown did not finish after OUTBOX_SHUTDOWN_TIMEOUT_MS: exiting',
      );
      process.exit(EXIT_FAILURE);
    }, config.shutdownTimeoutMs + SHUTDOWN_GRACE_MS).unref();
    void running.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await running.promise;
    return EXIT_OK;
  } catch (error) {
    logger.fatal({ err: error }, 'relay failed');
    return EXIT_FAILURE;
  }
}

async function status(config: ReturnType<typeof loadConfig>, json: boolean): Promise<number> {
  const db = openDatabase({ connectionString: config.databaseUrl, max: 1 });
  try {
    const result = await readStatus(db, config.slot, config.table, config.completion === 'mark');
    process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${formatStatus(result)}\n`);
    return result.healthy ? EXIT_OK : EXIT_FAILURE;
  } finally {
    await db.end();
  }
}

// The process ends as soon as the command has: once the relay has stopped and released what it owns, a
// library's own timers (kafkajs retrying a send that was under way at close) must not hold it open.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof UsageError || error instanceof PreflightError) {
      const kind =
        error instanceof ConfigError
          ? 'configuration error: '
          : error instanceof PreflightError
            ? 'database not ready: '
            : '';
      process.stderr.write(`outbox-relay: ${kind}${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    const message = errorMessage(error);
    process.stderr.write(`outbox-relay: ${redactUrl(message)}\n`);
    process.exit(EXIT_FAILURE);
  },
);
