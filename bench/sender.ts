/**
 * Direct sender benchmarks.
 *
 * Throughput: messages from `send()` to delivered-at-receiver per second through the
 * direct sender, next to writing the same envelopes (encoded per message, as the sender
 * does) straight on one raw connection of the same transport, in the same run. Both use
 * the same in-flight window, so the ratio is the sender's overhead.
 *
 * Memory: 10,000 peers in the topology, 1,000 of them with an idle connected sender.
 *
 * The transport comes from a {@link TransportPair} factory: `memoryPair` here; a TLS pair
 * (two TLS transports on 127.0.0.1) plugs into {@link benchSenderThroughput} unchanged.
 */

import { DirectSender } from '../src/sender/direct-sender.js';
import { peer } from '../src/sender/receiver.js';
import { MemoryNetwork } from '../src/testing.js';
import type { PeerAddress, Topology } from '../src/topology/types.js';
import type { Transport } from '../src/transport/types.js';
import { ObservableValue } from '../src/util/observable.js';
import { type Envelope, encodeEnvelope } from '../src/wire/envelope.js';
import { type Figure, median, quick } from './lib.js';

/** A client and a server transport that can reach each other, and how to tear them down. */
export interface TransportPair {
  readonly name: string;
  readonly client: Transport;
  readonly server: Transport;
  /** Address to listen on with `server` (port 0). */
  readonly listenAddress: string;
  close(): Promise<void>;
}

export function memoryPair(): TransportPair {
  const net = new MemoryNetwork();
  return {
    name: 'memory',
    client: net.transport({ host: 'client' }),
    server: net.transport({ host: 'server' }),
    listenAddress: 'server:0',
    close: () => net.close(),
  };
}

/**
 * Undelivered messages allowed at once: 2048, or fewer so that they stay under half the
 * transport's 1 MiB high-water mark (the raw baseline ignores backpressure, the sender
 * honours it; below the mark neither has to).
 */
function windowFor(size: number): number {
  return Math.min(2048, Math.floor((512 * 1024) / (size + 64)));
}
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const noHub = { sendToAddress: () => 'no_connection' as const, broadcast: () => 'no_subscriber' as const };

function envelope(size: number): Envelope {
  return {
    deliveryStartTimestampMs: 1_700_000_000_000n,
    id: 'node-1-000000000001',
    label: 'MsgType::Block',
    compressed: false,
    data: Buffer.alloc(size, 0x5a),
    lastSenderIsProxy: false,
  };
}

/** Sends `count` messages with `send`, keeping at most `window` undelivered; returns messages per second. */
async function pump(
  count: number,
  window: number,
  send: () => void,
  delivered: () => number,
): Promise<number> {
  const start = performance.now();
  let sent = 0;
  while (delivered() < count) {
    while (sent < count && sent - delivered() < window) {
      send();
      sent++;
    }
    await nextTurn();
  }
  return (count * 1000) / (performance.now() - start);
}

async function rawRound(make: () => TransportPair, env: Envelope, count: number): Promise<number> {
  const pair = make();
  let received = 0;
  const listener = await pair.server.listen(pair.listenAddress, {
    onConnection: (c) => c.attach({ onFrame: () => void received++ }),
  });
  const conn = await pair.client.connect(listener.address, 'direct');
  conn.attach({ onFrame() {} });
  const rate = await pump(
    count,
    windowFor(env.data.byteLength),
    () => conn.write(encodeEnvelope(env)),
    () => received,
  );
  conn.close();
  await listener.close();
  await pair.close();
  return rate;
}

async function senderRound(make: () => TransportPair, env: Envelope, count: number): Promise<number> {
  const pair = make();
  let received = 0;
  const listener = await pair.server.listen(pair.listenAddress, {
    onConnection: (c) => c.attach({ onFrame: () => void received++ }),
  });
  const sender = new DirectSender({
    transport: pair.client,
    hub: noHub,
    incoming: { push() {} },
    topology: new ObservableValue<Topology>(new Map([['P', [{ address: listener.address }]]])),
    config: new ObservableValue({ peerQueueCapacity: 4096 }),
  });
  const target = peer('P');
  const rate = await pump(
    count,
    windowFor(env.data.byteLength),
    () => sender.send(target, env),
    () => received,
  );
  await sender.close();
  await listener.close();
  await pair.close();
  return rate;
}

/** send() -> delivered throughput vs the raw transport, 64 B and 1 KiB, on one transport. */
export async function benchSenderThroughput(make: () => TransportPair): Promise<Figure[]> {
  const figures: Figure[] = [];
  const rounds = quick ? 3 : 7;
  const name = make.name.replace(/Pair$/, '') || 'transport';
  for (const [label, size, count] of [
    ['64B', 64, quick ? 20_000 : 200_000],
    ['1KiB', 1024, quick ? 10_000 : 100_000],
  ] as const) {
    const env = envelope(size);
    const raw: number[] = [];
    const direct: number[] = [];
    for (let r = 0; r < rounds; r++) {
      raw.push(await rawRound(make, env, count));
      direct.push(await senderRound(make, env, count));
    }
    const base = `raw ${name} ${label}`;
    figures.push({ suite: 'sender', name: base, value: median(raw), unit: 'msg/s', rounds: raw });
    figures.push({
      suite: 'sender',
      name: `direct sender ${name} ${label}`,
      value: median(direct),
      unit: 'msg/s',
      rounds: direct,
      baseline: base,
    });
  }
  return figures;
}

/** Heap with 10,000 peers in the topology and 1,000 idle connected senders (memory transport). */
export async function benchSenderMemory(): Promise<Figure[]> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const net = new MemoryNetwork();
  const client = net.transport({ host: 'client' });
  const server = net.transport({ host: 'server' });
  const listeners = [];
  for (let i = 0; i < 1000; i++) {
    listeners.push(await server.listen('server:0', { onConnection: (c) => c.attach({ onFrame() {} }) }));
  }
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const topology = new Map<string, PeerAddress[]>();
  for (let i = 0; i < 10_000; i++) {
    const address = i < 1000 ? listeners[i]!.address : `server:${20_000 + i}`;
    topology.set(`peer-${i}`, [{ address }]);
  }
  const sender = new DirectSender({
    transport: client,
    hub: noHub,
    incoming: { push() {} },
    topology: new ObservableValue<Topology>(topology),
    config: new ObservableValue({}),
  });
  const env = envelope(64);
  for (let i = 0; i < 1000; i++) sender.send(peer(`peer-${i}`), env);
  for (let i = 0; i < 20; i++) await nextTurn();
  const connected = sender.stats().senders.filter((s) => s.state === 'connected').length;
  gc?.();
  const after = process.memoryUsage().heapUsed;
  await sender.close();
  await Promise.all(listeners.map((l) => l.close()));
  await net.close();
  const mib = (b: number) => b / (1024 * 1024);
  if (connected !== 1000) throw new Error(`expected 1000 connected senders, got ${connected}`);
  return [
    {
      suite: 'sender',
      name: 'heap used, 10k peers + 1k idle senders (target < 64)',
      value: mib(after),
      unit: 'MiB',
      rounds: [mib(after)],
    },
    {
      suite: 'sender',
      name: 'heap added by topology + senders + their connections',
      value: mib(after - before),
      unit: 'MiB',
      rounds: [mib(after - before)],
    },
  ];
}

/** Every sender figure: memory-transport throughput and memory. TLS: call benchSenderThroughput(tlsPair). */
export async function benchSender(): Promise<Figure[]> {
  return [...(await benchSenderThroughput(memoryPair)), ...(await benchSenderMemory())];
}
