/**
 * Micro-benchmark of the publisher's per-copy JavaScript of a broadcast:
 * `network.broadcast(...)` through the direct sender, the hub, each subscriber
 * connection's outbox and write batch, into streams that take every write at once (no
 * TLS, no socket, no subscriber process). What it reports is the CPU a broadcast costs the
 * publishing process above the TLS writes themselves (the two-process fan-out row's sender
 * column, minus encryption), per copy (per subscriber).
 *
 *   npx tsx bench/broadcast-micro.ts [--n=20000] [--rounds=5] [--size=1024] [--subscribers=100]
 *     [--window=256] [--high-water=BYTES] [--metrics] [--baseline=DIR]
 *
 * The loop is the two-process fan-out's: `window` broadcasts per turn of the event loop
 * (each connection's write batch flushes once per turn). `--baseline=DIR` names a copy of
 * `src/` (with the package.json beside it, e.g. `git archive HEAD src package.json | tar -x -C /tmp/base` before a change, then `--baseline=/tmp/base/src`: without it the copy runs as CommonJS, see `esmSourceDir` in bench/lib.ts): both are run interleaved
 * (A B A B ...) in one process, each on a network of its own, and the medians compared.
 * CPU is the process's (`process.cpuUsage`: main thread and GC threads).
 * `--metrics`: each network with `createPrometheusMetrics()` (as production nodes run).
 * `--high-water=BYTES`: each subscriber connection's high-water mark (default the
 * transport's, 1 MiB, which a turn's broadcasts never reach here): a small one (e.g. 16384)
 * makes most copies wait in their subscriber's queue and go out as it drains, the path most
 * copies take in the two-process fan-out, where the sockets push back.
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

const withMetrics = process.argv.includes('--metrics');
const highWater = arg('high-water') === undefined ? undefined : Number(arg('high-water'));

interface Bench {
  name: string;
  net: Network;
  sinks: CountingSink[];
}

async function open(name: string, srcDir: string, subscribers: number): Promise<Bench> {
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
  const sinks: CountingSink[] = [];
  const transport: Transport = {
    async listen(address, options) {
      // The subscribers' connections, accepted as soon as the hub listens.
      setImmediate(() => {
        for (let i = 0; i < subscribers; i++) {
          const sink = new CountingSink();
          sinks.push(sink);
          options.onConnection(
            new StreamConnection(sink, {
              kind: 'subscribe-node',
              direction: 'inbound',
              remoteAddress: `127.0.0.1:${10_000 + i}`,
              localAddress: address,
              remoteIdentity: { certHash: `sub${i}`, shortId: `sub${i}`, ownerKeys: [] },
              // Nothing ever comes from a sink: no idle verdict during the run.
              limits: {
                ...DEFAULT_LIMITS,
                idleTimeoutMs: 3_600_000,
                highWaterMarkBytes: highWater ?? DEFAULT_LIMITS.highWaterMarkBytes,
              },
            }) as Connection,
          );
        }
      });
      return { address, connectionCount: subscribers, close: async () => {} };
    },
    async connect(): Promise<Connection> {
      throw new Error('the publisher dials nobody');
    },
  };
  const net = await createNetwork({
    nodeId: `publisher-${name}`,
    transport,
    listen: '127.0.0.1:2',
    compressThresholdBytes: Number.MAX_SAFE_INTEGER,
    limits: { subscriberQueueCapacity: 1_000_000 },
    ...(withMetrics ? { metrics: createPrometheusMetrics() } : {}),
  });
  return { name, net, sinks };
}

const copies = (b: Bench): number => b.sinks.reduce((sum, s) => sum + s.bytes, 0);

/** CPU ns per copy for `n` broadcasts of `payload`, `window` per turn. */
async function time(b: Bench, n: number, window: number, payload: Buffer): Promise<number> {
  const net = b.net;
  const before = copies(b);
  const t0 = process.cpuUsage();
  for (let sent = 0; sent < n; ) {
    const end = Math.min(n, sent + window);
    for (; sent < end; sent++) net.broadcast('Bench', payload);
    await nextTurn();
  }
  await nextTurn();
  const cpu = process.cpuUsage(t0);
  const bytes = copies(b) - before;
  const want = n * b.sinks.length * payload.length;
  if (bytes < want) throw new Error(`${b.name}: ${bytes} bytes written, ${want} expected at least`);
  const outcomes = net.stats().outcomes;
  for (const [k, v] of Object.entries(outcomes))
    if (k !== 'written' && v > 0) throw new Error(`${b.name}: ${v} ${k}`);
  return ((cpu.user + cpu.system) * 1000) / (n * b.sinks.length);
}

const n = Number(arg('n') ?? 20_000);
const rounds = Number(arg('rounds') ?? 5);
const window = Number(arg('window') ?? 256);
const subscribers = Number(arg('subscribers') ?? 100);
const payload = Buffer.alloc(Number(arg('size') ?? 1024), 7);
const baseline = arg('baseline');
const benches = [
  await open('current', esmSourceDir(arg('src') ?? path.join(import.meta.dirname, '../src')), subscribers),
];
if (baseline !== undefined) benches.unshift(await open('baseline', esmSourceDir(baseline), subscribers));

for (const b of benches) {
  while (b.net.stats().hub.inbound['subscribe-node'] < subscribers) await nextTurn();
  await time(b, Math.min(n, 5_000), window, payload);
}
const times = new Map<string, number[]>(benches.map((b) => [b.name, []]));
for (let r = 0; r < rounds; r++)
  for (const b of benches) times.get(b.name)!.push(await time(b, n, window, payload));
for (const b of benches) {
  const ts = times.get(b.name)!;
  console.log(
    `${payload.length} B to ${subscribers}, window ${window}${highWater === undefined ? '' : `, high-water ${highWater}`}${withMetrics ? ', metrics' : ''}: ${b.name.padEnd(9)} median ${median(ts).toFixed(0)} ns/copy CPU, min ${Math.min(...ts).toFixed(0)}  (${ts.map((t) => t.toFixed(0)).join(' ')})`,
  );
}
await Promise.all(benches.map((b) => b.net.close()));
