/**
 * `npm run bench` runs every benchmark suite and writes bench/results/<date>.json;
 * `npm run bench -- --quick` is the short smoke run the test suite executes.
 * Each figure is the median of several rounds; ratios compare with a baseline measured
 * in the same run (absolute numbers on a shared 2-core machine are noise).
 */
import { benchCodec } from './codec.js';
import { type Figure, machine, quick, table, writeResults } from './lib.js';

const suites: Record<string, () => Figure[] | Promise<Figure[]>> = {
  codec: benchCodec,
};

const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const figures: Figure[] = [];
for (const [name, suite] of Object.entries(suites)) {
  if (only.length > 0 && !only.includes(name)) continue;
  process.stderr.write(`bench: ${name}${quick ? ' (quick)' : ''}\n`);
  figures.push(...(await suite()));
}
const file = writeResults(figures, quick ? 'bench/results/quick.json' : undefined);
const m = machine();
console.log(`machine: ${m.cpus} x ${m.cpuModel}, Node ${m.node}, ${quick ? 'quick' : 'full'} run\n`);
console.log(table(figures));
console.log(`\nresults: ${file}`);
