// Summarises a V8 CPU profile (node --cpu-prof): self time by package and the hottest functions, so
// the report can say where the relay's time goes.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  readonly totalMs: number;
  /** Self time by where the code lives: our dist/, each npm package, node internals, GC, idle. */
  readonly byPackage: readonly { readonly name: string; readonly ms: number; readonly share: number }[];
  readonly topFunctions: readonly {
    readonly name: string;
    readonly where: string;
    readonly ms: number;
    readonly share: number;
  }[];
}

/** Where a frame's code lives: "ours", an npm package name, "node", or V8's pseudo-frames. */
export function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : 'node (native)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  if (url.startsWith('node:')) return 'node';
  if (/\/(dist|src)\//.test(url)) return 'outbox-relay';
  return 'other';
}

export function summarizeProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, index) =>
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)),
  );
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    total += us;
    const pkg = packageOf(url, functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : pkg;
    const key = `${functionName}@${where}`;
    const entry = byFunction.get(key) ?? { name: functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
  }
  const ms = (us: number): number => Math.round(us / 100) / 10;
  const share = (us: number): number => Math.round((us / total) * 1000) / 1000;
  return {
    totalMs: ms(total),
    byPackage: [...byPackage]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, ms: ms(us), share: share(us) })),
    topFunctions: [...byFunction.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map(({ name, where, us }) => ({ name, where, ms: ms(us), share: share(us) })),
  };
}

export function readProfile(path: string): ProfileSummary {
  return summarizeProfile(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile);
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length);
  const root = /\/(dist|src|bench)\//.exec(url);
  return root ? url.slice(root.index + 1) : url.replace(/^file:\/\//, '');
}
