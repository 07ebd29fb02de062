// Liveness: the process answers and its event loop is not stuck. A loop blocked for seconds (a
// runaway synchronous task) still answers /healthz once it unblocks, so the probe reports the
// worst delay seen over the last two windows rather than only the current instant.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';

/** Above this event-loop delay /healthz fails (the relay keeps no work on the loop for that long). */
export const DEFAULT_MAX_LOOP_DELAY_MS = 5_000;
const WINDOW_MS = 10_000;

export interface LoopHealth {
  /** undefined when healthy, else a short reason. */
  unhealthyReason(): string | undefined;
  stop(): void;
}

export function loopHealthVerdict(maxDelayMs: number, thresholdMs: number): string | undefined {
  return maxDelayMs > thresholdMs
    ? `event loop delayed ${Math.round(maxDelayMs)} ms (limit ${thresholdMs} ms)`
    : undefined;
}

export function monitorLoopHealth(thresholdMs = DEFAULT_MAX_LOOP_DELAY_MS): LoopHealth {
  const histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  histogram.enable();
  let previousMaxMs = 0;
  const rotate = setInterval(() => {
    previousMaxMs = histogram.max / 1e6;
    histogram.reset();
  }, WINDOW_MS);
  rotate.unref();
  return {
    unhealthyReason: () => loopHealthVerdict(Math.max(previousMaxMs, histogram.max / 1e6), thresholdMs),
    stop: () => {
      clearInterval(rotate);
      histogram.disable();
    },
  };
}
