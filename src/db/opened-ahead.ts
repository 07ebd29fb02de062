// A connection opened before it is asked for. A new PostgreSQL connection costs the server a
// backend (15-25 ms here); the relay's start opens its leadership session and its first replication
// connection beside the pool's first, while it loads the broker's driver, instead of one after the
// other later. What runs on them still runs when it did: only the connecting moved.

/** What is opened ahead: a connection that can say it was lost, and be closed. */
export interface Closable {
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export interface OpenedAhead<T extends Closable> {
  /**
   * The connection, once: waits for it while it is still connecting. Undefined when it was taken,
   * expired, failed to open or was lost since: the caller opens one as usual.
   */
  take(): Promise<T | undefined>;
  /** Closes it unless taken. Safe to call more than once. */
  discard(): Promise<void>;
}

/**
 * Holds `opening` for the first `take()` within `ttlMs`; after that it is closed, so that an
 * instance that never uses it (a standby waiting for leadership) does not keep it.
 */
export function openAhead<T extends Closable>(opening: Promise<T>, ttlMs: number): OpenedAhead<T> {
  let handedOut = false;
  const opened = opening.catch(() => undefined);
  const close = async (connection: T | undefined): Promise<void> => {
    await connection?.release().catch(() => undefined);
  };
  const discard = async (): Promise<void> => {
    if (handedOut) return;
    handedOut = true;
    clearTimeout(expiry);
    await close(await opened);
  };
  const expiry = setTimeout(() => void discard(), ttlMs);
  expiry.unref();
  return {
    async take() {
      if (handedOut) return undefined;
      handedOut = true;
      clearTimeout(expiry);
      const connection = await opened;
      if (!connection?.lost.aborted) return connection;
      await close(connection);
      return undefined;
    },
    discard,
  };
}
