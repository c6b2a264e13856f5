/**
 * How fast each CPU of this machine runs memory-bound code right now, against
 * arithmetic-bound code: the same fixed workloads, timed in a fresh Node pinned to each
 * CPU in turn (`taskset`).
 *
 *   npx tsx bench/machine-probe.ts [--rounds=5]
 *
 * Why: on the 2-CPU virtual machines of this project, a process's CPU time per message
 * was seen to change by up to 2x from one run to the next with the same code, on both
 * the sending and the receiving side (bench/two-process.ts), and in the in-process
 * micro-benchmarks alone (bench/receive-micro.ts: 98-105 or 145-214 ns per 64 B message,
 * 2026-12-07). The profiles of a slow and a fast run had the same shape (every function
 * slower alike), an arithmetic loop kept its speed, and memory-bound workloads (those
 * below) read 1.5-5x slower on one CPU while the other was fine, in phases that came and
 * went over minutes (this probe: ~21-25 ms for `memoryMs` and `copyMs`, 29-122 ms on a
 * CPU in a slow phase, the arithmetic at ~12 throughout): the host's memory and caches,
 * shared with other machines, not the code. The two-process benchmark runs this probe
 * before and after its rounds and records it beside its figures, so that a run taken in
 * a slow phase can be told apart.
 *
 * Workloads (each a fixed amount of work; the figure is the median of `rounds` timings
 * after one warm-up):
 * - `memoryMs`: 30 x 65,536 reads at random places of a 4 MiB array (the caches and
 *   memory's latency).
 * - `copyMs`: 300 copies of 1 MiB, from two sources in turn (the caches' and memory's
 *   bandwidth).
 * - `arithmeticMs`: 10^7 steps of a linear congruential generator: neither.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { affinityOf, cpusOf } from './cpu-affinity.js';

/** One CPU's reading. */
export interface CpuProbe {
  cpu: number;
  /** The memory-bound unit of work, ms (median). */
  memoryMs: number;
  /** The copying unit of work, ms (median). */
  copyMs: number;
  /** The arithmetic-bound unit of work, ms (median). */
  arithmeticMs: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** Times both workloads `rounds` times here (one warm-up first) and returns their medians. */
function runHere(rounds: number): Omit<CpuProbe, 'cpu'> {
  const table = new Float64Array(1 << 19); // 4 MiB
  for (let i = 0; i < table.length; i++) table[i] = i;
  const places = new Uint32Array(1 << 16);
  // A fixed sequence (the same places in every process), spread over the whole table.
  let seed = 12345;
  for (let i = 0; i < places.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) | 0;
    places[i] = (seed >>> 0) % table.length;
  }
  const from = Buffer.alloc(1 << 20, 1);
  const to = Buffer.alloc(1 << 20);
  let sink = 0;
  const memory = (): number => {
    const t0 = performance.now();
    for (let k = 0; k < 30; k++) {
      for (let i = 0; i < places.length; i++) sink += table[places[i] as number] as number;
    }
    return performance.now() - t0;
  };
  const copy = (): number => {
    const t0 = performance.now();
    for (let k = 0; k < 300; k++) to.set(k & 1 ? from : table.subarray(0, from.length / 8));
    return performance.now() - t0;
  };
  const arithmetic = (): number => {
    const t0 = performance.now();
    let x = 0;
    for (let i = 0; i < 1e7; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
    sink += x;
    return performance.now() - t0;
  };
  memory();
  copy();
  arithmetic();
  const mem: number[] = [];
  const cp: number[] = [];
  const alu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    mem.push(memory());
    cp.push(copy());
    alu.push(arithmetic());
  }
  if (sink === 0.5) process.stdout.write(''); // keeps the loops' results alive
  return { memoryMs: round1(median(mem)), copyMs: round1(median(cp)), arithmeticMs: round1(median(alu)) };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

const SELF = fileURLToPath(import.meta.url);

/** CPUs probed at most: ~1.3 s each here, and the benchmark's processes are few. */
const MAX_PROBED_CPUS = 8;

/**
 * Runs the probe on each CPU this process may use (the first {@link MAX_PROBED_CPUS}),
 * one after the other, in a fresh Node pinned there; `[]` where it cannot pin (no
 * `taskset`, not Linux).
 */
export function probeMachine(rounds = 5): CpuProbe[] {
  if (process.platform !== 'linux') return [];
  const list = affinityOf(process.pid);
  if (list === undefined) return [];
  const cpus = cpusOf(list).slice(0, MAX_PROBED_CPUS);
  const out: CpuProbe[] = [];
  for (const cpu of cpus) {
    try {
      const text = execFileSync(
        'taskset',
        ['-c', String(cpu), process.execPath, '--import', 'tsx', SELF, '--child', `--rounds=${rounds}`],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 },
      );
      out.push({ cpu, ...(JSON.parse(text) as Omit<CpuProbe, 'cpu'>) });
    } catch {
      return [];
    }
  }
  return out;
}

/** One line for all CPUs: `CPU 0: memory 21 ms, copy 20 ms, arithmetic 12 ms; CPU 1: ...`. */
export function formatProbe(probe: readonly CpuProbe[]): string {
  if (probe.length === 0) return 'machine probe: not available here';
  return probe
    .map((p) => `CPU ${p.cpu}: memory ${p.memoryMs} ms, copy ${p.copyMs} ms, arithmetic ${p.arithmeticMs} ms`)
    .join('; ');
}

if (process.argv[1] === SELF) {
  const rounds = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 5) || 5;
  if (process.argv.includes('--child')) process.stdout.write(JSON.stringify(runHere(rounds)));
  else console.log(formatProbe(probeMachine(rounds)));
}
