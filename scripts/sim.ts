/**
 * The deterministic simulation, on demand:
 *
 *   npm run sim -- --nodes 100 --seconds 600 --seed 7
 *   npm run sim -- --nodes 100 --seconds 60 --seeds 1..10000 --workers 2 --json sim.json
 *   npm run sim -- --nodes 100 --seconds 60 --seeds 1..2000 --acks   (acknowledged delivery)
 *
 * Each seed plans a script of churn, faults and traffic, runs it on the in-memory
 * transport in virtual time and checks it with the oracle (test/oracle). A violation
 * prints the seed, the rule and the shortest action script found that still breaks it;
 * `--replay file.json` runs such a script again. Exit code 1 when any seed fails.
 */
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { Action } from '../test/sim/plan.js';
import { runSim, type SimResult, shrinkRun } from '../test/sim/run.js';

interface Summary {
  seeds: number;
  nodes: number;
  seconds: number;
  failed: number[];
  messages: number;
  deliveries: number;
  outcomes: Record<string, number>;
  /** How the requests ended: `answered` or the error code. */
  requests: Record<string, number>;
  /** The publishing loops: `broadcasts`, `waits` on broadcastReady(), and ends (`done` or the error code). */
  paced: Record<string, number>;
  applied: Record<string, number>;
  wallMs: number;
  traces: Record<string, string>;
}

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '600' },
    seed: { type: 'string' },
    seeds: { type: 'string' },
    workers: { type: 'string' },
    json: { type: 'string' },
    replay: { type: 'string' },
    'no-shrink': { type: 'boolean', default: false },
    acks: { type: 'boolean', default: false },
    worker: { type: 'boolean', default: false },
  },
});

const nodes = Number(values.nodes);
const seconds = Number(values.seconds);
const acks = values.acks === true;

function seedRange(): [number, number] {
  if (values.seed !== undefined) return [Number(values.seed), Number(values.seed)];
  const m = /^(\d+)\.\.(\d+)$/.exec(values.seeds ?? '1..1');
  if (m === null) throw new Error('--seeds takes A..B');
  return [Number(m[1]), Number(m[2])];
}

function merge(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

async function report(result: SimResult): Promise<void> {
  const v = result.violations[0]!;
  console.error(
    `seed ${result.seed}: ${result.violations.length} violation(s); first: [${v.rule}] ${v.detail}`,
  );
  if (values['no-shrink']) return;
  const short = await shrinkRun({ seed: result.seed, nodes, seconds, acks }, result.actions, v.rule);
  const file = `sim-seed-${result.seed}.json`;
  writeFileSync(
    file,
    `${JSON.stringify({ seed: result.seed, nodes, seconds, acks, rule: v.rule, actions: short }, null, 1)}\n`,
  );
  console.error(
    `seed ${result.seed}: shortest script found has ${short.length} actions (of ${result.actions.length}), in ${file}:`,
  );
  for (const a of short) console.error(`  ${JSON.stringify(a)}`);
}

/** Runs seeds [a, b] here; returns the summary. */
async function runRange(a: number, b: number): Promise<Summary> {
  const summary: Summary = {
    seeds: 0,
    nodes,
    seconds,
    failed: [],
    messages: 0,
    deliveries: 0,
    outcomes: {},
    requests: {},
    paced: {},
    applied: {},
    wallMs: 0,
    traces: {},
  };
  const t0 = performance.now();
  for (let seed = a; seed <= b; seed++) {
    const result = await runSim({ seed, nodes, seconds, acks });
    summary.seeds++;
    summary.messages += result.messages;
    summary.deliveries += result.deliveries;
    merge(summary.outcomes, result.outcomes);
    merge(summary.requests, result.requests);
    merge(summary.paced, {
      broadcasts: result.paced.broadcasts,
      waits: result.paced.waits,
      ...result.paced.ends,
    });
    merge(summary.applied, result.applied);
    summary.traces[seed] = result.traceHash;
    if (result.violations.length > 0) {
      summary.failed.push(seed);
      await report(result);
    }
    if (!values.worker)
      console.log(
        `seed ${seed}: ${result.violations.length === 0 ? 'ok' : 'FAILED'} trace ${result.traceHash} messages ${result.messages}`,
      );
  }
  summary.wallMs = performance.now() - t0;
  return summary;
}

async function main(): Promise<number> {
  if (values.replay !== undefined) {
    const saved = JSON.parse(readFileSync(values.replay, 'utf8')) as {
      seed: number;
      nodes: number;
      seconds: number;
      acks?: boolean;
      actions: Action[];
    };
    const result = await runSim(saved);
    for (const v of result.violations) console.log(`[${v.rule}] ${v.detail}`);
    console.log(`trace ${result.traceHash}: ${result.violations.length} violation(s)`);
    return result.violations.length === 0 ? 0 : 1;
  }
  const [a, b] = seedRange();
  if (values.worker) {
    const summary = await runRange(a, b);
    process.send?.(summary);
    return 0;
  }
  const workers = Math.max(1, Math.min(Number(values.workers ?? availableParallelism()), b - a + 1));
  const t0 = performance.now();
  let summaries: Summary[];
  if (workers === 1) summaries = [await runRange(a, b)];
  else {
    const per = Math.ceil((b - a + 1) / workers);
    summaries = await Promise.all(
      Array.from({ length: workers }, (_, w) => {
        const lo = a + w * per;
        const hi = Math.min(b, lo + per - 1);
        return new Promise<Summary>((resolve, reject) => {
          const child = fork(
            new URL(import.meta.url).pathname,
            [
              '--worker',
              '--nodes',
              String(nodes),
              '--seconds',
              String(seconds),
              '--seeds',
              `${lo}..${hi}`,
              ...(values['no-shrink'] ? ['--no-shrink'] : []),
              ...(acks ? ['--acks'] : []),
            ],
            { execArgv: ['--import', 'tsx'] },
          );
          let got: Summary | undefined;
          child.on('message', (m) => (got = m as Summary));
          child.on('exit', (code) =>
            got ? resolve(got) : reject(new Error(`worker ${w} exited with ${code}`)),
          );
        });
      }),
    );
  }
  const total: Summary = {
    ...summaries[0]!,
    seeds: 0,
    failed: [],
    messages: 0,
    deliveries: 0,
    outcomes: {},
    requests: {},
    paced: {},
    applied: {},
    traces: {},
  };
  for (const s of summaries) {
    total.seeds += s.seeds;
    total.failed.push(...s.failed);
    total.messages += s.messages;
    total.deliveries += s.deliveries;
    merge(total.outcomes, s.outcomes);
    merge(total.requests, s.requests);
    merge(total.paced, s.paced);
    merge(total.applied, s.applied);
    Object.assign(total.traces, s.traces);
  }
  total.wallMs = Math.round(performance.now() - t0);
  const { traces, ...figures } = total;
  console.log(JSON.stringify({ ...figures, workers }, null, 1));
  if (values.json !== undefined)
    writeFileSync(values.json, `${JSON.stringify({ ...total, workers }, null, 1)}\n`);
  return total.failed.length === 0 ? 0 : 1;
}

process.exitCode = await main();
