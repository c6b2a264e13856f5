/**
 * CPU placement of processes with `taskset` (Linux, util-linux): what a process may run
 * on, and pinning it. Used by the two-process benchmark's latency rounds
 * (bench/two-process.ts) and by the machine probe (bench/machine-probe.ts).
 */
import { execFileSync } from 'node:child_process';

/**
 * Pins every thread of process `pid` to the CPUs `cpus` (a `taskset` list, e.g. `0` or
 * `0-1`); false when that cannot be done here (no `taskset`, not allowed).
 */
export function pin(pid: number, cpus: string): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The CPU list process `pid` may run on (`taskset -c -p`: e.g. `0-3` or `2,5-7`), or undefined. */
export function affinityOf(pid: number): string | undefined {
  try {
    const out = execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' });
    return /:\s*([0-9][0-9,-]*)\s*$/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

/** The CPU numbers of a `taskset` list (`0-2,5` -> 0, 1, 2, 5). */
export function cpusOf(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',')) {
    const [from, to = from] = part.split('-').map(Number) as [number, number?];
    for (let cpu = from; cpu <= (to as number); cpu++) out.push(cpu);
  }
  return out;
}
