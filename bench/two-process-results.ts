/**
 * The results file of the two-process benchmark (bench/two-process.ts) and what makes a
 * run complete: every system it was to measure has a throughput figure for every size
 * (and the latency systems p50 and p99), and delivered exactly what it sent. Speed is
 * never judged here.
 */
import type { Failure, Figure } from './lib.js';
import type { CpuProbe } from './machine-probe.js';

export interface TwoProcessCheck {
  system: string;
  sent: number;
  delivered: number;
  drops: number;
}

export interface TwoProcessResults {
  date: string;
  quick: boolean;
  command: string;
  durationMs: number;
  expected: {
    systems: string[];
    sizes: string[];
    latencySystems: string[];
    /** Fan-out systems, each with a figure for `fanoutCase` (e.g. `to 100`). */
    fanoutSystems?: string[];
    fanoutCase?: string;
  };
  /** bench/machine-probe.ts per CPU before and after the rounds (none in quick runs and in files from before round 30). */
  machineProbe?: { before: CpuProbe[]; after: CpuProbe[] };
  figures: Figure[];
  cpu: unknown[];
  checks: TwoProcessCheck[];
  failures: Failure[];
}

export const THROUGHPUT_SUITE = 'two-process throughput';
export const LATENCY_SUITE = 'two-process latency';
export const FANOUT_SUITE = 'two-process fanout';

/** What is missing or wrong in a results file; empty when the run is complete. */
export function incomplete(r: TwoProcessResults): string[] {
  const problems: string[] = [];
  for (const f of r.failures ?? []) problems.push(`${f.suite} / ${f.system}: ${f.error.split('\n')[0]}`);
  if (!r.expected || r.expected.systems.length === 0) return [...problems, 'no systems expected'];
  const has = (suite: string, system: string, kase: string) =>
    r.figures.some(
      (f) =>
        f.suite === suite &&
        f.system === system &&
        f.case === kase &&
        Number.isFinite(f.value) &&
        f.value > 0,
    );
  for (const system of r.expected.fanoutSystems ?? []) {
    if (!has(FANOUT_SUITE, system, r.expected.fanoutCase ?? ''))
      problems.push(`${system}: no fan-out figure for ${r.expected.fanoutCase}`);
  }
  for (const system of [...r.expected.systems, ...(r.expected.fanoutSystems ?? [])]) {
    for (const size of r.expected.systems.includes(system) ? r.expected.sizes : [])
      if (!has(THROUGHPUT_SUITE, system, size)) problems.push(`${system}: no throughput figure for ${size}`);
    if (r.expected.latencySystems.includes(system))
      for (const p of ['p50', 'p99'])
        if (!has(LATENCY_SUITE, system, p)) problems.push(`${system}: no latency figure for ${p}`);
    const c = r.checks.find((x) => x.system === system);
    if (!c) problems.push(`${system}: no delivery check`);
    else if (!(c.sent > 0) || c.delivered !== c.sent || c.drops !== 0)
      problems.push(`${system}: sent ${c.sent}, delivered ${c.delivered}`);
  }
  return problems;
}
