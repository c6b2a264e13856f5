/**
 * CPU time and garbage collections of this process, split the way the two-process
 * benchmark reports them (bench/two-process.ts, and its receiving child):
 *
 * - `totalUs`: `process.cpuUsage()` (user + system) of the whole process, every thread;
 *   `systemUs` the system part of it (time in the kernel: socket calls, and on loopback
 *   the TCP processing the kernel does for either end while in this process's calls).
 * - `mainUs`: the main (JavaScript) thread alone: the first field of
 *   `/proc/self/task/<pid>/schedstat` (time on a CPU, ns; the main thread's task id is the
 *   process id), or, where schedstat is missing, utime + stime of
 *   `/proc/self/task/<pid>/stat` (clock ticks, taken as 100 Hz). NaN off Linux.
 *   `totalUs - mainUs` is then every other thread: V8's GC helper threads (parallel
 *   scavenge and marking, concurrent sweeping), the compiler threads and libuv's pool.
 * - `gcCount` / `gcMajor` / `gcMs`: garbage collections seen by a `PerformanceObserver`
 *   of `gc` entries (all kinds / mark-sweep-compact only) and the sum of their durations:
 *   the main thread's pauses, in ms.
 *
 * Each figure is cumulative since `cpuMeter()` was called; subtract two samples.
 */
import { readFileSync } from 'node:fs';
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';

export interface CpuSample {
  totalUs: number;
  /** Of `totalUs`, the time in the kernel (system time, every thread). */
  systemUs: number;
  mainUs: number;
  gcCount: number;
  gcMajor: number;
  gcMs: number;
}

function readMainThreadUs(): number {
  const task = `/proc/self/task/${process.pid}`;
  try {
    const ns = Number(readFileSync(`${task}/schedstat`, 'latin1').split(' ')[0]);
    if (Number.isFinite(ns)) return ns / 1000;
  } catch {
    // No schedstat (kernel without CONFIG_SCHED_INFO): fall back to stat.
  }
  try {
    const stat = readFileSync(`${task}/stat`, 'latin1');
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime (14), stime (15)
    return Number.isFinite(ticks) ? ticks * 10_000 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export interface CpuMeter {
  /** The cumulative figures so far. */
  sample(): CpuSample;
  /** Stops observing garbage collections. */
  stop(): void;
}

/** Starts counting. */
export function cpuMeter(): CpuMeter {
  let gcCount = 0;
  let gcMajor = 0;
  let gcMs = 0;
  const add = (entries: readonly PerformanceEntry[]) => {
    for (const e of entries) {
      gcCount++;
      gcMs += e.duration;
      const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcMajor++;
    }
  };
  const observer = new PerformanceObserver((list) => add(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  const cpu0 = process.cpuUsage();
  const main0 = readMainThreadUs();
  return {
    sample() {
      // Entries not yet delivered to the callback.
      add(observer.takeRecords());
      const cpu = process.cpuUsage(cpu0);
      return {
        totalUs: cpu.user + cpu.system,
        systemUs: cpu.system,
        mainUs: readMainThreadUs() - main0,
        gcCount,
        gcMajor,
        gcMs,
      };
    },
    stop: () => observer.disconnect(),
  };
}

/** `b - a`, field by field. */
export function cpuDelta(a: CpuSample, b: CpuSample): CpuSample {
  return {
    totalUs: b.totalUs - a.totalUs,
    systemUs: b.systemUs - a.systemUs,
    mainUs: b.mainUs - a.mainUs,
    gcCount: b.gcCount - a.gcCount,
    gcMajor: b.gcMajor - a.gcMajor,
    gcMs: b.gcMs - a.gcMs,
  };
}

export const ZERO_CPU: CpuSample = { totalUs: 0, systemUs: 0, mainUs: 0, gcCount: 0, gcMajor: 0, gcMs: 0 };
