/**
 * The quick two-process benchmark (`npm run bench -- --two-process --quick`, i.e.
 * bench/run.ts spawning bench/two-process.ts, which forks a sending and a receiving
 * process per point-to-point system) as a smoke test: it must exit 0, and every system it measures (raw TLS and
 * peerpost, with and without metrics, at both in-flight windows; raw TLS with peerpost's
 * frame size and the alternatives (ZeroMQ, ws, libp2p) at the small one; and the fan-out to 100
 * subscribers, raw TLS and peerpost broadcast, with and without metrics) must report a figure for every case
 * (payload size; p50 and p99 where latency is measured; `to 100`), CPU and GC figures
 * for both sides, and have delivered exactly what it sent (to every subscriber). Speed is never
 * judged: absolute numbers and ratios on a shared machine are noise.
 *
 * The run gets a process group of its own, killed whatever happens (its senders and
 * receivers too).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  FANOUT_SUITE,
  incomplete,
  LATENCY_SUITE,
  THROUGHPUT_SUITE,
  type TwoProcessResults,
} from '../../bench/two-process-results.js';

/**
 * The run is ~65 s here (30-odd processes start, each compiling its TypeScript; the
 * alternatives added ~13 s to the 51 s before them); this bound only stops a hung run.
 */
const RUN_TIMEOUT_MS = 150_000;

const SYSTEMS = [
  'raw TLS',
  'raw TLS (peerpost frame size)',
  'peerpost',
  'peerpost + metrics',
  'ZeroMQ (CURVE)',
  'ws (mutual TLS)',
  'libp2p (noise)',
  'raw TLS (8 MiB window)',
  'peerpost (8 MiB window)',
  'peerpost + metrics (8 MiB window)',
];
const LATENCY_SYSTEMS = [
  'raw TLS',
  'peerpost',
  'peerpost + metrics',
  'ZeroMQ (CURVE)',
  'ws (mutual TLS)',
  'libp2p (noise)',
];
/** Publisher in the bench process, 100 subscribers in one child; a message counts once every subscriber has it. */
const FANOUT_SYSTEMS = ['raw TLS fan-out', 'peerpost broadcast', 'peerpost broadcast + metrics'];
const FANOUT_CASE = 'to 100';
const SIZES = ['64B', '1KiB', '64KiB'];

interface Side {
  usPerMsg: number;
  mainUsPerMsg: number;
  otherUsPerMsg: number;
  gcPer10k: number;
  gcPauseUsPerMsg: number;
}

function run(
  out: string,
  argv: readonly string[] = ['bench/run.ts', '--two-process', '--quick'],
): Promise<{ code: number | null; signal: string | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...argv, `--out=${out}`], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      output += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      output += c;
    });
    const killGroup = () => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(killGroup, RUN_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, output: `${output}\n${err.message}` });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // Whatever is left of the group (nothing, when the run closed everything) goes too.
      killGroup();
      resolve({ code, signal, output });
    });
  });
}

test('npm run bench -- --two-process --quick: every system reports every case and delivers what it sent', {
  timeout: RUN_TIMEOUT_MS + 20_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerpost-bench-two-'));
  try {
    const out = join(dir, 'two-process.json');
    const { code, signal, output } = await run(out);
    assert.equal(code, 0, `bench exited ${code ?? signal}\n${output}`);
    const r = JSON.parse(readFileSync(out, 'utf8')) as TwoProcessResults;
    assert.equal(r.quick, true);
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.expected.systems, SYSTEMS);
    assert.deepEqual(r.expected.sizes, SIZES);
    assert.deepEqual(r.expected.latencySystems, LATENCY_SYSTEMS);
    assert.deepEqual(r.expected.fanoutSystems, FANOUT_SYSTEMS);
    assert.equal(r.expected.fanoutCase, FANOUT_CASE);
    assert.deepEqual(incomplete(r), []);
    const cpu = r.cpu as { system: string; size: string; sender: Side; receiver: Side }[];
    for (const system of SYSTEMS) {
      for (const size of SIZES) {
        const f = r.figures.find(
          (x) => x.suite === THROUGHPUT_SUITE && x.system === system && x.case === size,
        );
        assert.ok(f, `no throughput figure for ${system} / ${size}`);
        assert.ok(Number.isFinite(f.value) && f.value > 0, `${f.name} = ${f.value}`);
        assert.ok(
          r.figures.some((x) => x.suite === THROUGHPUT_SUITE && x.name === f.baseline),
          `${f.name}: baseline ${f.baseline} missing`,
        );
        const c = cpu.find((x) => x.system === system && x.size === size);
        assert.ok(c, `no CPU figures for ${system} / ${size}`);
        for (const [side, s] of [
          ['sender', c.sender],
          ['receiver', c.receiver],
        ] as const) {
          assert.ok(s.usPerMsg > 0, `${system} ${size} ${side}: CPU ${s.usPerMsg} µs/msg`);
          // Main thread from /proc (Linux); the rest of the process is the other threads.
          assert.ok(s.mainUsPerMsg > 0, `${system} ${size} ${side}: main thread ${s.mainUsPerMsg} µs/msg`);
          assert.ok(s.otherUsPerMsg >= 0, `${system} ${size} ${side}: other threads ${s.otherUsPerMsg}`);
          assert.ok(s.gcPer10k >= 0 && s.gcPauseUsPerMsg >= 0, `${system} ${size} ${side}: GC figures`);
        }
      }
      if (LATENCY_SYSTEMS.includes(system)) {
        for (const p of ['p50', 'p99']) {
          const f = r.figures.find((x) => x.suite === LATENCY_SUITE && x.system === system && x.case === p);
          assert.ok(f && Number.isFinite(f.value) && f.value > 0, `no latency ${p} for ${system}`);
        }
      }
      const check = r.checks.find((x) => x.system === system);
      assert.ok(check, `no delivery check for ${system}`);
      assert.ok(check.sent > 0, `${system} sent nothing`);
      assert.equal(check.delivered, check.sent, `${system}: delivered ${check.delivered} of ${check.sent}`);
      assert.equal(check.drops, 0);
    }
    for (const system of FANOUT_SYSTEMS) {
      const f = r.figures.find(
        (x) => x.suite === FANOUT_SUITE && x.system === system && x.case === FANOUT_CASE,
      );
      assert.ok(f && Number.isFinite(f.value) && f.value > 0, `no fan-out figure for ${system}`);
      assert.ok(
        r.figures.some((x) => x.suite === FANOUT_SUITE && x.name === f.baseline),
        `${f.name}: baseline ${f.baseline} missing`,
      );
      const c = cpu.find((x) => x.system === system && x.size === FANOUT_CASE);
      assert.ok(c && c.sender.usPerMsg > 0 && c.receiver.usPerMsg > 0, `no CPU figures for ${system}`);
      const check = r.checks.find((x) => x.system === system);
      assert.ok(check, `no delivery check for ${system}`);
      // Every message to every one of the 100 subscribers.
      assert.ok(check.sent > 0 && check.sent % 100 === 0, `${system}: ${check.sent} receipts expected`);
      assert.equal(check.delivered, check.sent, `${system}: delivered ${check.delivered} of ${check.sent}`);
      assert.equal(check.drops, 0);
    }
    assert.match(output, /CPU and GC during the throughput rounds/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--baseline=DIR --pin: a twin of each peerpost system runs that copy in the same rounds', {
  timeout: RUN_TIMEOUT_MS + 20_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerpost-bench-twin-'));
  try {
    const out = join(dir, 'twin.json');
    // The repository itself as the baseline copy (its src/, through tsx, as without --built).
    const { code, signal, output } = await run(out, [
      'bench/two-process.ts',
      '--quick',
      '--only=raw TLS,peerpost',
      '--sizes=64B',
      '--no-latency',
      '--no-fanout',
      '--no-alternatives',
      '--pin',
      `--baseline=${process.cwd()}`,
    ]);
    assert.equal(code, 0, `bench exited ${code ?? signal}\n${output}`);
    const r = JSON.parse(readFileSync(out, 'utf8')) as TwoProcessResults;
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.expected.systems, ['raw TLS', 'peerpost', 'peerpost [baseline]']);
    assert.deepEqual(incomplete(r), []);
    for (const system of r.expected.systems) {
      const f = r.figures.find(
        (x) => x.suite === THROUGHPUT_SUITE && x.system === system && x.case === '64B',
      );
      assert.ok(f && Number.isFinite(f.value) && f.value > 0, `no throughput figure for ${system}`);
      assert.equal(f.baseline, r.figures.find((x) => x.system === 'raw TLS' && x.case === '64B')?.name);
      const check = r.checks.find((x) => x.system === system);
      assert.ok(check && check.sent > 0, `${system} sent nothing`);
      assert.equal(check.delivered, check.sent, `${system}: delivered ${check.delivered} of ${check.sent}`);
    }
    assert.match(output, /baseline \(the systems ending in \[baseline\]\): /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
