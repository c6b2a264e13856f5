/**
 * Micro-benchmark of the sender's per-message CPU work for a small message: the next id,
 * the envelope, its size (`encodableSize`) and its encoding into a reused buffer.
 *
 *   npx tsx bench/encode-micro.ts [--n=5000000] [--rounds=5] [--baseline=DIR]
 *
 * Two shapes are timed: `inline` encodes each message right after sizing it; `batched`
 * sizes 64 messages (as `send` does) and then encodes the 64 (as a write batch does
 * later), so an id is never the latest one when it is encoded. `--baseline=DIR` names a
 * copy of `src/` (with the package.json beside it, e.g. `git archive HEAD src package.json | tar -x -C /tmp/base` before a change, then `--baseline=/tmp/base/src`: without it the copy runs as CommonJS, see `esmSourceDir` in bench/lib.ts): its code and this
 * tree's are run interleaved (A B A B ...) in one process and the medians compared.
 */
import { Buffer } from 'node:buffer';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Envelope } from '../src/wire/envelope.js';
import { esmSourceDir } from './lib.js';

interface Code {
  name: string;
  OutgoingEnvelopes: typeof import('../src/network/outgoing.js').OutgoingEnvelopes;
  encodableSize: (e: Envelope) => number;
  encodeEnvelopeInto: (e: Envelope, buf: Buffer, offset: number) => number;
  noopMetrics: typeof import('../src/metrics/types.js').noopMetrics;
  noopLogger: typeof import('../src/util/logger.js').noopLogger;
}

function arg(name: string): string | undefined {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit?.slice(name.length + 3);
}

async function load(name: string, srcDir: string): Promise<Code> {
  const url = (p: string) => pathToFileURL(path.join(srcDir, p)).href;
  const outgoing = (await import(url('network/outgoing.ts'))) as typeof import('../src/network/outgoing.js');
  const envelope = (await import(url('wire/envelope.ts'))) as typeof import('../src/wire/envelope.js');
  const metrics = (await import(url('metrics/types.ts'))) as typeof import('../src/metrics/types.js');
  const logger = (await import(url('util/logger.ts'))) as typeof import('../src/util/logger.js');
  return {
    name,
    OutgoingEnvelopes: outgoing.OutgoingEnvelopes,
    encodableSize: envelope.encodableSize,
    encodeEnvelopeInto: envelope.encodeEnvelopeInto,
    noopMetrics: metrics.noopMetrics,
    noopLogger: logger.noopLogger,
  };
}

const PREFIX = 'node-1-00c0ffee-';
const LABEL = 'MsgType::Block';
const BATCH = 64;

/** ns per message for `n` messages of 64 B. */
function timeInline(code: Code, n: number): number {
  const out = new code.OutgoingEnvelopes(PREFIX, 1000, code.noopMetrics, code.noopLogger);
  const data = Buffer.alloc(64, 7);
  const buf = Buffer.allocUnsafe(4096);
  const nowMs = Date.now();
  let check = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const envelope = out.make(out.nextId(), LABEL, data, nowMs);
    const size = code.encodableSize(envelope);
    check += code.encodeEnvelopeInto(envelope, buf, 4) - size;
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (check !== 4 * n) throw new Error('size and encoding disagree');
  return ns;
}

/** ns per message: BATCH messages made and sized, then the BATCH encoded one after another. */
function timeBatched(code: Code, n: number): number {
  const out = new code.OutgoingEnvelopes(PREFIX, 1000, code.noopMetrics, code.noopLogger);
  const data = Buffer.alloc(64, 7);
  const buf = Buffer.allocUnsafe(BATCH * 256);
  const queue: Envelope[] = new Array(BATCH);
  const sizes: number[] = new Array(BATCH).fill(0);
  const nowMs = Date.now();
  let total = 0;
  let encoded = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i += BATCH) {
    for (let j = 0; j < BATCH; j++) {
      const envelope = out.make(out.nextId(), LABEL, data, nowMs);
      sizes[j] = code.encodableSize(envelope);
      total += sizes[j]!;
      queue[j] = envelope;
    }
    let o = 0;
    for (let j = 0; j < BATCH; j++) o = code.encodeEnvelopeInto(queue[j]!, buf, o);
    encoded += o;
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (encoded !== total) throw new Error('size and encoding disagree');
  return ns;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const n = Number(arg('n') ?? 5_000_000);
const rounds = Number(arg('rounds') ?? 5);
const baseline = arg('baseline');
const codes = [await load('current', path.resolve(import.meta.dirname, '../src'))];
if (baseline !== undefined) codes.unshift(await load('baseline', esmSourceDir(baseline)));

for (const [shape, fn] of [
  ['inline', timeInline],
  ['batched', timeBatched],
] as const) {
  const times = new Map<string, number[]>(codes.map((c) => [c.name, []]));
  for (const c of codes) fn(c, Math.min(n, 500_000)); // warm up
  for (let r = 0; r < rounds; r++) for (const c of codes) times.get(c.name)!.push(fn(c, n));
  for (const c of codes) {
    const ts = times.get(c.name)!;
    console.log(
      `${shape.padEnd(8)} ${c.name.padEnd(9)} median ${median(ts).toFixed(1)} ns/msg  (${ts.map((t) => t.toFixed(1)).join(' ')})`,
    );
  }
}
