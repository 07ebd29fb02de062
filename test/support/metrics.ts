// Reads a relay's /metrics, /readyz and the metric names PromQL expressions use, for assertions.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { RelayProcess } from './relay.js';
import { ROOT } from './services.js';

const MONITORING = `${ROOT}/deploy/monitoring`;
// Series Prometheus makes itself for every target.
const SYNTHETIC = new Set(['up']);

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

/** Every metric name a /metrics page exposes, with the series names of histograms and summaries. */
export function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name! + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name! + suffix);
  }
  return names;
}

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression selects (not functions, labels, keywords or durations). */
export function promqlMetricNames(expr: string): Set<string> {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[a-zA-Z_:][\w:]*/g)) {
    const word = match[0];
    const after = stripped.slice(match.index + word.length).trimStart();
    const before = stripped[match.index - 1] ?? ' ';
    if (after.startsWith('(') || PROMQL_WORDS.has(word.toLowerCase()) || /[\w.]/.test(before)) continue;
    names.add(word);
  }
  return names;
}

export interface DashboardPanel {
  readonly title: string;
  readonly targets?: readonly { readonly expr: string }[];
}

export async function dashboardExpressions(): Promise<{ panel: string; expr: string }[]> {
  const dashboard = JSON.parse(await readFile(`${MONITORING}/grafana-dashboard.json`, 'utf8')) as {
    panels: DashboardPanel[];
  };
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })),
  );
}

export async function alertExpressions(): Promise<{ alert: string; expr: string }[]> {
  const rules = parse(await readFile(`${MONITORING}/alerts.yml`, 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  return rules.groups.flatMap((group) => group.rules.map(({ alert, expr }) => ({ alert, expr })));
}

/** Names used by `expr` that `exported` lacks. */
export function unknownNames(expr: string, exported: Set<string>): string[] {
  return [...promqlMetricNames(expr)].filter((name) => !exported.has(name) && !SYNTHETIC.has(name));
}
