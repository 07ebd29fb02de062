// Decoding on a hot standby (PostgreSQL 16+): DATABASE_URL may lead to a standby, where the slot
// lives and is streamed from; OUTBOX_PRIMARY_URL then leads to its primary, which takes every write
// (db/databases.ts routes them). Pure: the facts come from db/preflight-sql.ts serverFacts() and
// IDENTIFY_SYSTEM.
//
// - DATABASE_URL a primary: everything goes there. OUTBOX_PRIMARY_URL, if set, is not used (after a
//   promotion the former standby is the primary): a warning says so.
// - DATABASE_URL a standby: it must be 16+ (logical decoding in recovery), OUTBOX_PRIMARY_URL must be
//   set and lead to a primary (not in recovery) of the same cluster and database, and the slot cannot
//   be a failover slot (those live on a primary). Anything else is refused (exit 2).
// - hot_standby_feedback off on the standby is a warning: the primary may then vacuum catalog rows
//   the slot needs, which invalidates it (rows_removed) and costs a table sweep.

export interface ServerFacts {
  /** server_version_num, e.g. 160014 */
  readonly version: number;
  readonly inRecovery: boolean;
  readonly systemId: string;
  readonly database: string;
  readonly hotStandbyFeedback: boolean;
}

export type TopologyVerdict =
  | { readonly kind: 'refused'; readonly setting: string; readonly message: string }
  | { readonly kind: 'primary' | 'standby'; readonly warnings: readonly string[] };

export const STANDBY_DECODING_MIN_VERSION = 160_000;

const major = (version: number): number => Math.floor(version / 10_000);

/** `primary`: the facts of OUTBOX_PRIMARY_URL's server, undefined when the setting is unset. */
export function assessTopology(
  source: ServerFacts,
  primary: ServerFacts | undefined,
  slotFailover: boolean,
): TopologyVerdict {
  if (!source.inRecovery)
    return {
      kind: 'primary',
      warnings: primary
        ? [
            'DATABASE_URL leads to a primary: OUTBOX_PRIMARY_URL is not used, every statement goes to DATABASE_URL',
          ]
        : [],
    };
  if (source.version < STANDBY_DECODING_MIN_VERSION)
    return {
      kind: 'refused',
      setting: 'DATABASE_URL',
      message: `leads to a hot standby of PostgreSQL ${major(source.version)}: decoding on a standby needs 16 or later; point it at the primary or upgrade`,
    };
  if (!primary)
    return {
      kind: 'refused',
      setting: 'OUTBOX_PRIMARY_URL',
      message:
        'required: DATABASE_URL leads to a hot standby (pg_is_in_recovery()), so the relay needs its primary for its writes (heartbeats, completions, bookkeeping)',
    };
  if (primary.inRecovery)
    return {
      kind: 'refused',
      setting: 'OUTBOX_PRIMARY_URL',
      message: 'leads to a hot standby (pg_is_in_recovery()): expected the primary of DATABASE_URL',
    };
  if (primary.systemId !== source.systemId || primary.database !== source.database)
    return {
      kind: 'refused',
      setting: 'OUTBOX_PRIMARY_URL',
      message: `expected the primary of DATABASE_URL's standby (system ${source.systemId}, database ${source.database}), not system ${primary.systemId}, database ${primary.database}`,
    };
  if (slotFailover)
    return {
      kind: 'refused',
      setting: 'OUTBOX_SLOT_FAILOVER',
      message: 'true needs the slot on the primary; DATABASE_URL leads to a standby: set it to false',
    };
  return {
    kind: 'standby',
    warnings: source.hotStandbyFeedback
      ? []
      : [
          'hot_standby_feedback is off on the standby: the primary may remove catalog rows the slot needs (rows_removed), which costs a table sweep; turn it on',
        ],
  };
}
