/**
 * Micro-benchmark of the sender's whole per-message JavaScript: `network.send(peer, ...)`
 * through the direct sender, the peer sender, the frame slab and the connection's write
 * batch, into a stream that takes every write at once (no TLS, no socket, no receiver).
 * What it reports is the CPU a small message costs the sending process above the TLS
 * write itself (the two-process benchmark's sender column, minus encryption).
 *
 *   npx tsx bench/send-micro.ts [--n=3000000] [--rounds=5] [--size=64] [--window=1024] [--metrics]
 *     [--queue-bytes=N] [--baseline=DIR]
 *
 * The loop is the two-process benchmark's: `writable()` then `send()`, `window` messages
 * per turn of the event loop (the write batch flushes once per turn). `--baseline=DIR`
 * names a copy of `src/` (with the package.json beside it, e.g. `git archive HEAD src package.json | tar -x -C /tmp/base` before a change, then `--baseline=/tmp/base/src`: without it the copy runs as CommonJS, see `esmSourceDir` in bench/lib.ts): both are run
 * interleaved (A B A B ...) in one process, each on a network of its own, and the medians
 * compared. CPU is the process's (`process.cpuUsage`: main thread and GC threads).
 * `--metrics`: each network with `createPrometheusMetrics()` (as production nodes run).
 * `--queue-bytes=N`: the two-process benchmark's large window, `limits: { peerQueueBytes: N,
 * peerQueueCapacity: 1,000,000 }`; with a window of more than the transport's 1 MiB per
 * turn (e.g. `--window=65536 --queue-bytes=7340032`) most messages then take the queued
 * path (the 8 MiB rows of the two-process benchmark) instead of `send()`'s fast lane.
 *
 * `--src=DIR` measures that copy of `src/` alone instead of the repository's (as
 * bench/ab.ts runs it, one copy per process).
 */
import { Buffer } from 'node:buffer';
import path from 'node:path';
import process from 'node:process';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import type { Network } from '../src/network/network.js';
import type { Connection, Transport } from '../src/transport/types.js';
import { CountingSink, esmSourceDir, median } from './lib.js';

function arg(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

const PEER = 'receiver';
const withMetrics = process.argv.includes('--metrics');
const queueBytes = arg('queue-bytes') === undefined ? undefined : Number(arg('queue-bytes'));

interface Bench {
  name: string;
  net: Network;
  sink: () => CountingSink;
}

async function open(name: string, srcDir: string): Promise<Bench> {
  const url = (p: string) => pathToFileURL(path.join(srcDir, p)).href;
  const { createNetwork } = (await import(
    url('network/network.ts')
  )) as typeof import('../src/network/network.js');
  const { StreamConnection } = (await import(
    url('transport/stream-connection.ts')
  )) as typeof import('../src/transport/stream-connection.js');
  const { createPrometheusMetrics } = (await import(
    url('metrics/prometheus.ts')
  )) as typeof import('../src/metrics/prometheus.js');
  const { DEFAULT_LIMITS } = (await import(
    url('transport/limits.ts')
  )) as typeof import('../src/transport/limits.js');
  let sink: CountingSink | undefined;
  const transport: Transport = {
    async listen(address) {
      return { address, connectionCount: 0, close: async () => {} };
    },
    async connect(address, kind): Promise<Connection> {
      sink = new CountingSink();
      return new StreamConnection(sink, {
        kind,
        direction: 'outbound',
        remoteAddress: address,
        localAddress: '127.0.0.1:1',
        remoteIdentity: { certHash: 'sink', shortId: 'sink', ownerKeys: [] },
        // Nothing ever comes back from the sink: no idle verdict during the run.
        limits: { ...DEFAULT_LIMITS, idleTimeoutMs: 3_600_000 },
      });
    },
  };
  const net = await createNetwork({
    nodeId: `sender-${name}`,
    transport,
    listen: '127.0.0.1:2',
    topology: { [PEER]: [{ address: '127.0.0.1:3' }] },
    compressThresholdBytes: Number.MAX_SAFE_INTEGER,
    ...(withMetrics ? { metrics: createPrometheusMetrics() } : {}),
    ...(queueBytes === undefined
      ? {}
      : { limits: { peerQueueBytes: queueBytes, peerQueueCapacity: 1_000_000 } }),
  });
  return {
    name,
    net,
    sink: () => {
      if (sink === undefined) throw new Error('not connected');
      return sink;
    },
  };
}

/** CPU ns per message for `n` messages of `payload`, `window` per turn. */
async function time(b: Bench, n: number, window: number, payload: Buffer): Promise<number> {
  const net = b.net;
  const before = b.sink().bytes;
  const t0 = process.cpuUsage();
  for (let sent = 0; sent < n; ) {
    const end = Math.min(n, sent + window);
    for (; sent < end; sent++) {
      if (!net.writable(PEER)) await net.ready(PEER);
      net.send(PEER, 'Bench', payload);
    }
    await nextTurn();
  }
  await nextTurn();
  const cpu = process.cpuUsage(t0);
  const bytes = b.sink().bytes - before;
  if (bytes < n * payload.length) throw new Error(`${b.name}: ${bytes} bytes written for ${n} messages`);
  const outcomes = net.stats().outcomes;
  for (const [k, v] of Object.entries(outcomes))
    if (k !== 'written' && v > 0) throw new Error(`${b.name}: ${v} ${k}`);
  return ((cpu.user + cpu.system) * 1000) / n;
}

const n = Number(arg('n') ?? 3_000_000);
const rounds = Number(arg('rounds') ?? 5);
const window = Number(arg('window') ?? 1024);
const payload = Buffer.alloc(Number(arg('size') ?? 64), 7);
const baseline = arg('baseline');
const benches = [await open('current', esmSourceDir(arg('src') ?? path.join(import.meta.dirname, '../src')))];
if (baseline !== undefined) benches.unshift(await open('baseline', esmSourceDir(baseline)));

// The first send connects; wait for it, then warm up.
for (const b of benches) {
  b.net.send(PEER, 'Bench', payload);
  while (b.net.stats().outcomes.written === 0) await nextTurn();
  await time(b, Math.min(n, 300_000), window, payload);
}
const times = new Map<string, number[]>(benches.map((b) => [b.name, []]));
for (let r = 0; r < rounds; r++)
  for (const b of benches) times.get(b.name)!.push(await time(b, n, window, payload));
for (const b of benches) {
  const ts = times.get(b.name)!;
  console.log(
    `${payload.length} B, window ${window}${queueBytes === undefined ? '' : `, queue ${queueBytes} B`}${withMetrics ? ', metrics' : ''}: ${b.name.padEnd(9)} median ${median(ts).toFixed(0)} ns/msg CPU, min ${Math.min(...ts).toFixed(0)}  (${ts.map((t) => t.toFixed(0)).join(' ')})`,
  );
}
await Promise.all(benches.map((b) => b.net.close()));
