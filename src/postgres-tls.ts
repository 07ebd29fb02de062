// PostgreSQL TLS settings (libpq's PG* variables) folded into DATABASE_URL, for config.ts.
import { existsSync, statSync } from 'node:fs';
import { ConfigError } from './config-fields.js';

/** The PG* TLS variables, validated (config.ts declares them). */
export type PostgresTlsEnv = { readonly DATABASE_URL: string } & {
  readonly [Variable in (typeof PG_TLS_PARAMETERS)[number][0]]: string | undefined;
};

const PG_TLS_PARAMETERS = [
  ['PGSSLMODE', 'sslmode'],
  ['PGSSLROOTCERT', 'sslrootcert'],
  ['PGSSLCERT', 'sslcert'],
  ['PGSSLKEY', 'sslkey'],
] as const;

/**
 * PostgreSQL TLS goes into the connection string, which every connection the relay opens (pool,
 * replication stream, leadership lock, slot creation) is built from: node-postgres reads sslmode,
 * sslrootcert, sslcert and sslkey from it. The PG* variables fill in what the URL does not set.
 */
export function withPostgresTls(
  e: PostgresTlsEnv,
  /** The URL's variable (OUTBOX_PRIMARY_URL takes the same TLS settings). */
  variable = 'DATABASE_URL',
  url = e.DATABASE_URL,
): string {
  // Only the query string is parsed: the rest (unix socket hosts, encoded passwords) stays verbatim.
  const queryStart = url.indexOf('?');
  const query = new URLSearchParams(queryStart < 0 ? '' : url.slice(queryStart + 1));
  for (const [, parameter] of PG_TLS_PARAMETERS) {
    const path = query.get(parameter);
    if (parameter !== 'sslmode' && path !== null && !(existsSync(path) && statSync(path).isFile()))
      throw new ConfigError(variable, `${parameter} must name an existing file`);
  }
  const added = PG_TLS_PARAMETERS.filter(
    ([variable, parameter]) => e[variable] !== undefined && !query.has(parameter),
  ).map(([variable, parameter]) => `${parameter}=${encodeURIComponent(e[variable]!)}`);
  if (added.length === 0) return url;
  return `${url}${queryStart < 0 ? '?' : '&'}${added.join('&')}`;
}
