/**
 * Micro-benchmark of the sender's acknowledged stream (src/sender/ack-stream.ts) alone:
 * entries pushed as messages are written, `ackUpTo()` as acknowledgements come, with
 * `window` entries unacknowledged at most and an acknowledgement every `ack` entries.
 * What it reports is the CPU an entry costs the stream's bookkeeping (no accounting, no
 * socket): nanoseconds per entry, wall clock.
 *
 *   npx tsx bench/ack-stream-micro.ts [--n=2000000] [--rounds=5] [--window=20000] [--ack=1000] [--baseline=DIR]
 *
 * `--baseline=DIR` names a copy of `src/` (e.g. a git worktree of the commit before):
 * both are run interleaved (A B A B ...) and the medians compared.
 */
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import type { Accounting } from '../src/sender/accounting.js';
import type { AckStream } from '../src/sender/ack-stream.js';
import type { OutgoingMessage } from '../src/sender/message.js';
import { median } from './lib.js';

function arg(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

interface Subject {
  name: string;
  Stream: new (random: () => number) => AckStream;
}

async function load(name: string, srcDir: string): Promise<Subject> {
  const url = pathToFileURL(path.join(srcDir, 'sender/ack-stream.ts')).href;
  const { AckStream } = (await import(url)) as typeof import('../src/sender/ack-stream.js');
  return { name, Stream: AckStream };
}

/** An accounting that takes every call and does nothing: the stream's own cost is measured. */
const accounting = {
  epochMs: 0,
  unackedChanged() {},
  delivered() {},
  unacknowledged() {},
} as unknown as Accounting;
/** A record entry (the stream only keeps it and hands it back). */
const record = { size: 100, metricLabel: 'Bench' } as unknown as OutgoingMessage;

function time(s: Subject, n: number, window: number, ackEvery: number): number {
  const stream = new s.Stream(Math.random);
  let seq = 1;
  let acked = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    stream.push(record, seq++, 1, 0, 100, accounting);
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
if (baseline !== undefined) subjects.unshift(await load('baseline', path.resolve(baseline)));
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
