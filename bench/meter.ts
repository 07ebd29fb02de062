// Measures a window of a scenario: wall time and the CPU of each party (the process under test,
// PostgreSQL minus the bench's own backends, the broker, the bench itself, everything else).
import {
  childrenCpuSeconds,
  clusterCpu,
  cpuSeconds,
  machineBusySeconds,
  memoryMiB,
  selfCpuSeconds,
} from './proc.js';
import { round } from './stats.js';

export interface MeterTargets {
  /** Absent when PostgreSQL takes no part (the raw publish baseline). */
  readonly postmasterPid?: number;
  /** The relay or polling relay under test. */
  readonly processPid?: number;
  /**
   * The process under test is a child of the bench that exits at the end of the window (pg_recvlogical):
   * its CPU is read from the bench's reaped-children times instead.
   */
  readonly exitingChild?: boolean;
  readonly brokerPid?: number;
  /** Backends of the bench's own connections (writers, monitoring): not the relay's cost. */
  readonly benchBackends: () => readonly number[];
}

export interface Cost {
  readonly seconds: number;
  /** CPU seconds of the process under test (utime + stime). */
  readonly processCpuSeconds: number | undefined;
  /** Its peak resident set (VmHWM) at the end of the window, MiB. */
  readonly processPeakRssMiB: number | undefined;
  /** PostgreSQL server processes, the bench's own backends excluded. */
  readonly postgresCpuSeconds: number;
  /** The bench's own backends (writers inserting the events, monitoring queries). */
  readonly benchBackendsCpuSeconds: number;
  readonly brokerCpuSeconds: number | undefined;
  /** The bench process (load writers, consumers): it shares the machine. */
  readonly benchCpuSeconds: number;
  /** Busy CPU of the whole machine; minus all of the above, what other users of the machine took. */
  readonly machineBusySeconds: number;
  readonly otherCpuSeconds: number;
}

interface Snapshot {
  readonly at: number;
  readonly process: number;
  readonly cluster: number;
  readonly backends: Map<number, number>;
  readonly broker: number;
  readonly bench: number;
  readonly machine: number;
}

export class Meter {
  private readonly start: Snapshot;

  constructor(private readonly targets: MeterTargets) {
    this.start = this.snapshot();
  }

  /**
   * Ends the window. Call it while the process under test and the bench's backends still run, or
   * give `settleMs` when a server process ended with the window (a walsender): its CPU is counted
   * only once the postmaster has reaped it, so the CPU is read that much later than the clock.
   */
  async stop(settleMs = 0): Promise<Cost> {
    const at = performance.now();
    if (settleMs > 0) await new Promise((resolve) => setTimeout(resolve, settleMs));
    const end = { ...this.snapshot(), at };
    const { processPid, brokerPid } = this.targets;
    let benchBackends = 0;
    for (const [pid, cpu] of end.backends) benchBackends += cpu - (this.start.backends.get(pid) ?? 0);
    const processCpu = end.process - this.start.process;
    const postgres = end.cluster - this.start.cluster - benchBackends;
    const broker = end.broker - this.start.broker;
    const bench = end.bench - this.start.bench;
    const machine = end.machine - this.start.machine;
    return {
      seconds: round((end.at - this.start.at) / 1000, 3)!,
      processCpuSeconds: processPid === undefined ? undefined : round(processCpu, 2),
      processPeakRssMiB:
        processPid === undefined || this.targets.exitingChild
          ? undefined
          : round(memoryMiB(processPid)?.peakRss, 1),
      postgresCpuSeconds: round(postgres, 2)!,
      benchBackendsCpuSeconds: round(benchBackends, 2)!,
      brokerCpuSeconds: brokerPid === undefined ? undefined : round(broker, 2),
      benchCpuSeconds: round(bench, 2)!,
      machineBusySeconds: round(machine, 2)!,
      otherCpuSeconds: round(
        Math.max(0, machine - processCpu - postgres - benchBackends - broker - bench),
        2,
      )!,
    };
  }

  private snapshot(): Snapshot {
    const { postmasterPid, processPid, brokerPid, benchBackends } = this.targets;
    const cluster =
      postmasterPid === undefined
        ? { total: 0, perPid: new Map<number, number>() }
        : clusterCpu(postmasterPid);
    const backends = new Map<number, number>();
    for (const pid of benchBackends()) backends.set(pid, cluster.perPid.get(pid) ?? 0);
    return {
      at: performance.now(),
      process:
        processPid === undefined
          ? 0
          : this.targets.exitingChild
            ? childrenCpuSeconds()
            : cpuSeconds(processPid),
      cluster: cluster.total,
      backends,
      broker: brokerPid === undefined ? 0 : cpuSeconds(brokerPid),
      bench: selfCpuSeconds(),
      machine: machineBusySeconds(),
    };
  }
}
