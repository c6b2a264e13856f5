/**
 * Micro-benchmark of a request/reply round trip's JavaScript on both ends:
 * `await net.request(peer, 'Ping', data)` on one node, `msg.reply('Pong', msg.data)` on the
 * other, over the in-memory transport in one process (no TLS, no socket, no second
 * process). What it reports is the CPU one round trip costs peerpost's code on the two
 * sides together (request, send, lane, encode, write batch, decode, delivery, reply,
 * matching, promise): the part of the two-process latency rows that is not TLS or the
 * kernel.
 *
 *   npx tsx bench/rpc-micro.ts [--n=100000] [--rounds=7] [--size=64] [--metrics] [--baseline=DIR]
 *
 * `--metrics`: both nodes with `createPrometheusMetrics()` (as production nodes run).
 *
 * `--baseline=DIR` names a copy of `src/` (with the package.json beside it, e.g. `git
 * archive HEAD src package.json | tar -x -C /tmp/base` before a change, then
 * `--baseline=/tmp/base/src`: without it the copy runs as CommonJS, see `esmSourceDir` in
 * bench/lib.ts): both are run interleaved (A B A B ...) in one process, each on a memory network
 * of its own, and the medians compared. CPU is the process's (`process.cpuUsage`: main
 * thread and GC threads) per round trip.
 *
 * `--src=DIR` measures that copy of `src/` alone instead of the repository's (as
 * bench/ab.ts runs it, one copy per process).
 */
import { Buffer } from 'node:buffer';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import type { Network } from '../src/network/network.js';
import { esmSourceDir, median } from './lib.js';

function arg(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

interface Bench {
  name: string;
  requester: Network;
  responder: Network;
  close: () => Promise<void>;
}

async function open(name: string, srcDir: string): Promise<Bench> {
  const url = (p: string) => pathToFileURL(path.join(srcDir, p)).href;
  const { createNetwork } = (await import(
    url('network/network.ts')
  )) as typeof import('../src/network/network.js');
  const { MemoryNetwork } = (await import(
    url('transport/memory/network.ts')
  )) as typeof import('../src/transport/memory/network.js');
  const { systemClock } = (await import(url('util/clock.ts'))) as typeof import('../src/util/clock.js');
  const { createPrometheusMetrics } = (await import(
    url('metrics/prometheus.ts')
  )) as typeof import('../src/metrics/prometheus.js');
  const memory = new MemoryNetwork({ clock: systemClock });
  const options = { compressThresholdBytes: Number.MAX_SAFE_INTEGER };
  const metrics = () => (withMetrics ? { metrics: createPrometheusMetrics() } : {});
  const responder = await createNetwork({
    nodeId: `responder-${name}`,
    transport: memory.transport({ host: 'r' }),
    listen: 'r:0',
    ...options,
    ...metrics(),
  });
  responder.onMessage((m) => m.reply('Pong', m.data));
  const requester = await createNetwork({
    nodeId: `requester-${name}`,
    transport: memory.transport({ host: 'q' }),
    listen: 'q:0',
    topology: { responder: [responder.address] },
    ...options,
    ...metrics(),
  });
  return {
    name,
    requester,
    responder,
    close: async () => {
      await Promise.all([requester.close(), responder.close()]);
      await memory.close();
    },
  };
}

/** CPU ns per round trip for `n` sequential requests of `payload`. */
async function time(b: Bench, n: number, payload: Buffer): Promise<number> {
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const reply = await b.requester.request('responder', 'Ping', payload);
    if (reply.data.length !== payload.length)
      throw new Error(`${b.name}: reply of ${reply.data.length} bytes`);
  }
  const cpu = process.cpuUsage(t0);
  return ((cpu.user + cpu.system) * 1000) / n;
}

const n = Number(arg('n') ?? 100_000);
const withMetrics = process.argv.includes('--metrics');
const rounds = Number(arg('rounds') ?? 7);
const payload = Buffer.alloc(Number(arg('size') ?? 64), 7);
const baseline = arg('baseline');
const benches = [await open('current', esmSourceDir(arg('src') ?? path.join(import.meta.dirname, '../src')))];
if (baseline !== undefined) benches.unshift(await open('baseline', esmSourceDir(baseline)));

// The first request connects; then warm up.
for (const b of benches) await time(b, Math.min(n, 30_000), payload);
const times = new Map<string, number[]>(benches.map((b) => [b.name, []]));
for (let r = 0; r < rounds; r++) for (const b of benches) times.get(b.name)!.push(await time(b, n, payload));
for (const b of benches) {
  const ts = times.get(b.name)!;
  console.log(
    `${payload.length} B round trip${withMetrics ? ', metrics' : ''}: ${b.name.padEnd(9)} median ${median(ts).toFixed(0)} ns CPU, min ${Math.min(...ts).toFixed(0)}  (${ts.map((t) => t.toFixed(0)).join(' ')})`,
  );
}
for (const b of benches) {
  const outcomes = b.requester.stats().outcomes;
  for (const [k, v] of Object.entries(outcomes))
    if (k !== 'written' && v > 0) throw new Error(`${b.name}: ${v} ${k}`);
}
await Promise.all(benches.map((b) => b.close()));
