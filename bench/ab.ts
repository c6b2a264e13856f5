/**
 * A/B of two copies of `src/` with one of the in-process micro-benchmarks, each copy in
 * processes of its own, alternated (A B A B ...): the fair way to compare them.
 *
 *   npx tsx bench/ab.ts --bench=send-micro --a=DIR --b=DIR [--pairs=6] [-- args for the bench]
 *
 * `--bench` is `send-micro`, `broadcast-micro` or `rpc-micro`; `--a` and `--b` name copies
 * of `src/`, each with the package.json beside it (e.g. `mkdir /tmp/a && git archive HEAD~
 * src package.json | tar -x -C /tmp/a`, then `--a=/tmp/a/src --b=src`; see `esmSourceDir`
 * in bench/lib.ts). Each process measures one copy (the bench's `--src=DIR`) over its
 * rounds and prints its median; the report is the median of the processes' medians per
 * copy and their ratio, with every process's figure.
 *
 * The benches' own `--baseline=DIR` runs both copies interleaved in one process, where they
 * share node's internals and the bench's own code; here they share nothing but the
 * machine. An A/A run here (the same code as A and B, 2026-12-07) read B / A 0.97 for
 * send-micro; an A/A of the one-process mode with ES-module copies was not measured (its
 * bias measured in round 22 came from CommonJS copies, see `esmSourceDir`).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import process from 'node:process';
import { median } from './lib.js';

const BENCHES = ['send-micro', 'broadcast-micro', 'rpc-micro'];

function arg(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

const bench = arg('bench') ?? 'send-micro';
const a = arg('a');
const b = arg('b');
const pairs = Number(arg('pairs') ?? 6);
if (!BENCHES.includes(bench) || a === undefined || b === undefined || !(pairs > 0)) {
  console.error(
    'usage: npx tsx bench/ab.ts --bench=send-micro|broadcast-micro|rpc-micro --a=DIR --b=DIR [--pairs=N] [-- args]',
  );
  process.exit(2);
}
const dash = process.argv.indexOf('--');
const passed = dash < 0 ? [] : process.argv.slice(dash + 1);
const script = path.join(import.meta.dirname, `${bench}.ts`);

/** One process measuring copy `src`: its median and its unit, from the bench's report line. */
function measure(src: string): { value: number; unit: string } {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', script, `--src=${path.resolve(src)}`, ...passed],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const m = /median (\d+(?:\.\d+)?) (\S+)/.exec(out);
  if (m === null) throw new Error(`${bench} printed no median:\n${out}`);
  return { value: Number(m[1]), unit: m[2] as string };
}

const results: Record<'A' | 'B', number[]> = { A: [], B: [] };
let unit = '';
for (let i = 0; i < pairs; i++) {
  for (const [name, src] of [
    ['A', a],
    ['B', b],
  ] as const) {
    const r = measure(src);
    unit = r.unit;
    results[name].push(r.value);
    console.log(`pair ${i + 1} ${name}: ${r.value} ${r.unit}`);
  }
}
const ma = median(results.A);
const mb = median(results.B);
console.log(`${bench} ${passed.join(' ')}`.trim());
console.log(`A ${a}: median ${ma} ${unit}  (${results.A.join(' ')})`);
console.log(`B ${b}: median ${mb} ${unit}  (${results.B.join(' ')})`);
console.log(`B / A: ${(mb / ma).toFixed(3)}`);
