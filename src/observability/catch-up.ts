// When to log "caught up": after a backlog (the start, a broker outage, a paused stream), once the
// watermark reaches the server's WAL position again. Pure: the relay feeds it what it sees.

/** Events confirmed later than this after their commit mean the relay was behind. */
export const BACKLOG_THRESHOLD_MS = 1_000;

export class CatchUpTracker {
  // A (re)start always begins with an unknown backlog.
  private behind = true;
  private eventsSince = 0;
  private worstLagMs = 0;

  constructor(private readonly thresholdMs = BACKLOG_THRESHOLD_MS) {}

  /** A new replication session starts from the slot's confirmed position. */
  restart(): void {
    this.behind = true;
  }

  /** An event was completed `lagMs` after its commit. */
  completed(lagMs: number): void {
    this.eventsSince += 1;
    if (lagMs > this.worstLagMs) this.worstLagMs = lagMs;
    if (lagMs > this.thresholdMs) this.behind = true;
  }

  /**
   * The watermark reached the server's position with nothing in flight. Returns what to log when
   * this ends a backlog, else undefined.
   */
  reachedServer(): { events: number; maxLagMs: number } | undefined {
    const summary = this.behind ? { events: this.eventsSince, maxLagMs: this.worstLagMs } : undefined;
    this.behind = false;
    this.eventsSince = 0;
    this.worstLagMs = 0;
    return summary;
  }
}
