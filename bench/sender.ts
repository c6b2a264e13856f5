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
 * The transport comes from a {@link TransportPair} factory: `memoryPair` (the in-memory
 * transport on the system clock) or `tlsPair` (two mutual-TLS transports on 127.0.0.1
 * that trust each other's certificate hash).
 *
 * The heap figure needs `--expose-gc` and a clean heap: `benchSender()` measures it in a
 * child process (`node --expose-gc --import tsx bench/sender.ts heap`).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { certificateHash } from '../src/identity/credentials.js';

import { DirectSender } from '../src/sender/direct-sender.js';
import { peer } from '../src/sender/receiver.js';
import { MemoryNetwork } from '../src/testing.js';
import type { PeerAddress, Topology } from '../src/topology/types.js';
import { TlsTransport } from '../src/transport/tls/tls-transport.js';
import type { Transport } from '../src/transport/types.js';
import { systemClock } from '../src/util/clock.js';
import { ObservableValue } from '../src/util/observable.js';
import { type Envelope, encodeEnvelope } from '../src/wire/envelope.js';
import { type Figure, median, nextTurn, quick, windowed } from './lib.js';
import { benchCredentials } from './systems/certs.js';

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
  const net = new MemoryNetwork({ clock: systemClock });
  return {
    name: 'memory',
    client: net.transport({ host: 'client' }),
    server: net.transport({ host: 'server' }),
    listenAddress: 'server:0',
    close: () => net.close(),
  };
}

export function tlsPair(): TransportPair {
  const { server: s, client: c } = benchCredentials();
  const client = new TlsTransport({
    credentials: { keyPem: c.key, certPem: c.cert },
    trust: { certHashes: [certificateHash(s.cert)] },
  });
  const server = new TlsTransport({
    credentials: { keyPem: s.key, certPem: s.cert },
    trust: { certHashes: [certificateHash(c.cert)] },
  });
  return {
    name: 'TLS',
    client,
    server,
    listenAddress: '127.0.0.1:0',
    close: async () => {
      await client.close();
      await server.close();
    },
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
  await windowed(count, window, send, delivered);
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
  const rounds = quick ? 2 : 7;
  const probe = make();
  const name = probe.name;
  await probe.close();
  for (const [label, size, count] of [
    ['64B', 64, quick ? 10_000 : 200_000],
    ['1KiB', 1024, quick ? 5_000 : 100_000],
  ] as const) {
    const env = envelope(size);
    const raw: number[] = [];
    const direct: number[] = [];
    for (let r = 0; r < rounds; r++) {
      raw.push(await rawRound(make, env, count));
      direct.push(await senderRound(make, env, count));
    }
    const base = `raw ${name} ${label}`;
    figures.push({
      suite: 'sender',
      name: base,
      system: `raw ${name}`,
      case: label,
      value: median(raw),
      unit: 'msg/s',
      rounds: raw,
    });
    figures.push({
      suite: 'sender',
      name: `direct sender ${name} ${label}`,
      system: `direct sender ${name}`,
      case: label,
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
  if (connected !== 1000) throw new Error(`expected 1000 connected senders, got ${connected}`);
  if (!gc) throw new Error('the sender heap figure needs --expose-gc');
  return [
    {
      suite: 'sender',
      name: 'sender heap used, 10k peers + 1k idle senders',
      system: 'heap, 10k peers + 1k idle senders',
      case: 'used',
      value: after,
      unit: 'bytes',
      rounds: [after],
      lowerIsBetter: true,
    },
    {
      suite: 'sender',
      name: 'heap added by 10k peers + 1k idle senders and their connections',
      system: 'heap, 10k peers + 1k idle senders',
      case: 'added by them',
      value: after - before,
      unit: 'bytes',
      rounds: [after - before],
      lowerIsBetter: true,
    },
  ];
}

const SELF = fileURLToPath(import.meta.url);

/** Runs {@link benchSenderMemory} in a fresh `--expose-gc` child, so the heap holds nothing else. */
function senderMemoryInChild(): Promise<Figure[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', SELF, 'heap'],
      { timeout: 120_000, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`sender heap child failed: ${err.message}\n${stderr}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Figure[]);
        } catch {
          reject(new Error(`sender heap child printed no result: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

/** Every sender figure: throughput on the memory and TLS transports, and the heap figure. */
export async function benchSender(): Promise<Figure[]> {
  return [
    ...(await benchSenderThroughput(memoryPair)),
    ...(await benchSenderThroughput(tlsPair)),
    ...(await senderMemoryInChild()),
  ];
}

if (process.argv[1] === SELF && process.argv[2] === 'heap') {
  console.log(JSON.stringify(await benchSenderMemory()));
}
