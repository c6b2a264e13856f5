/**
 * `npm run bench` runs every benchmark suite and writes bench/results/<date>.json;
 * `npm run bench -- --quick` is the short smoke run the test suite executes;
 * `npm run bench -- <suite> [<suite> ...]` runs only those suites (results in
 * bench/results/<date>-<suites>.json); `--out=FILE` writes the results elsewhere.
 * `npm run bench -- --two-process [--quick] [--acks] [--only=...] [--window=...]` runs
 * the two-process benchmark instead (bench/two-process.ts, in a child process, its other
 * flags passed on; results in bench/results/two-process-quick.json for `--quick`), and
 * exits 1 if it fails, or if a system it was to measure reports no figure for a case or
 * did not deliver exactly what it sent (bench/two-process-results.ts; never a speed).
 * Every suite runs in a fresh child process (this file with `--child=<suite>`), so what
 * one suite leaves behind (heap, JIT state, timers of closed third-party nodes) cannot
 * change the figures of the next; the parent merges their figures into one results file.
 * Each figure is the median of several rounds; ratios compare with a baseline measured
 * in the same run (absolute numbers on a shared 2-core machine are noise).
 * Exits 1 if any system failed, or if a suite's process crashed or timed out.
 * `tsx bench/report.ts` turns a results file into the tables of BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Failure,
  type Figure,
  failures,
  machine,
  type Pending,
  pending,
  quick,
  table,
  writeResults,
} from './lib.js';
import { incomplete, type TwoProcessResults } from './two-process-results.js';

/** Suites load their modules only in the child that runs them. */
export const suites: Record<string, () => Promise<Figure[]>> = {
  codec: async () => (await import('./codec.js')).benchCodec(),
  throughput: async () => {
    const [h, s] = await Promise.all([import('./harness.js'), import('./systems/index.js')]);
    return h.measureStreams('throughput', s.throughputSystems);
  },
  latency: async () => {
    const [h, s] = await Promise.all([import('./harness.js'), import('./systems/index.js')]);
    return h.measureRpcs('latency', s.latencySystems);
  },
  fanout: async () => {
    const [h, s] = await Promise.all([import('./harness.js'), import('./systems/index.js')]);
    return h.measureFanouts('fanout', s.fanoutSystems);
  },
  connections: async () => (await import('./connections.js')).benchConnections(),
  compression: async () => (await import('./compression.js')).benchCompression(),
  transport: async () => {
    const [h, s] = await Promise.all([import('./harness.js'), import('./systems/index.js')]);
    return h.measureStreams('transport', s.transportSystems);
  },
  sender: async () => (await import('./sender.js')).benchSender(),
};

/** What a child writes to its `--out` file for the parent to merge. */
interface ChildResults {
  figures: Figure[];
  pending: Pending[];
  failures: Failure[];
}

const SELF = fileURLToPath(import.meta.url);
/** A suite's process is killed after this long (a hung suite must not hang the run). */
const CHILD_TIMEOUT_MS = quick ? 3 * 60_000 : 15 * 60_000;
/** How much of a failed child's stderr is kept in its failure record. */
const STDERR_TAIL = 4000;

const args = process.argv.slice(2);
const childSuite = args.find((a) => a.startsWith('--child='))?.slice('--child='.length);
const outArg = args.find((a) => a.startsWith('--out='))?.slice('--out='.length);

if (childSuite !== undefined) await runChild(childSuite, outArg);
else if (args.includes('--two-process')) await runTwoProcess();
else await runParent();

/** `--two-process`: bench/two-process.ts in a child process, then its results checked. */
async function runTwoProcess(): Promise<void> {
  const script = fileURLToPath(new URL('./two-process.ts', import.meta.url));
  const date = new Date().toISOString().slice(0, 10);
  const file =
    outArg ?? (quick ? 'bench/results/two-process-quick.json' : `bench/results/two-process-${date}.json`);
  const passed = args.filter((a) => a !== '--two-process' && !a.startsWith('--out='));
  if (existsSync(file)) rmSync(file);
  process.stderr.write(`bench: two-process${quick ? ' (quick)' : ''}\n`);
  const outcome = await new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    timedOut: boolean;
  }>((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, script, ...passed, `--out=${file}`], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    // Stopped from outside: take the child along (its receivers exit when it is gone).
    const forward = (signal: NodeJS.Signals) => {
      child.kill('SIGKILL');
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    };
    process.once('SIGINT', forward);
    process.once('SIGTERM', forward);
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve({ code, signal, timedOut });
    };
    child.once('error', () => done(null, null));
    child.once('close', done);
  });
  const problems: string[] = [];
  if (outcome.timedOut) problems.push(`two-process bench killed after ${CHILD_TIMEOUT_MS / 1000} s`);
  else if (outcome.code !== 0)
    problems.push(`two-process bench exited with code ${outcome.code ?? outcome.signal}`);
  const results = readTwoProcess(file);
  if (results) problems.push(...incomplete(results));
  else problems.push(`two-process bench wrote no results (${file})`);
  for (const p of problems) console.log(`FAILED: ${p}`);
  process.exitCode = problems.length > 0 ? 1 : 0;
}

function readTwoProcess(file: string): TwoProcessResults | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as TwoProcessResults;
  } catch {
    return undefined;
  }
}

/** Child mode: runs one suite and writes its figures, pending and failures to `out`. */
async function runChild(name: string, out: string | undefined): Promise<void> {
  const suite = suites[name];
  if (!suite || !out) {
    console.error(`bench child: needs a known --child=<suite> and --out=<file>, got ${name} ${out}`);
    process.exit(2);
  }
  const figures = await suite();
  const results: ChildResults = { figures, pending, failures };
  writeFileSync(out, JSON.stringify(results));
  // Timers a third-party system left behind must not keep the child (and the run) waiting.
  process.exit(0);
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stderrTail: string;
}

/** Runs one suite in a fresh process; its stderr streams through to ours. */
function spawnSuite(name: string, out: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const childArgs = [...process.execArgv, SELF, `--child=${name}`, `--out=${out}`];
    if (quick) childArgs.push('--quick');
    const child = spawn(process.execPath, childArgs, { stdio: ['ignore', 'inherit', 'pipe'] });
    let tail = '';
    let timedOut = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      process.stderr.write(chunk);
      tail = (tail + chunk).slice(-STDERR_TAIL);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    const done = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      clearTimeout(timer);
      const stderrTail = spawnError ? `${tail}${spawnError.message}` : tail;
      resolve({ code, signal, timedOut, stderrTail });
    };
    child.once('error', (err) => done(null, null, err));
    child.once('close', (code, signal) => done(code, signal));
  });
}

/** Reads a child's results; undefined when it wrote none (or not all of them). */
function readChild(out: string): ChildResults | undefined {
  if (!existsSync(out)) return undefined;
  try {
    return JSON.parse(readFileSync(out, 'utf8')) as ChildResults;
  } catch {
    return undefined;
  }
}

function describe(o: Outcome): string {
  if (o.timedOut) return `suite process killed after ${CHILD_TIMEOUT_MS / 1000} s`;
  if (o.code === null && o.signal === null) return 'suite process could not be started';
  if (o.code !== 0) return `suite process exited with code ${o.code ?? o.signal}`;
  return 'suite process wrote no results';
}

async function runParent(): Promise<void> {
  const only = args.filter((a) => !a.startsWith('--'));
  const unknown = only.filter((a) => !(a in suites));
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
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
  const tmp = mkdtempSync(join(tmpdir(), 'peerpost-bench-'));
  try {
    for (const name of Object.keys(suites)) {
      if (only.length > 0 && !only.includes(name)) continue;
      process.stderr.write(`bench: ${name}${quick ? ' (quick)' : ''}\n`);
      const t0 = performance.now();
      const out = join(tmp, `${name}.json`);
      const outcome = await spawnSuite(name, out);
      const results = readChild(out);
      if (results) {
        figures.push(...results.figures);
        pending.push(...results.pending);
        failures.push(...results.failures);
      }
      ran.push(name);
      const seconds = ((performance.now() - t0) / 1000).toFixed(1);
      if (results && outcome.code === 0 && !outcome.timedOut) {
        process.stderr.write(`bench: ${name} done in ${seconds} s\n`);
        continue;
      }
      const why = describe(outcome);
      const lastLine = outcome.stderrTail.trim().split('\n').at(-1) ?? '';
      failures.push({
        suite: name,
        system: 'suite process',
        error: `${why}${lastLine ? `: ${lastLine}` : ''}\n${outcome.stderrTail}`,
      });
      process.stderr.write(`bench: ${name} FAILED after ${seconds} s: ${why}\n`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
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
}
