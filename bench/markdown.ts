// Markdown pieces the result tables share. Pure.
import type { Cost } from './meter.js';

/** A whole number with thousands separators, or – when not measured. */
export const n = (value: number | undefined): string =>
  value === undefined ? '–' : value.toLocaleString('en-US');
/** A figure as it is (milliseconds, seconds, MiB), or – when not measured. */
export const ms = (value: number | undefined): string => (value === undefined ? '–' : String(value));

export function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

/** Share of the machine's CPUs other users took during a window (the run's noise). */
export function otherLoad(cost: Cost | undefined, cores: number): string {
  if (!cost || cost.seconds <= 0) return '–';
  return `${Math.round((cost.otherCpuSeconds / (cost.seconds * cores)) * 100)}%`;
}
