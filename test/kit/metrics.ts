// Reads a relay's /metrics (the Prometheus text format), for the tests' assertions and the bench.
import type { RelayProcess } from './relay.js';

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** The base URL of a relay started with METRICS_PORT=0, from its 'starting' log line. */
export async function probeUrl(relay: RelayProcess): Promise<string> {
  const line = await relay.waitForLog('starting');
  return new URL(String(line['metrics'])).origin.replace('0.0.0.0', '127.0.0.1');
}

export async function scrape(base: string): Promise<{ text: string; samples: Sample[] }> {
  const response = await fetch(`${base}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const text = await response.text();
  return { text, samples: parseSamples(text) };
}

export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of one sample, or undefined; `labels` must all match. */
export function sampleValue(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  )?.value;
}
