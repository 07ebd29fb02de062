// Pure helpers for the numbers the bench reports: percentiles of exact samples, quantiles from a
// Prometheus histogram, rates and ratios.

/** The p-th percentile (0..100) of `sorted` (ascending), nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export interface LatencySummary {
  readonly samples: number;
  readonly p50Ms: number | undefined;
  readonly p95Ms: number | undefined;
  readonly p99Ms: number | undefined;
  readonly maxMs: number | undefined;
}

export function summarize(latenciesMs: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(latenciesMs).sort();
  return {
    samples: sorted.length,
    p50Ms: round(percentile(sorted, 50), 2),
    p95Ms: round(percentile(sorted, 95), 2),
    p99Ms: round(percentile(sorted, 99), 2),
    maxMs: round(sorted[sorted.length - 1], 2),
  };
}

/** Cumulative bucket counts of one histogram, by upper bound (seconds; +Inf last). */
export type Buckets = ReadonlyMap<number, number>;

/** Per-bucket difference of two cumulative snapshots of the same histogram. */
export function bucketDelta(before: Buckets, after: Buckets): Map<number, number> {
  const delta = new Map<number, number>();
  for (const [le, count] of after) delta.set(le, count - (before.get(le) ?? 0));
  return delta;
}

/**
 * The q-quantile (0..1) of a cumulative histogram, interpolated linearly inside its bucket as
 * Prometheus' histogram_quantile does. Undefined without observations.
 */
export function histogramQuantile(q: number, buckets: Buckets): number | undefined {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Number.POSITIVE_INFINITY) ?? buckets.get(bounds[bounds.length - 1]!) ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bound of bounds) {
    const count = buckets.get(bound)!;
    if (count >= rank) {
      // Past the last finite bound Prometheus answers that bound: nothing better is known.
      if (!Number.isFinite(bound)) return lower;
      const inBucket = count - below;
      return inBucket === 0 ? bound : lower + ((bound - lower) * (rank - below)) / inBucket;
    }
    lower = bound;
    below = count;
  }
  return lower;
}

/** The share of observations at or below `bound` seconds (which must be a bucket bound). */
export function shareAtMost(bound: number, buckets: Buckets): number | undefined {
  const total = buckets.get(Number.POSITIVE_INFINITY) ?? 0;
  const within = buckets.get(bound);
  return total > 0 && within !== undefined ? within / total : undefined;
}

export function ratio(numerator: number | undefined, denominator: number | undefined): number | undefined {
  if (numerator === undefined || denominator === undefined || denominator === 0) return undefined;
  return round(numerator / denominator, 3);
}

export function round(value: number | undefined, digits = 0): number | undefined {
  if (value === undefined || !Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Events per second, rounded to a whole event. */
export function rate(events: number, seconds: number): number {
  return seconds > 0 ? Math.round(events / seconds) : 0;
}

/** Scales a cost measured over `events` to 100,000 events. */
export function per100k(value: number, events: number): number | undefined {
  return events > 0 ? round((value * 100_000) / events, 3) : undefined;
}
