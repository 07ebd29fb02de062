#!/usr/bin/env node
// The command line: arguments, signals and exit codes. The only module that touches `process`
// (besides config.ts reading the environment).
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ConfigError, loadConfig } from './config.js';
import { migrateDatabase } from './migrate.js';
import { createLogger, redactUrl } from './observability/logger.js';
import { startRelay } from './run.js';
import { formatStatus, readStatus } from './status.js';
import { PreflightError } from './wal/slot.js';

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

const HELP: Record<string, string> = {
  main: `Usage: outbox-relay <command> [options]

Publishes the rows inserted into the outbox table to Kafka and RabbitMQ, from the PostgreSQL WAL.

Commands:
  migrate          create or update the outbox tables and publication (idempotent)
  run              run the relay until SIGTERM or SIGINT
  status [--json]  show the slot, its lag, pending rows and dead letters

Configuration comes from the environment (DATABASE_URL, KAFKA_BROKERS, RABBITMQ_URL, ...);
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
};

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' } },
  });
  const command = positionals[0];
  if (command === undefined || command === 'help') {
    process.stdout.write(`${HELP['main']}\n`);
    return command === undefined && !values['help'] ? EXIT_USAGE : EXIT_OK;
  }
  const help = HELP[command];
  if (!help || command === 'main')
    throw new UsageError(`unknown command ${JSON.stringify(command)} (expected migrate, run or status)`);
  if (values['help']) {
    process.stdout.write(`${help}\n`);
    return EXIT_OK;
  }
  const unknown = Object.keys(values).filter((flag) => flag !== 'json' || command !== 'status');
  if (unknown.length > 0) throw new UsageError(`unknown option --${unknown[0]} for ${command}`);

  const config = loadConfig();
  switch (command) {
    case 'migrate':
      await migrateDatabase(config.databaseUrl);
      process.stdout.write('migrations applied\n');
      return EXIT_OK;
    case 'status':
      return status(config, values['json'] === true);
    default:
      return run(config);
  }
}

async function run(config: ReturnType<typeof loadConfig>): Promise<number> {
  const logger = createLogger(config.logLevel);
  const running = await startRelay(config, logger);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(EXIT_FAILURE);
    }
    logger.info({ signal }, 'signal received: draining');
    void running.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await running.done;
    return EXIT_OK;
  } catch (error) {
    logger.fatal({ err: error }, 'relay failed');
    return EXIT_FAILURE;
  }
}

async function status(config: ReturnType<typeof loadConfig>, json: boolean): Promise<number> {
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 1 });
  try {
    const result = await readStatus(pool, config.slot, config.table, config.completion === 'mark');
    process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${formatStatus(result)}\n`);
    return result.healthy ? EXIT_OK : EXIT_FAILURE;
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof UsageError || error instanceof PreflightError) {
      const kind =
        error instanceof ConfigError
          ? 'configuration error: '
          : error instanceof PreflightError
            ? 'database not ready: '
            : '';
      process.stderr.write(`outbox-relay: ${kind}${error.message}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`outbox-relay: ${redactUrl(message)}\n`);
    process.exitCode = EXIT_FAILURE;
  },
);
