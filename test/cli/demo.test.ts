import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import type { DemoReport } from '../../src/demo/report.js';

// The CLI runs as a child process from the sources (through tsx), so the test does not
// depend on a fresh dist/; bin/peerpost.js runs the same main() from dist/.
const SCRIPT =
  "import { main } from './src/cli/main.ts'; process.exitCode = await main(process.argv.slice(1));";

/** Demo temporary directories left in `dir` (tsx keeps its own cache there too). */
async function demoDirs(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.startsWith('peerpost-demo-'));
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  onStderr?: (text: string, kill: () => void) => void,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr, () => child.kill('SIGINT'));
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('peerpost demo (child process)', () => {
  let tmp: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'peerpost-demo-test-'));
  });

  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test('--json: everything balances, every phase delivers, dedup, move and restart happen, temp files gone', async () => {
    const run = await runCli(['demo', '--nodes', '3', '--messages', '300', '--json', '--seed', '1'], {
      TMPDIR: tmp,
    });
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'stdout holds exactly one JSON object');
    const r = JSON.parse(lines[0]!) as DemoReport;
    assert.equal(r.ok, true);
    assert.deepEqual(r.problems, []);
    assert.equal(r.nodes, 3);
    assert.equal(r.seed, 1);
    assert.ok(r.sent >= 290 && r.sent <= 300, `sent ${r.sent}`);
    assert.deepEqual(
      r.phases.map((p) => p.name),
      ['direct', 'request-reply', 'broadcast', 'send-mode', 'topology', 'restart'],
    );
    for (const p of r.phases) assert.ok(p.delivered > 0, `phase ${p.name} delivered nothing`);
    assert.ok(r.sentByKind.reply > 0 && r.sentByKind.reply === r.sentByKind.question);
    assert.ok(r.sentByKind.broadcast > 0);
    // broadcasts reach both other nodes: one written copy per subscriber connection, each delivered
    const bc = r.phases[2]!;
    assert.equal(bc.written, bc.sent * 2);
    assert.equal(bc.delivered, bc.written);
    assert.ok(r.deduplicated > 0, 'send mode both produced duplicates that were dropped');
    assert.equal(r.copiesWritten, r.delivered + r.deduplicated);
    assert.equal(r.lostAfterWrite, 0);
    assert.deepEqual(r.sendModes, ['direct', 'both', 'broadcast', 'direct']);
    assert.ok(r.move !== null && r.move.from !== r.move.to && r.move.deliveredAtNewAddress > 0);
    const s = r.restart!;
    assert.ok(s.downSeconds >= 0.5, `down ${s.downSeconds} s`);
    assert.ok(s.sentWhileDown > 0);
    assert.equal(s.deliveredAfterRestart, s.sentWhileDown);
    assert.ok(s.sendersWaiting >= 1 && s.sendersReconnected >= 1);
    assert.equal(s.subscriptionsReconnected, 2);
    assert.ok(r.latencyMs.p50 <= r.latencyMs.p99 && r.throughput.deliveredPerSecond > 0);
    assert.match(run.stderr, /phase 1\/6 direct/);
    assert.equal(existsSync(r.tempDir), false);
    assert.deepEqual(await demoDirs(tmp), []);
  });

  test('table output with 2 nodes; progress as plain lines when not a terminal', async () => {
    const run = await runCli(['demo', '--nodes', '2', '--messages', '120', '--seed', '9'], { TMPDIR: tmp });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^phase 6\/6 restart: /m);
    assert.match(run.stdout, /^total\s+\d+/m);
    assert.match(run.stdout, /balance OK/);
    assert.equal(run.stdout.includes('\u001b['), false, 'no terminal escapes');
    assert.deepEqual(await demoDirs(tmp), []);
  });

  test('SIGINT stops the run, closes the cluster and removes the temporary files', async () => {
    let sent = false;
    const run = await runCli(['demo', '--messages', '10000000', '--json'], { TMPDIR: tmp }, (text, kill) => {
      if (!sent && /phase 1\/6/.test(text)) {
        sent = true;
        kill();
      }
    });
    assert.ok(sent);
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stderr, /ERR_ABORTED/);
    assert.equal(run.stdout, '');
    assert.deepEqual(await demoDirs(tmp), []);
  });
});

describe('peerpost demo options', () => {
  async function run(args: string[]) {
    let err = '';
    const code = await main(args, {
      stdin: Readable.from([]),
      stdout: { write: () => true },
      stderr: { write: (s: string) => (err += s) },
      env: {},
    });
    return { code, err };
  }

  test('bad values are coded errors naming the option', async () => {
    const nodes = await run(['demo', '--nodes', '1']);
    assert.equal(nodes.code, 1);
    assert.match(nodes.err, /ERR_INVALID_OPTION: invalid option `nodes`: expected an integer from 2 to 64/);
    const messages = await run(['demo', '--messages', 'many']);
    assert.equal(messages.code, 1);
    assert.match(messages.err, /`--messages`: expected a number/);
    const duration = await run(['demo', '--duration', '-3']);
    assert.match(duration.err, /`duration`/);
  });
});
