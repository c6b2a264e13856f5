/**
 * bench/run.ts runs every suite in a child process of its own. A preload module injected
 * through NODE_OPTIONS (inherited by the children) reports each child's suite and pid, and
 * makes the codec child crash: the crash must be recorded as a failure of that suite with
 * its stderr, the next suite must still run (in another process), and the run exits 1.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Failure, Figure, Pending } from '../../bench/lib.js';

interface Results {
  command: string;
  suites: string[];
  durationMs: number;
  figures: Figure[];
  pending: Pending[];
  failures: Failure[];
}

// No spaces: NODE_OPTIONS splits on them.
const PRELOAD =
  "data:text/javascript,process.argv.filter(a=>a.startsWith('--child=')).forEach(a=>{" +
  "process.stderr.write('child:'+a.slice(8)+':'+process.pid+'\\n');" +
  "if(a==='--child=codec'){process.stderr.write('codec-crashed\\n');process.exit(3)}})";

function run(
  out: string,
  childTmp: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', 'codec', 'compression', '--quick', `--out=${out}`],
      {
        timeout: 60_000,
        maxBuffer: 8 * 1024 * 1024,
        env: { ...process.env, NODE_OPTIONS: `--import=${PRELOAD}`, TMPDIR: childTmp },
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

test('a suite whose process crashes is a failure of that suite; the next suite runs in its own process', {
  timeout: 70_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerpost-bench-isolation-'));
  try {
    const out = join(dir, 'results.json');
    const childTmp = join(dir, 'tmp');
    mkdirSync(childTmp);
    const { code, stdout, stderr } = await run(out, childTmp);
    assert.equal(code, 1, `bench exited ${code}\n${stdout}\n${stderr}`);

    const children = [...stderr.matchAll(/^child:(\w+):(\d+)$/gm)].map((m) => [m[1], m[2]]);
    assert.deepEqual(
      children.map(([suite]) => suite),
      ['codec', 'compression'],
    );
    assert.notEqual(children[0]?.[1], children[1]?.[1], 'each suite has a process of its own');
    assert.match(stderr, /^codec-crashed$/m, 'child stderr streams through');

    const results = JSON.parse(readFileSync(out, 'utf8')) as Results;
    assert.deepEqual(results.suites, ['codec', 'compression']);
    assert.equal(results.command, `npm run bench -- codec compression --quick --out=${out}`);
    assert.ok(results.durationMs > 0);
    assert.equal(results.failures.length, 1);
    const [failure] = results.failures;
    assert.equal(failure?.suite, 'codec');
    assert.match(failure?.error ?? '', /^suite process exited with code 3: codec-crashed\n/);
    assert.equal(
      results.figures.filter((f) => f.suite === 'codec').length,
      0,
      'a crashed suite reports no figures',
    );
    const compression = results.figures.filter((f) => f.suite === 'compression');
    assert.equal(compression.length, 8, 'the suite after the crash still reports its figures');
    for (const f of compression) assert.ok(Number.isFinite(f.value) && f.value > 0, `${f.name} = ${f.value}`);
    assert.match(stdout, /FAILED: codec \/ suite process: suite process exited with code 3/);

    const left = readdirSync(childTmp).filter((n) => n.startsWith('peerpost-bench-'));
    assert.deepEqual(left, [], 'the temp files of the children are removed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
