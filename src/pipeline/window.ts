// The in-flight window: how many events, and how many bytes, were dispatched to the sinks and not
// yet completed. No I/O.
//
// An event enters when it is dispatched and leaves once its row is completed. A full window pauses
// the replication stream (backpressure through the socket, never a growing buffer); a paused window
// resumes once it is back at half, so the stream is not paused and resumed on every event. The sweep
// of a new slot reads at its own pace and waits for room instead (untilRoom).
import { sleep } from './sleep.js';

/** Bytes an event costs besides its payload (headers, ids, bookkeeping). */
export const EVENT_OVERHEAD_BYTES = 256;

export class InFlightWindow {
  private eventCount = 0;
  private byteCount = 0;
  private pausedForRoom = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {}

  /** Events dispatched and not yet completed (the outbox_relay_in_flight_events gauge). */
  get events(): number {
    return this.eventCount;
  }

  get bytes(): number {
    return this.byteCount;
  }

  /** True from the event that filled the window until it is back at half (or a new stream starts). */
  get paused(): boolean {
    return this.pausedForRoom;
  }

  add(bytes: number): void {
    this.eventCount += 1;
    this.byteCount += bytes;
  }

  remove(bytes: number): void {
    this.eventCount -= 1;
    this.byteCount -= bytes;
  }

  /** Full at `fraction` of either limit. */
  full(fraction = 1): boolean {
    return this.eventCount >= this.maxEvents * fraction || this.byteCount >= this.maxBytes * fraction;
  }

  /** After a dispatch: true when the window just filled, and the stream must pause. */
  pauseIfFull(): boolean {
    if (this.pausedForRoom || !this.full()) return false;
    this.pausedForRoom = true;
    return true;
  }

  /** After completions: true when a paused window is back under half, and the stream may resume. */
  resumeIfHalf(): boolean {
    if (!this.pausedForRoom || this.full(0.5)) return false;
    this.pausedForRoom = false;
    return true;
  }

  /** A new stream reads from the start: it is not paused, whatever the previous one was. */
  resetPause(): void {
    this.pausedForRoom = false;
  }

  /** Wakes every waiter; each re-checks its own condition (empty, room, or a deadline). */
  notify(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  /** Resolves when the window has room, or once `signal` is aborted. */
  async untilRoom(signal: AbortSignal): Promise<void> {
    while (this.full() && !signal.aborted) await this.changed();
  }

  /** Resolves when nothing is in flight, or `deadline()` (read again at every change) has passed. */
  async untilEmpty(deadline: () => number): Promise<void> {
    while (this.eventCount > 0 && Date.now() < deadline()) {
      const at = deadline();
      await (Number.isFinite(at) ? Promise.race([this.changed(), sleep(at - Date.now())]) : this.changed());
    }
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
