/**
 * Micro-benchmark of the Prometheus binding's hot path (issue 16): ns per `inc` and per
 * `observe`, and per message (the calls the sender and the receiver make for one message),
 * for the binding that called prom-client on every update (bench/metrics-legacy.ts) and
 * the plain-number one (src/metrics/prometheus.ts), in the same run.
 *
 *   npx tsx bench/metrics-hot-path.ts [--quick]
 *
 * Each implementation is measured in its own child process (a fresh Node, so neither one's
 * JIT feedback shapes the other's), the children alternating old/new; every figure is
 * the median over rounds. Also reported: V8 garbage collections per million operations
 * (zero means the path allocates nothing that survives to a scavenge).
 */
import { execFileSync } from 'node:child_process';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createPrometheusMetrics } from '../src/metrics/prometheus.js';
import type { Labels, Metrics } from '../src/metrics/types.js';
import { createLegacyPrometheusMetrics } from './metrics-legacy.js';

type Impl = 'old' | 'new';
interface Result {
  /** ns per operation (one call, or one message for the per-message cases). */
  ns: number;
  /** GCs per million operations. */
  gcPerMillion: number;
}
type Results = Record<string, Result>;

const quick = process.argv.includes('--quick');

// Label objects as the callers cache them (src/sender/accounting.ts, src/hub/incoming-reader.ts).
const BUFFER: Labels = { phase: 'OutgoingBuffer', label: 'chat', mode: 'direct' };
const TRANSFER: Labels = { phase: 'OutgoingTransfer', label: 'chat', mode: 'direct' };
const IN_TRANSFER: Labels = { phase: 'IncomingTransfer', label: 'chat', mode: 'direct' };
const IN_BUFFER: Labels = { phase: 'IncomingBuffer', label: 'chat', mode: 'direct' };
const BYTES: Labels = { label: 'chat', mode: 'direct' };
const WRITTEN: Labels = { outcome: 'written', reason: '' };
const INCOMING: Labels = { queue: 'incoming' };

/** Phase durations as the hot path sees them: mostly well under a millisecond. */
const DURATIONS = Float64Array.from(
  { length: 1024 },
  (_, i) => ((i * 7919) % 1000) / 1e6 + (i % 64 === 0 ? 0.02 : 0),
);

/** Each case: one operation, `i` its index. */
function cases(m: Metrics): Record<string, (i: number) => void> {
  return {
    'inc (cached labels)': () => m.inc('peerpost_phase_started_total', BUFFER),
    'inc with value (cached labels)': (i) => m.inc('peerpost_sent_bytes_total', BYTES, 64 + (i & 7)),
    'observe (cached labels)': (i) =>
      m.observe('peerpost_phase_duration_seconds', DURATIONS[i & 1023]!, BUFFER),
    'inc (fresh equal labels)': () =>
      m.inc('peerpost_phase_started_total', { phase: 'OutgoingBuffer', label: 'chat', mode: 'direct' }),
    'set gauge (cached labels)': (i) => m.set('peerpost_queue_depth', i & 15, INCOMING),
    // src/sender/accounting.ts for one written message: accept, handOff, flushed.
    'sender, per message (6 inc + 1 observe)': (i) => {
      m.inc('peerpost_phase_started_total', BUFFER);
      m.inc('peerpost_phase_finished_total', BUFFER);
      m.observe('peerpost_phase_duration_seconds', DURATIONS[i & 1023]!, BUFFER);
      m.inc('peerpost_phase_started_total', TRANSFER);
      m.inc('peerpost_phase_finished_total', TRANSFER);
      m.inc('peerpost_sent_bytes_total', BYTES, 96);
      m.inc('peerpost_outcomes_total', WRITTEN);
    },
    // src/hub/incoming-reader.ts for one received frame.
    'receiver, per message (5 inc + 2 observe)': (i) => {
      m.inc('peerpost_received_bytes_total', BYTES, 96);
      m.inc('peerpost_phase_started_total', IN_TRANSFER);
      m.observe('peerpost_phase_duration_seconds', DURATIONS[i & 1023]!, IN_TRANSFER);
      m.inc('peerpost_phase_finished_total', IN_TRANSFER);
      m.inc('peerpost_phase_started_total', IN_BUFFER);
      m.inc('peerpost_phase_finished_total', IN_BUFFER);
      m.observe('peerpost_phase_duration_seconds', DURATIONS[(i + 17) & 1023]!, IN_BUFFER);
    },
  };
}

/** Runs in a child: measures every case of one implementation and prints JSON. */
async function child(impl: Impl): Promise<void> {
  const ops = quick ? 300_000 : 2_000_000;
  let gcs = 0;
  const observer = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  const results: Results = {};
  for (const [name, fn] of Object.entries(cases(createImpl(impl)))) {
    for (let i = 0; i < ops / 4; i++) fn(i); // warm-up: the JIT reaches its steady state
    await settle();
    gcs = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) fn(i);
    const ns = Number(process.hrtime.bigint() - start) / ops;
    await settle();
    results[name] = { ns, gcPerMillion: (gcs * 1e6) / ops };
  }
  observer.disconnect();
  process.stdout.write(JSON.stringify(results));
}

function createImpl(impl: Impl): Metrics {
  return impl === 'old' ? createLegacyPrometheusMetrics() : createPrometheusMetrics();
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function main(): void {
  const rounds = quick ? 3 : 5;
  const self = fileURLToPath(import.meta.url);
  const runs: Record<Impl, Results[]> = { old: [], new: [] };
  for (let r = 0; r < rounds; r++) {
    for (const impl of r % 2 === 0 ? (['old', 'new'] as const) : (['new', 'old'] as const)) {
      const out = execFileSync(
        process.execPath,
        [...process.execArgv, self, `--child=${impl}`, ...(quick ? ['--quick'] : [])],
        {
          encoding: 'utf8',
        },
      );
      runs[impl].push(JSON.parse(out) as Results);
    }
  }
  const names = Object.keys(runs.old[0]!);
  const rows = names.map((name) => {
    const pick = (impl: Impl, k: keyof Result) => median(runs[impl].map((res) => res[name]![k]));
    const oldNs = pick('old', 'ns');
    const newNs = pick('new', 'ns');
    return {
      case: name,
      'old ns': oldNs.toFixed(1),
      'new ns': newNs.toFixed(1),
      'old/new': `${(oldNs / newNs).toFixed(1)}x`,
      'old GC/M': pick('old', 'gcPerMillion').toFixed(1),
      'new GC/M': pick('new', 'gcPerMillion').toFixed(1),
    };
  });
  console.log(
    `metrics hot path, Node ${process.version}, median of ${rounds} rounds per implementation, each a fresh process`,
  );
  console.table(rows);
}

const role = process.argv.find((a) => a.startsWith('--child='))?.slice('--child='.length);
if (role === 'old' || role === 'new') await child(role);
else main();
