// Runs the real `peerpost` binary (bin/peerpost.js -> dist/) as child processes, on
// 127.0.0.1 with port 0, and makes sure every child is gone when the test file ends.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import {
  generateCredentials,
  identityOfCredentials,
  saveCredentials,
} from '../../src/identity/credentials.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin/peerpost.js');

/** Fails with a clear message when dist/ is missing or older than src/ (`npm test` builds first). */
export function assertBuilt(): void {
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) {
        const out = join(ROOT, 'dist', relative(join(ROOT, 'src'), path)).replace(/\.ts$/, '.js');
        if (!existsSync(out) || statSync(out).mtimeMs < statSync(path).mtimeMs)
          stale.push(relative(ROOT, path));
      }
    }
  };
  walk(join(ROOT, 'src'));
  assert.deepEqual(
    stale,
    [],
    `these CLI tests run bin/peerpost.js, which runs dist/: run \`npm run build\` first (dist/ is missing or older than: ${stale.slice(0, 5).join(', ')})`,
  );
}

const children = new Set<ChildProcess>();

/** Kills every child still running (SIGKILL) and waits for them; call it in `after`. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  children.clear();
}

/** A running `peerpost` process with its output split into lines. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #waiters = new Set<() => void>();

  constructor(args: readonly string[], cwd: string) {
    this.child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(this.child);
    let partial = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      this.lines.push(...parts);
      for (const w of this.#waiters) w();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      for (const w of this.#waiters) w();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        if (partial !== '') this.lines.push(partial);
        for (const w of this.#waiters) w();
        resolve({ code, signal });
      });
    });
  }

  /** stdout lines parsed as JSON (pino log lines); other lines are skipped. */
  get logs(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.lines) {
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {}
    }
    return out;
  }

  /** Waits until `find` returns a value for the output so far. */
  waitFor<T>(what: string, find: () => T | undefined, timeoutMs = 30_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const found = find();
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(
            new Error(
              `process exited while waiting for ${what}\nstdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out waiting for ${what}\nstdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Waits for a log line with this `msg` (and matching `filter`), returning it. */
  waitForLog(
    msg: string,
    filter: (log: Record<string, unknown>) => boolean = () => true,
    timeoutMs?: number,
  ) {
    return this.waitFor(`log "${msg}"`, () => this.logs.find((l) => l.msg === msg && filter(l)), timeoutMs);
  }

  countLogs(msg: string): number {
    return this.logs.filter((l) => l.msg === msg).length;
  }
}

/** Starts `peerpost node` and waits for its "node ready" line: returns the process and bound addresses. */
export async function startNode(
  cwd: string,
  args: readonly string[],
): Promise<{ proc: CliProcess; address: string; admin: string; ready: Record<string, unknown> }> {
  const proc = new CliProcess(['node', ...args], cwd);
  const ready = await proc.waitForLog('node ready');
  return { proc, address: String(ready.address), admin: String(ready.admin), ready };
}

/** Runs a short-lived command to its end. */
export async function runCli(
  cwd: string,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = new CliProcess(args, cwd);
  const { code } = await proc.exited;
  return { code, stdout: proc.lines.join('\n'), stderr: proc.stderr };
}

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `peerpost-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes credentials into `dir/<name>/` in process (faster than a keygen child); returns the cert hash. */
export async function makeCredentials(dir: string, name: string): Promise<string> {
  const credentials = await generateCredentials();
  await saveCredentials(join(dir, name), credentials);
  return identityOfCredentials(credentials).certHash;
}

/** Writes a node config as YAML (replacing the file in one rename-free write). */
export function writeConfig(path: string, config: Record<string, unknown>): void {
  writeFileSync(path, stringify(config));
}

export async function httpGet(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

/** Sum of the samples of `name` whose labels include `labels`, from a text exposition. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Polls `fn` until it returns true (real time: the nodes are separate processes). */
export async function eventually(
  what: string,
  fn: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

/** `promtool check metrics` on an exposition: its exit status and output. */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
