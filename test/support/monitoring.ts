// The metric names deploy/monitoring's PromQL expressions (alert rules, Grafana dashboard) use, and
// those a /metrics page exposes, for the repository checks.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { ROOT } from '../kit/services.js';

const MONITORING = `${ROOT}/deploy/monitoring`;
// Series Prometheus makes itself for every target.
const SYNTHETIC = new Set(['up']);

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
