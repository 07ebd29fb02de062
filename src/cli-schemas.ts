// `outbox-relay schemas check`, the command line's part: arguments in, one line per problem out.
import { ConfigError } from './config-fields.js';
import { loadSchemaSettings } from './config.js';
import { COMPATIBILITY_MODES, compatibilityProblems } from './schemas/compatibility.js';
import type { CompatibilityMode } from './schemas/compatibility.js';
import { readSchemaDir, SchemaDirError } from './schemas/files.js';

/** A mistake on the command line: exit 2. */
export class UsageError extends Error {}

export function schemasSubcommand(positionals: string[]): 'check' {
  const [, subcommand, extra] = positionals;
  if (subcommand !== 'check') throw new UsageError('schemas: expected check');
  if (extra !== undefined)
    throw new UsageError(`schemas check: unexpected argument ${JSON.stringify(extra)}`);
  return subcommand;
}

/** Needs no database: CI of the application runs it on the schemas in its repository. */
export function schemasCheck(values: Readonly<Record<string, unknown>>): boolean {
  const settings = loadSchemaSettings();
  const dir = values['dir'] ?? settings.schemasDir;
  if (typeof dir !== 'string' || dir === '')
    throw new UsageError('schemas check: expected --dir <dir> or OUTBOX_SCHEMAS_DIR');
  const mode = values['compatibility'] ?? settings.schemasCompatibility;
  if (typeof mode !== 'string' || !(COMPATIBILITY_MODES as readonly string[]).includes(mode))
    throw new UsageError(`--compatibility: expected one of ${COMPATIBILITY_MODES.join(', ')}`);
  let problems: string[];
  try {
    problems = compatibilityProblems(readSchemaDir(dir), mode as CompatibilityMode);
  } catch (error) {
    if (error instanceof SchemaDirError) throw new ConfigError('OUTBOX_SCHEMAS_DIR', error.message);
    throw error;
  }
  for (const problem of problems) process.stdout.write(`${problem}\n`);
  if (problems.length === 0) process.stdout.write(`schemas in ${dir} are ${mode} compatible\n`);
  return problems.length === 0;
}
