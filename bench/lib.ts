/** Shared helpers for benchmarks: timing rounds, medians, and result files. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Duplex } from 'node:stream';

export interface Figure {
  /** Group, e.g. `codec`, `transport`, `throughput`. */
  suite: string;
  /** What was measured, e.g. `peerpost 64B`. */
  name: string;
  /** The median over rounds. */
  value: number;
  unit: string;
  rounds: number[];
  /** Name of the baseline figure in the same suite this one is compared with. */
  baseline?: string;
  /** The system measured (e.g. `raw TLS`, `ZeroMQ`), for tables with one row per system. */
  system?: string;
  /** The case within the suite (e.g. `64B`, `p50`), for tables with one column per case. */
  case?: string;
  /** True for times and sizes, where a ratio below 1 is the better result. */
  lowerIsBetter?: boolean;
}

/** A system a suite could not measure yet (its module has not landed), listed in the results. */
export interface Pending {
  suite: string;
  system: string;
  reason: string;
}

/** A system that failed during the run: the run exits non-zero. */
export interface Failure {
  suite: string;
  system: string;
  error: string;
}

export const pending: Pending[] = [];
export const failures: Failure[] = [];

export const quick = process.argv.includes('--quick');

/** Runs `fn` repeatedly for about `ms` and returns operations per second. */
export function opsPerSecond(fn: () => void, ms: number): number {
  // Warm up so the JIT sees the steady state.
  const warmEnd = performance.now() + Math.min(50, ms / 4);
  while (performance.now() < warmEnd) fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 64; i++) fn();
    ops += 64;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

/**
 * `dir` resolved, once it is known to be a copy of `src/` that loads as ES modules, as the
 * repository's does: the `package.json` beside it says `"type": "module"` (e.g. `git
 * archive REV src package.json | tar -x -C /tmp/a`). Without one, tsx compiles the copy's
 * files to CommonJS, where each call of an imported function loads a property of the
 * module object: send-micro then ran the very same code ~25% slower than as ES modules,
 * which an A/B against such a copy reads as a gain of the code measured.
 */
export function esmSourceDir(dir: string): string {
  const src = resolve(dir);
  const manifest = join(src, '..', 'package.json');
  let type: unknown;
  try {
    type = (JSON.parse(readFileSync(manifest, 'utf8')) as { type?: unknown }).type;
  } catch {
    type = undefined;
  }
  if (type !== 'module') {
    throw new Error(
      `${src}: ${manifest} must say "type": "module" (copy the package.json with src), or the copy runs as CommonJS`,
    );
  }
  return src;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Starts `server` on 127.0.0.1, a free port (port 0); resolves with the port it got. */
export function listenLoopback(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

/** Resolves after the current event-loop turn (I/O callbacks run first). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Sends `count` messages with `send`, keeping at most `window` undelivered (`delivered()`
 * counts arrivals), one burst per event-loop turn; resolves when all arrived.
 */
export async function windowed(
  count: number,
  window: number,
  send: () => void,
  delivered: () => number,
): Promise<void> {
  let sent = 0;
  while (delivered() < count) {
    while (sent < count && sent - delivered() < window) {
      send();
      sent++;
    }
    await nextTurn();
  }
}

export function machine() {
  const cpu = cpus();
  return {
    node: process.version,
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    platform: process.platform,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

export function writeResults(
  figures: Figure[],
  file = `bench/results/${new Date().toISOString().slice(0, 10)}.json`,
  extra: { command?: string; suites?: string[]; durationMs?: number } = {},
) {
  mkdirSync(dirname(file), { recursive: true });
  const out = {
    date: new Date().toISOString(),
    quick,
    machine: machine(),
    ...extra,
    figures,
    pending,
    failures,
  };
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  return file;
}

export function ratioOf(figures: Figure[], f: Figure): number | undefined {
  if (!f.baseline) return undefined;
  const base = figures.find((x) => x.suite === f.suite && x.name === f.baseline);
  return base ? f.value / base.value : undefined;
}

export function table(figures: Figure[]): string {
  const lines = ['| suite | case | median | ratio to baseline |', '| --- | --- | --- | --- |'];
  for (const f of figures) {
    const r = ratioOf(figures, f);
    const v = f.value >= 100 ? Math.round(f.value).toLocaleString('en-US') : f.value.toFixed(2);
    lines.push(
      `| ${f.suite} | ${f.name} | ${v} ${f.unit} | ${r === undefined ? '' : `${r.toFixed(2)}x ${f.baseline}`} |`,
    );
  }
  return lines.join('\n');
}

/** A stream that takes every write at once and counts its bytes (the micro-benchmarks' socket). */
export class CountingSink extends Duplex {
  bytes = 0;
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    cb();
  }
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    for (const c of chunks) this.bytes += c.chunk.length;
    cb();
  }
}
