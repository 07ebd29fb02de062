// An SVG plot of the results, written by hand (no charting dependency): throughput against the
// baselines, latency against the polling relay and the consumer's floor, and the scaling curve. Pure.
import type { SinkResults } from './results.js';

interface Bar {
  readonly series: string;
  readonly value: number | undefined;
}

interface Group {
  readonly label: string;
  readonly bars: readonly Bar[];
}

interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly log?: boolean;
  readonly groups: readonly Group[];
}

const COLORS: Record<string, string> = {
  'outbox-relay': '#1f77b4',
  'outbox-relay p50': '#9ecae1',
  'outbox-relay p99': '#1f77b4',
  pg_recvlogical: '#7f7f7f',
  'client alone': '#2ca02c',
  'polling relay': '#d62728',
  'polling relay p50': '#f4a6a6',
  'polling relay p99': '#d62728',
  'consumer floor p50': '#a1d99b',
  'consumer floor p99': '#2ca02c',
  'peak RSS MiB': '#ff7f0e',
};

const WIDTH = 900;
const PANEL_HEIGHT = 300;
const MARGIN = { left: 70, right: 20, top: 40, bottom: 60 };

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function format(value: number): string {
  if (value >= 10_000) return `${Math.round(value / 1000)}k`;
  if (value >= 1000) return `${(value / 1000).toFixed(1)}k`;
  return value >= 10 ? String(Math.round(value)) : String(Math.round(value * 10) / 10);
}

function panelSvg(panel: Panel, top: number): string {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const values = panel.groups
    .flatMap((group) => group.bars.map((bar) => bar.value ?? 0))
    .filter((v) => v > 0);
  const max = Math.max(1, ...values);
  const min = panel.log ? Math.min(...values, max) : 0;
  const lo = panel.log ? Math.pow(10, Math.floor(Math.log10(Math.max(min, 0.1)))) : 0;
  const hi = panel.log ? Math.pow(10, Math.ceil(Math.log10(max))) : max * 1.1;
  const y = (value: number): number => {
    const share = panel.log
      ? (Math.log10(Math.max(value, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))
      : value / hi;
    return top + MARGIN.top + plotHeight * (1 - share);
  };
  const out: string[] = [
    `<text x="${MARGIN.left}" y="${top + 22}" font-size="15" font-weight="bold">${escape(panel.title)}</text>`,
    `<text x="14" y="${top + MARGIN.top + plotHeight / 2}" font-size="11" transform="rotate(-90 14 ${top + MARGIN.top + plotHeight / 2})" text-anchor="middle">${escape(panel.unit)}</text>`,
  ];
  const ticks = panel.log
    ? Array.from({ length: Math.round(Math.log10(hi / lo)) + 1 }, (_, i) => lo * 10 ** i)
    : Array.from({ length: 5 }, (_, i) => (hi / 4) * i);
  for (const tick of ticks) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(tick)}" y2="${y(tick)}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${y(tick) + 4}" font-size="10" text-anchor="end">${format(tick)}</text>`,
    );
  }
  const groupWidth = plotWidth / Math.max(1, panel.groups.length);
  panel.groups.forEach((group, g) => {
    const x0 = MARGIN.left + g * groupWidth;
    const barWidth = Math.min(40, (groupWidth * 0.8) / Math.max(1, group.bars.length));
    const start = x0 + (groupWidth - barWidth * group.bars.length) / 2;
    group.bars.forEach((bar, b) => {
      const x = start + b * barWidth;
      if (bar.value === undefined || bar.value <= 0) {
        out.push(
          `<text x="${x + barWidth / 2}" y="${y(lo || 0) - 4}" font-size="9" text-anchor="middle">n/m</text>`,
        );
        return;
      }
      const top0 = y(bar.value);
      out.push(
        `<rect x="${x + 1}" y="${top0}" width="${barWidth - 2}" height="${y(lo || 0) - top0}" fill="${COLORS[bar.series] ?? '#999'}"><title>${escape(`${group.label}: ${bar.series} ${bar.value}`)}</title></rect>`,
        `<text x="${x + barWidth / 2}" y="${top0 - 3}" font-size="9" text-anchor="middle">${format(bar.value)}</text>`,
      );
    });
    out.push(
      `<text x="${x0 + groupWidth / 2}" y="${top + PANEL_HEIGHT - MARGIN.bottom + 16}" font-size="11" text-anchor="middle">${escape(group.label)}</text>`,
    );
  });
  const series = [...new Set(panel.groups.flatMap((group) => group.bars.map((bar) => bar.series)))];
  series.forEach((name, i) => {
    const x = MARGIN.left + i * 150;
    const ly = top + PANEL_HEIGHT - 18;
    out.push(
      `<rect x="${x}" y="${ly - 9}" width="10" height="10" fill="${COLORS[name] ?? '#999'}"/>`,
      `<text x="${x + 14}" y="${ly}" font-size="11">${escape(name)}</text>`,
    );
  });
  return out.join('\n');
}

export function panels(results: readonly SinkResults[]): Panel[] {
  const measured = results.filter((r) => !r.notMeasured);
  const name = (r: SinkResults): string => (r.sink === 'kafka' ? 'Kafka' : 'RabbitMQ');
  const out: Panel[] = [
    {
      title: 'Throughput against the baselines',
      unit: 'events/s',
      groups: measured.flatMap((r) => [
        {
          label: `${name(r)}, backlog`,
          bars: [
            { series: 'outbox-relay', value: r.backlog?.relay.eventsPerSecond },
            { series: 'pg_recvlogical', value: r.backlog?.recvlogical?.eventsPerSecond },
            { series: 'client alone', value: r.raw?.eventsPerSecond },
            { series: 'polling relay', value: r.backlog?.poller?.eventsPerSecond },
          ],
        },
        {
          label: `${name(r)}, live`,
          bars: [
            { series: 'outbox-relay', value: r.live?.relay.eventsPerSecond },
            { series: 'polling relay', value: r.live?.poller.eventsPerSecond },
          ],
        },
      ]),
    },
    {
      title: 'Latency, commit → consumed (log scale)',
      unit: 'ms',
      log: true,
      groups: measured.flatMap((r) =>
        (r.latency ?? []).map(({ offeredRate, relay, poller, floor }) => ({
          label: `${name(r)}, ${format(offeredRate)}/s`,
          bars: [
            { series: 'outbox-relay p50', value: relay.consumed.p50Ms },
            { series: 'outbox-relay p99', value: relay.consumed.p99Ms },
            { series: 'polling relay p50', value: poller.consumed.p50Ms },
            { series: 'polling relay p99', value: poller.consumed.p99Ms },
            ...(floor
              ? [
                  { series: 'consumer floor p50', value: floor.consumed.p50Ms },
                  { series: 'consumer floor p99', value: floor.consumed.p99Ms },
                ]
              : []),
          ],
        })),
      ),
    },
  ];
  for (const r of measured) {
    if (!r.scaling || r.scaling.backlogs.length + r.scaling.txSizes.length === 0) continue;
    const points = [
      ...r.scaling.backlogs.map((p) => ({ label: `${format(p.events)} backlog`, p })),
      ...r.scaling.txSizes.map((p) => ({ label: `tx ${format(p.txSize)}`, p })),
    ];
    out.push({
      title: `Scaling (${name(r)}): throughput and peak RSS`,
      unit: 'events/s, MiB',
      log: true,
      groups: points.map(({ label, p }) => ({
        label,
        bars: [
          { series: 'outbox-relay', value: p.relay.eventsPerSecond },
          { series: 'pg_recvlogical', value: p.recvlogicalEventsPerSecond },
          { series: 'peak RSS MiB', value: p.relay.cost.processPeakRssMiB },
        ],
      })),
    });
  }
  return out;
}

export function plotSvg(results: readonly SinkResults[]): string {
  const all = panels(results);
  const height = all.length * PANEL_HEIGHT + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...all.map((panel, i) => panelSvg(panel, i * PANEL_HEIGHT)),
    `<text x="${WIDTH - MARGIN.right}" y="${height - 6}" font-size="9" text-anchor="end" fill="#666">${escape(`outbox-relay bench, ${results[0]?.date.slice(0, 10) ?? ''}; n/m: not measured`)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
