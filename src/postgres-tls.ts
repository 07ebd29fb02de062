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
export function withPostgresTls(e: PostgresTlsEnv): string {
  // Only the query string is parsed: the rest (unix socket hosts, encoded passwords) stays verbatim.
  const queryStart = e.DATABASE_URL.indexOf('?');
  const query = new URLSearchParams(queryStart < 0 ? '' : e.DATABASE_URL.slice(queryStart + 1));
  for (const [, parameter] of PG_TLS_PARAMETERS) {
    const path = query.get(parameter);
    if (parameter !== 'sslmode' && path !== null && !(existsSync(path) && statSync(path).isFile()))
      throw new ConfigError('DATABASE_URL', `${parameter} must name an existing file`);
  }
  const added = PG_TLS_PARAMETERS.filter(
    ([variable, parameter]) => e[variable] !== undefined && !query.has(parameter),
  ).map(([variable, parameter]) => `${parameter}=${encodeURIComponent(e[variable]!)}`);
  if (added.length === 0) return e.DATABASE_URL;
  return `${e.DATABASE_URL}${queryStart < 0 ? '?' : '&'}${added.join('&')}`;
}
