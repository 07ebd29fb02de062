// Resource usage read from /proc (Linux): CPU seconds and peak resident memory of a process, the CPU
// of a PostgreSQL cluster's server processes, and the whole machine's busy time.
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

// USER_HZ: the unit of the CPU times in /proc/<pid>/stat and /proc/stat.
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface ProcStat {
  readonly ppid: number;
  /** utime + stime: the process's own CPU, seconds. */
  readonly cpuSeconds: number;
  /** cutime + cstime: CPU of children it has waited for, seconds. */
  readonly childrenCpuSeconds: number;
}

/** Parses /proc/<pid>/stat; the command name (field 2) may contain spaces and parentheses. */
export function parseStat(text: string): ProcStat {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
  const field = (n: number): number => Number(fields[n - 3]);
  return {
    ppid: field(4),
    cpuSeconds: (field(14) + field(15)) / CLOCK_TICKS,
    childrenCpuSeconds: (field(16) + field(17)) / CLOCK_TICKS,
  };
}

export function readStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // exited
  }
}

/** CPU seconds used by a process so far (0 once it is gone). */
export function cpuSeconds(pid: number): number {
  return readStat(pid)?.cpuSeconds ?? 0;
}

/** VmHWM (peak resident set) and VmRSS of a live process, in MiB. */
export function memoryMiB(pid: number): { peakRss: number; rss: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    return { peakRss: kib('VmHWM') / 1024, rss: kib('VmRSS') / 1024 };
  } catch {
    return undefined;
  }
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/**
 * CPU seconds used so far by a PostgreSQL cluster: the postmaster, every live child, and (through
 * the postmaster's cutime/cstime) every child that already exited, such as closed backends.
 * `perPid` has the live children's own figures, to subtract the bench's own backends.
 */
export function clusterCpu(postmasterPid: number): { total: number; perPid: Map<number, number> } {
  const postmaster = readStat(postmasterPid);
  if (!postmaster) throw new Error(`PostgreSQL postmaster ${postmasterPid} is not running`);
  let total = postmaster.cpuSeconds + postmaster.childrenCpuSeconds;
  const perPid = new Map<number, number>();
  for (const pid of pids()) {
    const stat = readStat(pid);
    if (stat?.ppid !== postmasterPid) continue;
    total += stat.cpuSeconds;
    perPid.set(pid, stat.cpuSeconds);
  }
  return { total, perPid };
}

/** Busy (non-idle, non-iowait) CPU seconds of the whole machine since boot, all cores together. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [, ...values] = line.trim().split(/\s+/);
  const ticks = values.map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const busy = ticks
    .slice(0, 8)
    .reduce((sum, value, index) => (index === 3 || index === 4 ? sum : sum + value), 0);
  return busy / CLOCK_TICKS;
}

/** This process's own CPU seconds (the bench: writers, consumers, raw publishers). */
export function selfCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** CPU seconds of this process's children that exited and were reaped (pg_recvlogical). */
export function childrenCpuSeconds(): number {
  return readStat(process.pid)?.childrenCpuSeconds ?? 0;
}
