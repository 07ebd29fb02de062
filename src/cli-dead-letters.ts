// `outbox-relay dead-letters list|retry`, the command line's part: the subcommand and its options
// checked (a mistake is a UsageError, exit 2), then the parked events listed or put back.
import { UsageError } from './cli-schemas.js';
import type { Config } from './config.js';
import { openDatabases } from './databases.js';
import { formatDeadLetters, listDeadLetters, retryDeadLetters } from './dead-letters.js';
import type { RetrySelection } from './dead-letters.js';

export const DEFAULT_LIST_LIMIT = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type ParsedValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export function deadLetterSubcommand(positionals: string[]): 'list' | 'retry' {
  const [, subcommand, extra] = positionals;
  if (subcommand !== 'list' && subcommand !== 'retry')
    throw new UsageError(
      `dead-letters: expected list or retry${subcommand === undefined ? '' : `, not ${JSON.stringify(subcommand)}`}`,
    );
  if (extra !== undefined)
    throw new UsageError(`dead-letters ${subcommand}: unexpected argument ${JSON.stringify(extra)}`);
  return subcommand;
}

export function retrySelection(values: ParsedValues): RetrySelection {
  const ids = (values['id'] as (string | boolean)[] | undefined) ?? [];
  if (values['all'] !== undefined && values['all'] !== true) throw new UsageError('--all takes no value');
  if (ids.length > 0 && values['all'] === true)
    throw new UsageError('dead-letters retry: give either --id or --all, not both');
  if (values['all'] === true) return { all: true };
  if (ids.length === 0)
    throw new UsageError('dead-letters retry: expected --id <uuid> (repeatable) or --all');
  for (const id of ids) {
    if (typeof id !== 'string' || !UUID.test(id))
      throw new UsageError(
        `--id: expected an event id (a UUID)${typeof id === 'string' ? `, not ${JSON.stringify(id)}` : ''}`,
      );
  }
  return { ids: ids as string[] };
}

export function listLimit(value: ParsedValues[string]): number | undefined {
  if (value === undefined) return undefined;
  const limit = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : 0;
  if (limit < 1) throw new UsageError('--limit: expected a positive integer');
  return limit;
}

export async function deadLetters(
  config: Config,
  retry: RetrySelection | undefined,
  limit: number,
  json: boolean,
): Promise<void> {
  // Dead letters are written (retried) on the primary, also when DATABASE_URL leads to a standby.
  const databases = await openDatabases(config, { max: 2 });
  const db = databases.primary;
  try {
    if (retry) {
      const ids = await retryDeadLetters(db, config.table, retry);
      // The ids only when named: --all may move many thousands.
      const named = 'ids' in retry ? `: ${ids.join(', ')}` : '';
      process.stdout.write(
        ids.length === 0
          ? 'no dead letters to retry\n'
          : `${ids.length} dead letter${ids.length === 1 ? '' : 's'} put back into the outbox${named}\n`,
      );
      return;
    }
    const list = await listDeadLetters(db, limit);
    process.stdout.write(json ? `${JSON.stringify(list)}\n` : `${formatDeadLetters(list)}\n`);
  } finally {
    await databases.end();
  }
}
