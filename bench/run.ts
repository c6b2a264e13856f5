/**
 * `npm run bench` runs every benchmark suite and writes bench/results/<date>.json;
 * `npm run bench -- --quick` is the short smoke run the test suite executes;
 * `npm run bench -- <suite> [<suite> ...]` runs only those suites (results in
 * bench/results/<date>-<suites>.json); `--out=FILE` writes the results elsewhere.
 * Each figure is the median of several rounds; ratios compare with a baseline measured
 * in the same run (absolute numbers on a shared 2-core machine are noise).
 * Exits 1 if any system failed. `tsx bench/report.ts` turns a results file into the
 * tables of BENCHMARKS.md.
 */
import { benchCodec } from './codec.js';
import { benchCompression } from './compression.js';
import { benchConnections } from './connections.js';
import { measureFanouts, measureRpcs, measureStreams } from './harness.js';
import { type Figure, failures, machine, pending, quick, table, writeResults } from './lib.js';
import { benchSender } from './sender.js';
import { fanoutSystems, latencySystems, throughputSystems, transportSystems } from './systems/index.js';

export const suites: Record<string, () => Figure[] | Promise<Figure[]>> = {
  codec: benchCodec,
  throughput: () => measureStreams('throughput', throughputSystems),
  latency: () => measureRpcs('latency', latencySystems),
  fanout: () => measureFanouts('fanout', fanoutSystems),
  connections: benchConnections,
  compression: benchCompression,
  transport: () => measureStreams('transport', transportSystems),
  sender: benchSender,
};

const args = process.argv.slice(2);
const only = args.filter((a) => !a.startsWith('--'));
const unknown = only.filter((a) => !(a in suites));
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${Object.keys(suites).join(', ')}`);
  process.exit(2);
}
const outArg = args.find((a) => a.startsWith('--out='))?.slice('--out='.length);
const date = new Date().toISOString().slice(0, 10);
const file =
  outArg ??
  (quick
    ? 'bench/results/quick.json'
    : only.length > 0
      ? `bench/results/${date}-${only.join('-')}.json`
      : `bench/results/${date}.json`);

const started = performance.now();
const figures: Figure[] = [];
const ran: string[] = [];
for (const [name, suite] of Object.entries(suites)) {
  if (only.length > 0 && !only.includes(name)) continue;
  process.stderr.write(`bench: ${name}${quick ? ' (quick)' : ''}\n`);
  const t0 = performance.now();
  figures.push(...(await suite()));
  ran.push(name);
  process.stderr.write(`bench: ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}
const durationMs = Math.round(performance.now() - started);
const command = `npm run bench --${args.length > 0 ? ` ${args.join(' ')}` : ''}`;
writeResults(figures, file, { command, suites: ran, durationMs });
const m = machine();
console.log(`machine: ${m.cpus} x ${m.cpuModel}, Node ${m.node}, ${quick ? 'quick' : 'full'} run\n`);
console.log(table(figures));
for (const p of pending) console.log(`pending: ${p.suite} / ${p.system}: ${p.reason}`);
for (const f of failures) console.log(`FAILED: ${f.suite} / ${f.system}: ${f.error.split('\n')[0]}`);
console.log(`\nresults: ${file} (${(durationMs / 1000).toFixed(1)} s)`);
process.exitCode = failures.length > 0 ? 1 : 0;
