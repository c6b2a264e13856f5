/**
 * peerpost through its Network API, end to end: `createNetwork` on both sides, the sender
 * calls `network.send(peerId, ...)` / `broadcast(...)`, and a message counts when the
 * receiving network's `onMessage` listener has it (decoded, deduplicated, payload
 * decompressed). Two systems:
 * - `peerpost TLS`: the default mutual-TLS transport on 127.0.0.1, each side pinning the
 *   other's certificate hash (as raw TLS does);
 * - `peerpost memory`: the in-memory transport (MemoryNetwork on the system clock, no
 *   latency: it delivers on the next event-loop pass, no FakeClock to advance).
 * Compression is off (the compression suite measures zstd separately): the bench
 * payloads are periodic and would compress to almost nothing.
 */
import { certificateHash } from '../../src/identity/credentials.js';
import { createNetwork, type Network } from '../../src/network/network.js';
import type { NetworkOptions } from '../../src/network/options.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import { MemoryNetwork } from '../../src/transport/memory/network.js';
import { systemClock } from '../../src/util/clock.js';
import { nextTurn, windowed } from '../lib.js';
import { benchCredentials } from './certs.js';
import type { BenchSystem, FanoutGroup, IdleConnections, RpcPair, StreamPair } from './types.js';

/** Queues large enough that the bench's own window, not a queue limit, bounds what is in flight. */
const LIMITS = {
  peerQueueCapacity: 1_000_000,
  subscriberQueueCapacity: 1_000_000,
  // Both ends share one busy process: a queued handshake is not a dead peer.
  handshakeTimeoutMs: 60_000,
  writeTimeoutMs: 60_000,
  idleTimeoutMs: 600_000,
};
const NO_COMPRESSION = Number.MAX_SAFE_INTEGER;
/** Payload bytes the sender keeps undelivered at most (2x the transport's high-water mark). */
const WINDOW_BYTES = 2 * 1024 * 1024;

type Role = 'server' | 'client';
type Entry = { address: string; certHash?: string };

/** How one system makes its nodes. */
interface Kind {
  node(id: string, role: Role, topology?: NetworkOptions['topology']): Promise<Network>;
  /** Topology entry for a node made with `role` (pinned by certificate hash over TLS). */
  entry(n: Network, role: Role): Entry;
  close(): Promise<void>;
}

function tlsKind(): Kind {
  const creds = benchCredentials();
  const pem = (r: Role) => ({ keyPem: creds[r].key, certPem: creds[r].cert });
  const hash = { server: certificateHash(creds.server.cert), client: certificateHash(creds.client.cert) };
  return {
    node: (id, role, topology) =>
      createNetwork({
        nodeId: id,
        credentials: pem(role),
        // Servers trust clients and clients trust servers (fan-out subscribers share one identity).
        trust: { certHashes: [hash[role === 'server' ? 'client' : 'server']] },
        listen: '127.0.0.1:0',
        limits: LIMITS,
        compressThresholdBytes: NO_COMPRESSION,
        ...(topology === undefined ? {} : { topology }),
      }),
    entry: (n, role) => ({ address: n.address, certHash: hash[role] }),
    close: async () => {},
  };
}

function memoryKind(): Kind {
  const net = new MemoryNetwork({ clock: systemClock });
  let hosts = 0;
  return {
    node: (id, _role, topology) => {
      const host = `h${hosts++}`;
      return createNetwork({
        nodeId: id,
        transport: net.transport({ host }),
        listen: `${host}:0`,
        limits: LIMITS,
        compressThresholdBytes: NO_COMPRESSION,
        ...(topology === undefined ? {} : { topology }),
      });
    },
    entry: (n) => ({ address: n.address }),
    close: () => net.close(),
  };
}

/** Closes every network, then the kind (the memory network). */
async function closeAll(kind: Kind, nodes: readonly Network[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.close()));
  await kind.close();
}

/** Counts outcomes other than `written`: a bench run must not lose messages silently. */
function watchDrops(n: Network): () => void {
  let first = '';
  n.onOutcome((o) => {
    if (o.outcome.kind !== 'written' && first === '') first = formatOutcome(o.outcome);
  });
  return () => {
    if (first !== '') throw new Error(`${n.nodeId}: a message ended as ${first}`);
  };
}

/** A sender and a receiver node, the receiver in the sender's topology as `server`. */
async function twoNodes(kind: Kind): Promise<{ client: Network; server: Network; close(): Promise<void> }> {
  const server = await kind.node('server', 'server');
  const client = await kind.node('client', 'client', {
    server: [kind.entry(server, 'server')],
  });
  return { client, server, close: () => closeAll(kind, [client, server]) };
}

function windowFor(bytes: number): number {
  return Math.max(8, Math.min(16_384, Math.floor(WINDOW_BYTES / (bytes + 64))));
}

function system(name: string, makeKind: () => Kind): BenchSystem {
  return {
    name,

    async openStream(): Promise<StreamPair> {
      const kind = makeKind();
      const { client, server, close } = await twoNodes(kind);
      const check = watchDrops(client);
      let received = 0;
      server.onMessage(() => void received++);
      return {
        async transfer(count, payload) {
          received = 0;
          await windowed(
            count,
            windowFor(payload.length),
            () => client.send('server', 'Bench', payload),
            () => received,
          );
          check();
        },
        close,
      };
    },

    async openRpc(): Promise<RpcPair> {
      const kind = makeKind();
      const { client, server, close } = await twoNodes(kind);
      const check = watchDrops(client);
      server.onMessage((m) => void m.reply('Pong', m.data));
      let reply: (() => void) | undefined;
      client.onMessage(() => {
        const r = reply;
        reply = undefined;
        r?.();
      });
      return {
        roundTrip(payload) {
          const p = new Promise<void>((resolve) => {
            reply = resolve;
          });
          client.send('server', 'Ping', payload);
          check();
          return p;
        },
        close,
      };
    },

    async openFanout(subscribers): Promise<FanoutGroup> {
      const kind = makeKind();
      const publisher = await kind.node('publisher', 'server');
      const nodes: Network[] = [publisher];
      const check = watchDrops(publisher);
      let received = 0;
      try {
        const topology = { publisher: [kind.entry(publisher, 'server')] };
        for (let i = 0; i < subscribers; i++) {
          const s = await kind.node(`sub-${i}`, 'client', topology);
          nodes.push(s);
          s.onMessage(() => void received++);
          s.subscribe('publisher');
        }
        const end = Date.now() + 60_000;
        while (publisher.stats().hub.inbound['subscribe-node'] < subscribers) {
          if (Date.now() > end) throw new Error(`${name}: subscribers did not all connect`);
          await new Promise((r) => setTimeout(r, 10));
        }
      } catch (err) {
        await closeAll(kind, nodes);
        throw err;
      }
      return {
        async broadcast(count, payload) {
          received = 0;
          let sent = 0;
          const window = Math.max(8, Math.floor(WINDOW_BYTES / (payload.length + 64)));
          // Every subscriber must have every message: compare with the slowest possible.
          const done = () => Math.floor(received / subscribers);
          while (received < count * subscribers) {
            while (sent < count && sent - done() < window) {
              publisher.broadcast('Bench', payload);
              sent++;
            }
            await nextTurn();
          }
          check();
        },
        close: () => closeAll(kind, nodes),
      };
    },

    async openIdle(count, concurrency): Promise<IdleConnections> {
      // One client node with `count` peers in its topology, all at the server's address:
      // one peer sender, hence one connection, per peer. Each connection is opened by
      // sending one message to its peer; a worker waits for the server to have it.
      const kind = makeKind();
      const server = await kind.node('server', 'server');
      const entry = kind.entry(server, 'server');
      const topology: Record<string, Entry[]> = {};
      for (let i = 0; i < count; i++) topology[`p${i}`] = [entry];
      const client = await kind.node('client', 'client', topology);
      const check = watchDrops(client);
      const waiting = new Map<string, () => void>();
      server.onMessage((m) => {
        const w = waiting.get(m.label);
        waiting.delete(m.label);
        w?.();
      });
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const id = `p${next++}`;
          const arrived = new Promise<void>((resolve) => waiting.set(id, resolve));
          client.send(id, id, new Uint8Array(1));
          await arrived;
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
        check();
        const open = server.stats().hub.inbound.direct;
        if (open !== count) throw new Error(`${name}: ${open} inbound connections, expected ${count}`);
      } catch (err) {
        await closeAll(kind, [client, server]);
        throw err;
      }
      return { close: () => closeAll(kind, [client, server]) };
    },
  };
}

export const peerpostTls = system('peerpost TLS', tlsKind);
export const peerpostMemory = system('peerpost memory', memoryKind);
