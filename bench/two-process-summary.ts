/**
 * Tables for BENCHMARKS.md from one or more two-process results files (bench/two-process.ts):
 *
 *   npx tsx bench/two-process-summary.ts bench/results/two-process-A.json [B.json ...]
 *
 * Per system and case (throughput, latency, fan-out): the ratio to raw TLS (same window,
 * same run; raw fan-out for the broadcast) of each run and their median, with the median
 * absolute figure; with `peerpost acked` in the runs, the ratio acked / plain per run and
 * case; then, per system and size, the median over runs of each side's CPU µs/msg (main
 * thread + other threads) and GC figures (with the mark-compacts among them); the processes
 * that spent a run in V8's marking state (a mark-compact after every other collection,
 * docs/operations.md), with the node flags the run gave its processes; last, each run's machine probe
 * (bench/machine-probe.ts: the host's speed for memory-bound code per CPU, before and
 * after the rounds), where the files have one.
 */
import { readFileSync } from 'node:fs';
import { median } from './lib.js';
import type { CpuProbe } from './machine-probe.js';
import {
  FANOUT_SUITE,
  LATENCY_SUITE,
  THROUGHPUT_SUITE,
  type TwoProcessResults,
} from './two-process-results.js';

interface Side {
  usPerMsg: number;
  /** Per measured round: that round's CPU deltas (with its collections) and length. */
  rounds?: { cpu: { gcMajor: number }; ms: number; messages: number }[];
  mainUsPerMsg: number;
  otherUsPerMsg: number;
  /** Of the whole, the kernel's (files before round 30 have none). */
  systemUsPerMsg?: number;
  gcPer10k: number;
  majorGcPer10k: number;
  gcPauseUsPerMsg: number;
}
interface Cpu {
  system: string;
  size: string;
  sender: Side;
  receiver: Side;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: tsx bench/two-process-summary.ts <results.json> [...]');
  process.exit(2);
}
const runs = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as TwoProcessResults);

const fmt = (v: number, unit: string) =>
  unit === 'msg/s'
    ? `${Math.round(v).toLocaleString('en-US')} msg/s`
    : `${v >= 100 ? Math.round(v) : v.toFixed(1)} µs`;
const x = (v: number) => `${v.toFixed(2)}x`;
const n = (v: number) => (Number.isNaN(v) ? 'n/a' : v.toFixed(v >= 10 ? 0 : v >= 1 ? 1 : 2));
/** ` (0.34 major)` where there were mark-compacts, as bench/two-process.ts prints them. */
const majors = (per10k: number) => (per10k > 0 ? ` (${per10k.toFixed(2)} major)` : '');
/** The node flags a run gave its processes (`--sender-flags`, `--receiver-flags`), from its command. */
const nodeFlags = (command: string): string =>
  (command.match(/--(?:sender|receiver)-flags=(?:"[^"]*"|\S+)/g) ?? []).join(' ') || 'none';

for (const suite of [THROUGHPUT_SUITE, LATENCY_SUITE, FANOUT_SUITE]) {
  const first = runs[0]!.figures.filter((f) => f.suite === suite);
  if (first.length === 0) continue;
  const cases = [...new Set(first.map((f) => f.case!))];
  const systems = [...new Set(first.map((f) => f.system!))];
  console.log(`\n${suite}: median over ${runs.length} run(s) of the ratio (median absolute figure)\n`);
  console.log(`| system | ${cases.join(' | ')} |`);
  console.log(`| --- |${' --- |'.repeat(cases.length)}`);
  const perRun: string[] = [];
  for (const system of systems) {
    const cells = cases.map((kase) => {
      const ratios: number[] = [];
      const values: number[] = [];
      let unit = '';
      for (const r of runs) {
        const f = r.figures.find((y) => y.suite === suite && y.system === system && y.case === kase);
        const b = f && r.figures.find((y) => y.suite === suite && y.name === f.baseline);
        if (!f || !b) continue;
        unit = f.unit;
        values.push(f.value);
        ratios.push(f.value / b.value);
      }
      if (ratios.length === 0) return '';
      perRun.push(`| ${system} ${kase} | ${ratios.map(x).join(' | ')} | **${x(median(ratios))}** |`);
      return `**${x(median(ratios))}** (${fmt(median(values), unit)})`;
    });
    console.log(`| ${system} | ${cells.join(' | ')} |`);
  }
  if (runs.length > 1) {
    console.log(`\nper run:\n\n| figure | ${runs.map((_, i) => `run ${i + 1}`).join(' | ')} | median |`);
    console.log(`| --- |${' --- |'.repeat(runs.length + 1)}`);
    for (const line of perRun) console.log(line);
  }
}

// Acked / plain, same run (the target: acked >= 0.7x plain).
const ACKED = 'peerpost acked';
const PLAIN = 'peerpost';
if (runs.some((r) => r.figures.some((f) => f.system === ACKED))) {
  console.log(`\nacked / plain (${ACKED} over ${PLAIN}, same run; latency: lower is better)\n`);
  console.log(`| case | ${runs.map((_, i) => `run ${i + 1}`).join(' | ')} | median |`);
  console.log(`| --- |${' --- |'.repeat(runs.length + 1)}`);
  for (const suite of [THROUGHPUT_SUITE, LATENCY_SUITE]) {
    const cases = [...new Set(runs[0]!.figures.filter((f) => f.suite === suite).map((f) => f.case!))];
    for (const kase of cases) {
      const ratios: number[] = [];
      for (const r of runs) {
        const of = (system: string) =>
          r.figures.find((f) => f.suite === suite && f.system === system && f.case === kase)?.value;
        const acked = of(ACKED);
        const plain = of(PLAIN);
        if (acked !== undefined && plain !== undefined) ratios.push(acked / plain);
      }
      if (ratios.length > 0)
        console.log(`| ${kase} | ${ratios.map(x).join(' | ')} | **${x(median(ratios))}** |`);
    }
  }
}

console.log(
  `\nCPU µs/msg, whole process = main thread + other threads (of the whole, the time in the kernel), and GC (collections per 10k messages, main-thread pause µs/msg; rows RTT 64B: per round trip); median over ${runs.length} run(s)\n`,
);
console.log('| system | size | sender CPU | sender GC | receiver CPU | receiver GC |');
console.log('| --- | --- | --- | --- | --- | --- |');
const cpus = runs.map((r) => r.cpu as Cpu[]);
for (const c of cpus[0]!) {
  const all = cpus.map((cs) => cs.find((y) => y.system === c.system && y.size === c.size)).filter((y) => y);
  const m = (f: (s: Cpu) => number) => median(all.map((y) => f(y!)));
  const side = (k: 'sender' | 'receiver') =>
    `${n(m((y) => y[k].usPerMsg))} = ${n(m((y) => y[k].mainUsPerMsg))} + ${n(m((y) => y[k].otherUsPerMsg))}` +
    ` (kernel ${n(m((y) => y[k].systemUsPerMsg ?? Number.NaN))}) | ` +
    `${m((y) => y[k].gcPer10k).toFixed(1)}${majors(m((y) => y[k].majorGcPer10k))}, ${n(m((y) => y[k].gcPauseUsPerMsg))} µs`;
  console.log(`| ${c.system} | ${c.size} | ${side('sender')} | ${side('receiver')} |`);
}

/**
 * The processes that spent their rounds in V8's marking state (docs/operations.md, "Heavy
 * receivers"): more than {@link MARKING_STATE_ROUNDS_PER_S} mark-compacts a second over their
 * measured rounds, where a process out of it has none or one (lower than `peerpost
 * node`'s alarm, MARKING_STATE_PER_S in src/node/marking-state.ts: a benchmark's rounds
 * last seconds, and a process partly in the state counts here). Which side of which system
 * draws it decides much of a run's 1 KiB and 64 KiB ratios, so each run's list is shown.
 */
const MARKING_STATE_ROUNDS_PER_S = 2;
const inMarkingState = (side: Side): number | undefined => {
  const rounds = side.rounds ?? [];
  const ms = rounds.reduce((a, r) => a + r.ms, 0);
  const perS = ms > 0 ? (rounds.reduce((a, r) => a + r.cpu.gcMajor, 0) * 1000) / ms : 0;
  return perS > MARKING_STATE_ROUNDS_PER_S ? perS : undefined;
};
console.log(
  `\nprocesses in V8's marking state (more than ${MARKING_STATE_ROUNDS_PER_S} mark-compacts a second over their rounds; docs/operations.md, "Heavy receivers"), per run\n`,
);
console.log('| run | node flags | processes in the marking state |');
console.log('| --- | --- | --- |');
runs.forEach((r, i) => {
  const found: string[] = [];
  for (const c of r.cpu as Cpu[]) {
    if (c.size.startsWith('RTT')) continue;
    for (const k of ['sender', 'receiver'] as const) {
      const perS = inMarkingState(c[k]);
      if (perS !== undefined) found.push(`${c.system} ${c.size} ${k} (${perS.toFixed(0)}/s)`);
    }
  }
  console.log(`| run ${i + 1} | ${nodeFlags(r.command)} | ${found.join('; ') || 'none'} |`);
});

const probed = runs.filter((r) => (r.machineProbe?.before.length ?? 0) > 0);
if (probed.length > 0) {
  console.log(
    '\nmachine probe (bench/machine-probe.ts), per run, before -> after the rounds: ms per unit of memory-bound work, per CPU (lower is faster; the arithmetic unit beside it for scale)\n',
  );
  console.log('| run | before | after |');
  console.log('| --- | --- | --- |');
  const cells = (ps: readonly CpuProbe[]) =>
    ps
      .map((p) => `CPU ${p.cpu}: memory ${p.memoryMs}, copy ${p.copyMs}, arithmetic ${p.arithmeticMs}`)
      .join('; ') || 'n/a';
  for (const [i, r] of runs.entries()) {
    const probe = r.machineProbe;
    if (probe !== undefined && probe.before.length > 0)
      console.log(`| run ${i + 1} | ${cells(probe.before)} | ${cells(probe.after)} |`);
  }
}
