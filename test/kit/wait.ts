/**
 * Polls `condition` until it returns a truthy value or the deadline passes; returns that value.
 * A condition that never settles (a query or request that hangs) cannot hold the wait past its
 * deadline. `description` may be a function (async, e.g. asking a broker), called at the deadline,
 * so the error says where things stood.
 */
export async function waitFor<T>(
  description: string | (() => string | Promise<string>),
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
      const what = typeof description === 'string' ? description : await description();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** What collects messages and can say where it stands (the tests' Kafka and RabbitMQ readers). */
export interface MessageCollector<M> {
  readonly messages: M[];
  describe(): Promise<string>;
}

/** Waits until `collector` holds `count` messages (or more) and returns them; on timeout says where it stands. */
export async function waitForMessages<M>(
  collector: MessageCollector<M>,
  count: number,
  timeoutMs = 60_000,
): Promise<M[]> {
  await waitFor(
    async () => `${count} messages; have ${collector.messages.length}; ${await collector.describe()}`,
    () => collector.messages.length >= count,
    { timeoutMs },
  );
  return collector.messages;
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
