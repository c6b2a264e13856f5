/**
 * Writes the generated part of BENCHMARKS.md (machine, targets, one table per suite with
 * ratios to the baseline measured in the same run) from a results file:
 *
 *   npx tsx bench/report.ts [bench/results/<date>.json]
 *
 * Without an argument it takes the newest full run (bench/results/YYYY-MM-DD.json). Only
 * the text between the `bench:generated` markers is replaced; everything else in
 * BENCHMARKS.md (intro, method, the two-process results) is kept as written.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Failure, Figure, Pending } from './lib.js';
import { evaluate } from './targets.js';

export const START = '<!-- bench:generated:start (bench/report.ts writes this part) -->';
export const END = '<!-- bench:generated:end -->';

export interface Results {
  date: string;
  quick: boolean;
  machine: { node: string; cpus: number; cpuModel: string; platform: string; memoryGiB?: number };
  command?: string;
  durationMs?: number;
  figures: Figure[];
  pending?: Pending[];
  failures?: Failure[];
}

const TITLES: Record<string, string> = {
  codec: 'Codec (issue 3): envelope encode + decode round trips, ratio to JSON',
  throughput: 'Throughput: one sender -> one receiver, messages/s, ratio to raw batched TLS',
  latency: 'Latency: 64 B request/reply round trip, µs (lower is better), ratio to raw TLS ping-pong',
  fanout: 'Fan-out: one publisher, 1 KiB messages to every subscriber, messages/s, ratio to raw TLS',
  connections: 'Connections: handshakes/s and memory per idle connection, ratio to raw node:tls',
  compression: 'Compression: compressible payloads, zstd on vs off (lower is better), ratio to off',
  transport: 'Transport (issue 4): one TLS connection, frames/s, ratio to raw batched TLS',
  sender: 'Direct sender (issue 5)',
};

function fmt(value: number, unit: string): string {
  if (unit === 'bytes' && value >= 10 * 1024 * 1024) return `${(value / (1024 * 1024)).toFixed(1)} MiB`;
  if (unit === 'bytes')
    return value >= 10_240 ? `${(value / 1024).toFixed(1)} KiB` : `${Math.round(value)} B`;
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** A value with its unit (bytes shown as B / KiB). */
function show(value: number, unit: string): string {
  return unit === 'bytes' ? fmt(value, unit) : `${fmt(value, unit)} ${unit}`;
}

/** System and case of a figure (older figures only have a name: `<system> <case>`). */
function split(f: Figure): { system: string; kase: string } {
  if (f.system !== undefined && f.case !== undefined) return { system: f.system, kase: f.case };
  const at = f.name.lastIndexOf(' ');
  return at < 0 ? { system: f.name, kase: '' } : { system: f.name.slice(0, at), kase: f.name.slice(at + 1) };
}

function ratio(figures: readonly Figure[], f: Figure): number | undefined {
  if (!f.baseline) return undefined;
  const base = figures.find((x) => x.suite === f.suite && x.name === f.baseline);
  return base ? f.value / base.value : undefined;
}

/** One row per system, one column per case: `value unit (ratio)`. */
export function suiteTable(figures: readonly Figure[]): string {
  const systems: string[] = [];
  const cases: string[] = [];
  const cells = new Map<string, string>();
  for (const f of figures) {
    const { system, kase } = split(f);
    if (!systems.includes(system)) systems.push(system);
    if (!cases.includes(kase)) cases.push(kase);
    const r = ratio(figures, f);
    cells.set(
      `${system}\0${kase}`,
      `${show(f.value, f.unit)}${r === undefined ? '' : ` (**${r.toFixed(2)}x**)`}`,
    );
  }
  const lines = [`| system | ${cases.join(' | ')} |`, `| --- |${' --- |'.repeat(cases.length)}`];
  for (const s of systems)
    lines.push(`| ${s} | ${cases.map((c) => cells.get(`${s}\0${c}`) ?? '').join(' | ')} |`);
  return lines.join('\n');
}

export function generated(results: Results): string {
  const m = results.machine;
  const out: string[] = [START, ''];
  out.push(
    '**In-process micro-benchmarks** (`npm run bench`): sender and receiver in **one** Node process,',
    'sharing one event loop and one core. They isolate code paths and compare alternatives; they are',
    'not what a deployment gets — the two-process tables at the top of this file are.',
    '',
  );
  out.push('## Run (in-process micro-benchmarks)', '');
  out.push(`- Date: ${results.date}${results.quick ? ' (quick run: smoke figures only)' : ''}`);
  out.push(
    `- Machine: ${m.cpus} x ${m.cpuModel}${m.memoryGiB ? `, ${m.memoryGiB} GiB RAM` : ''}, ${m.platform}; Node ${m.node}`,
  );
  out.push(
    `- Command: \`${results.command ?? 'npm run bench'}\`${results.durationMs ? ` (${Math.round(results.durationMs / 1000)} s)` : ''}`,
  );
  out.push('');
  out.push('## Targets of issues 3-8 (in-process micro-benchmarks)', '');
  out.push('| issue | target | measured | status |', '| --- | --- | --- | --- |');
  for (const r of evaluate(results.figures)) {
    const t = r.target;
    const measured =
      r.measured === undefined
        ? ''
        : t.absolute
          ? `${r.figure?.name}: ${show(r.measured, r.figure?.unit ?? '')}`
          : `${r.measured.toFixed(2)}x${typeof t.figure === 'string' ? '' : ` (${r.figure?.name})`}`;
    const status = r.status === 'met' ? 'met' : r.status === 'missed' ? '**missed**' : 'pending';
    out.push(`| ${t.issue} | ${t.text} | ${measured} | ${status} |`);
  }
  out.push('');
  const suites: string[] = [];
  for (const f of results.figures) if (!suites.includes(f.suite)) suites.push(f.suite);
  for (const suite of suites) {
    out.push(`## ${TITLES[suite] ?? suite} (one process)`, '');
    out.push(suiteTable(results.figures.filter((f) => f.suite === suite)), '');
  }
  if (results.pending?.length) {
    out.push('## Pending systems', '');
    for (const p of results.pending) out.push(`- ${p.suite} / ${p.system}: ${p.reason}`);
    out.push('');
  }
  if (results.failures?.length) {
    out.push('## Failures in this run', '');
    for (const f of results.failures) out.push(`- ${f.suite} / ${f.system}: ${f.error.split('\n')[0]}`);
    out.push('');
  }
  out.push(END);
  return out.join('\n');
}

/** Replaces the generated section of `doc` (or appends one). */
export function splice(doc: string, section: string): string {
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) return `${doc.trimEnd()}\n\n${section}\n`;
  return doc.slice(0, a) + section + doc.slice(b + END.length);
}

function newestFullRun(dir = 'bench/results'): string {
  const files = readdirSync(dir)
    .filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f))
    .sort();
  const last = files.at(-1);
  if (!last) throw new Error(`no full run (YYYY-MM-DD.json) in ${dir}: run npm run bench first`);
  return join(dir, last);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? newestFullRun();
  const results = JSON.parse(readFileSync(file, 'utf8')) as Results;
  const doc = readFileSync('BENCHMARKS.md', 'utf8');
  writeFileSync('BENCHMARKS.md', splice(doc, generated(results)));
  console.log(`BENCHMARKS.md: generated section rewritten from ${file}`);
}
