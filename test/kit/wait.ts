/**
 * Polls `condition` until it returns a truthy value or the deadline passes; returns that value.
 * A condition that never settles (a query or request that hangs) cannot hold the wait past its
 * deadline. `description` may be a function, asked at the deadline, so the error says where things
 * stood.
 */
export async function waitFor<T>(
  description: string | (() => string),
  condition: () => T | Promise<T>,
  { timeoutMs = 30_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await withinMs(Math.max(deadline - Date.now(), intervalMs), condition());
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const what = typeof description === 'string' ? description : description();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `value`, or a rejection once `ms` passed without it settling. */
export async function withinMs<T>(ms: number, value: T | Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      value,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
