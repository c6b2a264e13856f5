/**
 * Micro-benchmark of the sender's acknowledged stream (src/sender/ack-stream.ts) alone:
 * entries pushed as messages are written, `ackUpTo()` as acknowledgements come, with
 * `window` entries unacknowledged at most and an acknowledgement every `ack` entries.
 * What it reports is the CPU an entry costs the stream's bookkeeping (no socket):
 * nanoseconds per entry, wall clock. By default the entries are records and the accounting
 * takes every call and does nothing (the stream alone); `--lane`: the entries are plain
 * messages of send()'s fast lane (a MessageRun shared by many, as writePlain pushes them)
 * told to the sender's real accounting (no metrics, nobody listening to outcomes, as the
 * two-process benchmark's `peerpost acked`), so the outcome bookkeeping of each ack counts too.
 *
 *   npx tsx bench/ack-stream-micro.ts [--n=2000000] [--rounds=5] [--window=20000] [--ack=1000] [--lane] [--baseline=DIR]
 *
 * `--baseline=DIR` names a copy of `src/` (e.g. a git worktree of the commit before):
 * both are run interleaved (A B A B ...) and the medians compared.
 */
import { Buffer } from 'node:buffer';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import type { Accounting } from '../src/sender/accounting.js';
import type { AckEntry, AckStream } from '../src/sender/ack-stream.js';
import type { OutgoingMessage } from '../src/sender/message.js';
import { esmSourceDir, median } from './lib.js';

function arg(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

interface Subject {
  name: string;
  Stream: new (random: () => number) => AckStream;
  /** What each entry is and what hears its outcome. */
  entry: AckEntry;
  accounting: Accounting;
}

const lane = process.argv.includes('--lane');

async function load(name: string, srcDir: string): Promise<Subject> {
  const url = (p: string) => pathToFileURL(path.join(srcDir, p)).href;
  const { AckStream } = (await import(
    url('sender/ack-stream.ts')
  )) as typeof import('../src/sender/ack-stream.js');
  if (!lane) return { name, Stream: AckStream, entry: record, accounting: idle };
  const { Accounting } = (await import(
    url('sender/accounting.ts')
  )) as typeof import('../src/sender/accounting.js');
  const { MessageRun, SlabUse } = (await import(
    url('sender/peer-queue.ts')
  )) as typeof import('../src/sender/peer-queue.js');
  const { noopMetrics } = (await import(url('metrics/types.ts'))) as typeof import('../src/metrics/types.js');
  const { systemClock } = (await import(url('util/clock.ts'))) as typeof import('../src/util/clock.js');
  // One run of plain messages framed in one buffer, as the fast lane's neighbours share
  // one; its use never reaches 0 pending (the buffer is not handed on).
  const use = new SlabUse(Buffer.alloc(64 * 1024));
  use.pending = Number.MAX_SAFE_INTEGER;
  const run = new MessageRun(use.buf as Buffer, use, 'Bench', PEER, PEER, 'Bench', ['127.0.0.1:1']);
  const accounting = new Accounting(systemClock, noopMetrics, () => {});
  accounting.listening = false;
  return { name, Stream: AckStream, entry: run, accounting };
}

const PEER = 'receiver';

/** An accounting that takes every call and does nothing: the stream's own cost is measured. */
const idle = {
  epochMs: 0,
  unackedChanged() {},
  delivered() {},
  unacknowledged() {},
} as unknown as Accounting;
/** A record entry (the stream only keeps it and hands it back). */
const record = { size: 100, metricLabel: 'Bench' } as unknown as OutgoingMessage;

function time(s: Subject, n: number, window: number, ackEvery: number): number {
  const stream = new s.Stream(Math.random);
  const { entry, accounting } = s;
  let seq = 1;
  let acked = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    stream.push(entry, seq++, 1, 0, 100, accounting);
    if (seq - 1 - acked >= window) {
      acked += ackEvery;
      stream.ackUpTo(acked, accounting, 'a', 2);
    }
  }
  stream.ackUpTo(seq, accounting, 'a', 2);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (stream.count !== 0) throw new Error(`${s.name}: ${stream.count} entries left`);
  return ns;
}

const n = Number(arg('n') ?? 2_000_000);
const rounds = Number(arg('rounds') ?? 5);
const window = Number(arg('window') ?? 20_000);
const ackEvery = Number(arg('ack') ?? 1000);
const baseline = arg('baseline');
const subjects = [await load('current', path.resolve(import.meta.dirname, '../src'))];
if (baseline !== undefined) subjects.unshift(await load('baseline', esmSourceDir(baseline)));
for (const s of subjects) time(s, Math.min(n, 200_000), window, ackEvery); // warm-up
const times = new Map<string, number[]>(subjects.map((s) => [s.name, []]));
for (let r = 0; r < rounds; r++)
  for (const s of subjects) times.get(s.name)!.push(time(s, n, window, ackEvery));
for (const s of subjects) {
  const ts = times.get(s.name)!;
  console.log(
    `window ${window}, ack every ${ackEvery}: ${s.name.padEnd(9)} median ${median(ts).toFixed(1)} ns/entry, min ${Math.min(...ts).toFixed(1)}  (${ts.map((t) => t.toFixed(1)).join(' ')})`,
  );
}
