// What a test started, ended when the test ends, whatever happened: the last started ends first, and
// every step runs even when one before it fails (the first failure fails the test).
import type { TestContext } from 'node:test';

export class Teardown {
  readonly #steps: (() => unknown)[] = [];

  constructor(t: TestContext) {
    t.after(() => this.#run());
  }

  /** Ends `value` with `end` when the test ends; returns the value. */
  add<T>(value: T, end: (value: T) => unknown): T {
    this.#steps.push(() => end(value));
    return value;
  }

  async #run(): Promise<void> {
    let failure: Error | undefined;
    for (const step of this.#steps.reverse()) {
      try {
        await step();
      } catch (error) {
        failure ??= error instanceof Error ? error : new Error(String(error));
      }
    }
    if (failure !== undefined) throw failure;
  }
}
