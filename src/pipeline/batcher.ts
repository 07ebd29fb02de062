// Collects items and hands them to `flush` in batches, one batch at a time: while a batch is being
// flushed, the next one fills. No timers: a batch leaves as soon as the previous one is done, so
// batches grow with the load and a lone item waits only for the current tick to end.

export class SerialBatcher<T> {
  private readonly queue: T[] = [];
  private running = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly maxBatch: number,
    /** Must not reject: retrying is the flusher's business. */
    private readonly flush: (batch: T[]) => Promise<void>,
  ) {}

  get size(): number {
    return this.queue.length;
  }

  /** True while a batch is being flushed or items wait for one. */
  get busy(): boolean {
    return this.running;
  }

  push(item: T): void {
    this.queue.push(item);
    if (!this.running) {
      this.running = true;
      setImmediate(() => void this.loop());
    }
  }

  /** Resolves once every pushed item was flushed. */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async loop(): Promise<void> {
    while (this.queue.length > 0) {
      await this.flush(this.queue.splice(0, this.maxBatch));
    }
    this.running = false;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
