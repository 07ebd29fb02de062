// OUTBOX_SLOT_FAILOVER (PostgreSQL 17+): what the relay can check from the primary before it creates
// or uses a failover slot. Pure: the facts come from db/preflight-sql.ts failoverSettings().
//
// An older server cannot keep the slot across a failover at all: the setting is refused (exit 2).
// An empty synchronized_standby_slots is only a warning: slots are still synchronised, but the relay
// may then publish transactions a standby has not received, which a failover to that standby loses
// (docs/postgres-setup.md explains the choice). A named standby slot that no standby streams from is
// a warning too, because PostgreSQL then holds logical decoding back: the relay would stall.

export interface FailoverFacts {
  /** server_version_num */
  readonly version: number;
  /** The raw setting; null before 17. */
  readonly synchronizedStandbySlots: string | null;
  readonly physicalSlots: readonly { readonly name: string; readonly active: boolean }[];
}

export interface FailoverVerdict {
  /** Why the relay must not start (one line, after the setting's name); undefined when it may. */
  readonly refusal: string | undefined;
  readonly warnings: readonly string[];
}

export const FAILOVER_MIN_VERSION = 170_000;

export function assessFailover(wanted: boolean, facts: FailoverFacts): FailoverVerdict {
  if (!wanted) return { refusal: undefined, warnings: [] };
  if (facts.version < FAILOVER_MIN_VERSION)
    return {
      refusal:
        `true needs PostgreSQL 17 or later (failover slots), this server is ` +
        `${Math.floor(facts.version / 10_000)}: set it to false or upgrade`,
      warnings: [],
    };
  const named = parseSlotList(facts.synchronizedStandbySlots ?? '');
  if (named.length === 0)
    return {
      refusal: undefined,
      warnings: [
        'synchronized_standby_slots is empty on the primary: the relay may publish transactions a ' +
          "standby has not received yet; set it to the standbys' physical slots",
      ],
    };
  const warnings = named.flatMap((name) => {
    const slot = facts.physicalSlots.find((candidate) => candidate.name === name);
    if (!slot) return [`synchronized_standby_slots names ${name}, which is not a physical slot here`];
    if (!slot.active)
      return [`no standby streams from physical slot ${name}: PostgreSQL holds the relay's stream back`];
    return [];
  });
  return { refusal: undefined, warnings };
}

/** The slot names of a synchronized_standby_slots value: comma-separated, optionally double-quoted. */
export function parseSlotList(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) =>
      part.startsWith('"') && part.endsWith('"') ? part.slice(1, -1).replace(/""/g, '"') : part,
    );
}
