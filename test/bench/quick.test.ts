/**
 * The quick benchmark run (`node --import tsx bench/run.ts --quick`) as a child process:
 * it must exit 0 and report figures for every system of every suite, so a system that
 * breaks (a library upgrade, a transport change) fails the test suite. Figures are not
 * judged here: absolute numbers on a shared machine are noise.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Failure, Figure, Pending } from '../../bench/lib.js';
import {
  connectionSystems,
  fanoutSystems,
  latencySystems,
  throughputSystems,
  transportSystems,
} from '../../bench/systems/index.js';

interface QuickResults {
  quick: boolean;
  figures: Figure[];
  pending: Pending[];
  failures: Failure[];
}

const EXPECTED: [suite: string, systems: readonly { name: string }[], cases: string[]][] = [
  ['throughput', throughputSystems, ['64B', '1KiB', '64KiB']],
  ['latency', latencySystems, ['p50', 'p99']],
  ['fanout', fanoutSystems, ['to 10', 'to 100']],
  ['connections', connectionSystems, ['handshakes/s', 'RSS/conn', 'heap/conn']],
  ['transport', transportSystems, ['64B', '1KiB', '64KiB']],
  [
    'sender',
    [
      { name: 'direct sender memory' },
      { name: 'direct sender TLS' },
      { name: 'raw memory' },
      { name: 'raw TLS' },
    ],
    ['64B', '1KiB'],
  ],
  [
    'compression',
    [{ name: 'zstd off' }, { name: 'zstd on' }],
    ['4KiB time', '4KiB wire', '64KiB time', '64KiB wire'],
  ],
];

function runQuick(out: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', '--quick', `--out=${out}`],
      { timeout: 85_000, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

test('the quick bench exits 0 and reports every system of every suite', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerpost-bench-test-'));
  try {
    const out = join(dir, 'quick.json');
    const { code, stdout, stderr } = await runQuick(out);
    assert.equal(code, 0, `bench exited ${code}\n${stdout}\n${stderr}`);
    const results = JSON.parse(readFileSync(out, 'utf8')) as QuickResults;
    assert.equal(results.quick, true);
    assert.deepEqual(results.failures, []);
    for (const [suite, systems, cases] of EXPECTED) {
      for (const system of systems) {
        const waiting = results.pending.find((p) => p.suite === suite && p.system === system.name);
        if (waiting) {
          assert.match(waiting.reason, /\S/, `${suite}/${system.name} is pending without a reason`);
          continue;
        }
        for (const kase of cases) {
          const f = results.figures.find(
            (x) => x.suite === suite && x.system === system.name && x.case === kase,
          );
          assert.ok(f, `no figure for ${suite} / ${system.name} / ${kase}`);
          assert.ok(Number.isFinite(f.value) && f.value > 0, `${f.name} = ${f.value}`);
        }
      }
    }
    const heap = results.figures.find((f) => f.suite === 'sender' && f.name.startsWith('sender heap'));
    assert.ok(heap && heap.value > 0 && heap.unit === 'bytes', 'sender heap figure reported');
    const codec = results.figures.filter((f) => f.suite === 'codec');
    assert.ok(codec.length >= 6, 'codec suite reported');
    for (const f of codec) assert.ok(Number.isFinite(f.value) && f.value > 0, `${f.name} = ${f.value}`);
    // Every figure with a baseline finds it in the same suite (the ratios in BENCHMARKS.md).
    for (const f of results.figures) {
      if (!f.baseline) continue;
      assert.ok(
        results.figures.some((x) => x.suite === f.suite && x.name === f.baseline),
        `${f.suite}/${f.name}: baseline ${f.baseline} missing`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
