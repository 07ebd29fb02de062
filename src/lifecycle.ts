// Resources released in reverse order of acquisition, also when start-up fails partway.

export class Resources {
  private readonly releases: (() => unknown)[] = [];

  /** Registers how to release a resource just acquired. */
  defer(release: () => unknown): void {
    this.releases.push(release);
  }

  /**
   * Releases everything acquired so far, last first. Every release runs even when one fails; the
   * first failure is rethrown at the end. Safe to call more than once (a second call releases nothing).
   */
  async release(): Promise<void> {
    let failure: { error: unknown } | undefined;
    for (let release = this.releases.pop(); release; release = this.releases.pop()) {
      try {
        await release();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }
}
