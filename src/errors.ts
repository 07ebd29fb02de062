// What the relay does with errors it did not make: one way to turn a thrown value into an Error,
// and decisions taken from codes (PostgreSQL's SQLSTATE; each broker's codes live beside its sink in
// src/sinks/), never from message text.

/** Any thrown value as an Error: libraries and callbacks also throw strings and plain objects. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)), {
    cause: value,
  });
}

/** The message of any thrown value, for logs, `status` and dead letters. */
export function errorMessage(value: unknown): string {
  return coerceError(value).message;
}

/** PostgreSQL's SQLSTATE of an error from pg (five characters), if it has one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** How the replication loop answers a PostgreSQL error, by SQLSTATE; any other: reconnect and warn. */
export const REPLICATION_ERRORS: Readonly<Record<string, 'slot_busy'>> = {
  // object_in_use: START_REPLICATION on a slot whose walsender (a dead leader's, for a moment after
  // its crash) is still active. The new leader simply tries again.
  '55006': 'slot_busy',
};

export function replicationErrorKind(error: unknown): 'slot_busy' | undefined {
  const state = sqlState(error);
  return state === undefined ? undefined : REPLICATION_ERRORS[state];
}
