/**
 * The receiving process of the two-process benchmark (bench/two-process.ts forks it):
 *
 *   node --import tsx bench/two-process-child.ts raw|peerpost|zeromq|ws|libp2p|fanout-raw|fanout-peerpost [--metrics]
 *
 * It learns its credentials and whom to trust over IPC (`init`; key material never goes
 * on the command line), listens on 127.0.0.1 port 0 and answers `listening` with its
 * port. Then:
 * - `raw`: a node:tls 1.3 server with mutual authentication, pinning the sender's
 *   certificate; a connection that negotiated ALPN `bench-count` has its 4-byte
 *   length-prefixed frames counted, one that negotiated `bench-echo` gets each frame back;
 * - `peerpost`: `createNetwork` (public API) pinning the sender's certificate hash; a
 *   message labelled `Ping` is answered with `msg.reply('Pong', data)`, any other one is
 *   counted; `--metrics` passes `createPrometheusMetrics()` as its `metrics`;
 * - `zeromq`, `ws`, `libp2p`: the alternatives, one channel counted and one echoed each
 *   (ZeroMQ with CURVE: PULL and REP sockets, `listening` adds the REP port and the CURVE
 *   public key; ws: wss with client certificates, paths `/count` and `/echo`; libp2p:
 *   noise and yamux, two protocols, `listening` adds the multiaddr with the peer id);
 * - `fanout-raw`, `fanout-peerpost`: 100 subscribers of the sender's publisher.
 * `expect` (an absolute total) is answered with `done` once that many messages have been
 * counted since the start, with this process's cumulative CPU time (all threads and the
 * main thread) and GCs (bench/process-cpu.ts); `stats` with the totals; `close` closes everything, and the
 * process must then exit by itself (a socket or timer left open would keep it alive, and
 * the parent reports it).
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Credentials, Network, PrometheusMetrics } from '../src/index.js';
import { listenLoopback } from './lib.js';
import { cpuMeter } from './process-cpu.js';
import { FrameReader } from './systems/frames.js';
import { bytesOf, framed, libp2pNode } from './systems/libp2p.js';
import { endpointOf } from './systems/zeromq.js';
import {
  ALPN_COUNT,
  ALPN_ECHO,
  type ChildMessage,
  type ChildStats,
  closeSocket,
  type FanoutInit,
  LIBP2P_COUNT,
  LIBP2P_ECHO,
  type Listening,
  loadPeerpost,
  mutualTlsServer,
  NO_COMPRESSION,
  type ParentMessage,
  serveParent,
  sumMetric,
  tlsConnect,
  WS_ECHO_PATH,
} from './two-process-shared.js';

// peerpost itself: the source, or with the bench's --built the built package (dist/).
const { certificateHash, createNetwork, createPrometheusMetrics } = await loadPeerpost();

const kind = process.argv[2];
const withMetrics = process.argv.includes('--metrics');
const KINDS = ['raw', 'peerpost', 'zeromq', 'ws', 'libp2p', 'fanout-raw', 'fanout-peerpost'];
if (kind === undefined || !KINDS.includes(kind) || !process.send) {
  console.error(`usage (forked with IPC): two-process-child.ts ${KINDS.join('|')} [--metrics]`);
  process.exit(2);
}

const send = (m: ChildMessage): void => {
  process.send?.(m);
};

/** CPU time (all threads / main thread) and GCs of this process since it started counting. */
const meter = cpuMeter();
let delivered = 0;
let target = Number.POSITIVE_INFINITY;
/** Called on every counted message: one comparison, the same in both systems. */
function counted(): void {
  if (++delivered >= target) {
    target = Number.POSITIVE_INFINITY;
    done();
  }
}

function done(): void {
  send({ type: 'done', delivered, cpu: meter.sample() });
}

/** A receiving side: where it listens (what the sender needs), its stats, close. */
interface Receiver extends Listening {
  stats(): Promise<ChildStats>;
  close(): Promise<void>;
}

async function rawReceiver(credentials: Credentials, peerCertPem: string): Promise<Receiver> {
  const pinned = new X509Certificate(peerCertPem).fingerprint256;
  const sockets = new Set<TLSSocket>();
  const server: Server = createServer(
    {
      ...mutualTlsServer(credentials),
      ALPNProtocols: [ALPN_COUNT, ALPN_ECHO],
      noDelay: true,
    },
    (socket) => {
      if (socket.getPeerX509Certificate()?.fingerprint256 !== pinned) {
        socket.destroy();
        return;
      }
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      if (socket.alpnProtocol === ALPN_ECHO) {
        const echo = new FrameReader((frame) => {
          const out = Buffer.allocUnsafe(4 + frame.length);
          out.writeUInt32BE(frame.length, 0);
          frame.copy(out, 4);
          socket.write(out);
        });
        socket.on('data', (chunk: Buffer) => echo.push(chunk));
      } else {
        const reader = new FrameReader(counted);
        socket.on('data', (chunk: Buffer) => reader.push(chunk));
      }
    },
  );
  server.on('tlsClientError', () => {});
  const port = await listenLoopback(server);
  return {
    port,
    stats: async () => ({ delivered }),
    async close() {
      const gone = [...sockets].map((s) => new Promise<void>((r) => s.once('close', () => r())));
      for (const s of sockets) s.destroy();
      await Promise.all(gone);
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function peerpostReceiver(credentials: Credentials, peerCertPem: string): Promise<Receiver> {
  const metrics: PrometheusMetrics | undefined = withMetrics ? createPrometheusMetrics() : undefined;
  const net: Network = await createNetwork({
    nodeId: 'receiver',
    credentials,
    trust: { certHashes: [certificateHash(peerCertPem)] },
    listen: '127.0.0.1:0',
    compressThresholdBytes: NO_COMPRESSION,
    ...(metrics ? { metrics } : {}),
  });
  net.onMessage((msg) => {
    if (msg.label === 'Ping') msg.reply('Pong', msg.data);
    else counted();
  });
  return {
    port: Number(net.address.slice(net.address.lastIndexOf(':') + 1)),
    async stats() {
      const s = net.stats();
      const out: ChildStats = {
        delivered,
        deduplicated: s.incoming.deduplicated,
        undecodable: s.incoming.undecodable,
        droppedSlowReader: s.incoming.droppedSlowReader,
        outcomes: { ...s.outcomes },
      };
      if (metrics) out.metricReceivedBytes = await sumMetric(metrics, 'peerpost_received_bytes_total');
      return out;
    },
    close: () => net.close(),
  };
}

/**
 * Fan-out, raw TLS: `n` TLS connections to the parent's publisher (ALPN `bench-count`,
 * pinning its certificate), each counting the frames it receives with `counted`, as the
 * point-to-point raw receiver does (both publishers are paced by their own backpressure:
 * nothing is reported over IPC until the round's total is counted).
 */
async function rawSubscribers(
  credentials: Credentials,
  peerCertPem: string,
  f: FanoutInit,
): Promise<Receiver> {
  const sockets: TLSSocket[] = [];
  // The publisher may have closed them first: wait only for those not closed yet.
  const closeAll = () => Promise.all(sockets.map(closeSocket)).then(() => {});
  try {
    for (let i = 0; i < f.subscribers; i++) {
      const socket = await tlsConnect(f.port, credentials, peerCertPem, ALPN_COUNT);
      sockets.push(socket);
      const reader = new FrameReader(counted);
      socket.on('data', (chunk: Buffer) => reader.push(chunk));
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { port: 0, stats: async () => ({ delivered }), close: closeAll };
}

/**
 * Fan-out, peerpost: `n` `createNetwork` nodes, each with the publisher (pinned) as peer
 * `publisher` in its topology and `subscribe('publisher')`; every message counted.
 */
async function peerpostSubscribers(
  credentials: Credentials,
  peerCertPem: string,
  f: FanoutInit,
): Promise<Receiver> {
  const hash = certificateHash(peerCertPem);
  const nodes: Network[] = [];
  // With --metrics, a registry per subscriber node (as each would have in a process of its own).
  const registries: PrometheusMetrics[] = [];
  try {
    for (let i = 0; i < f.subscribers; i++) {
      const metrics = withMetrics ? createPrometheusMetrics() : undefined;
      if (metrics) registries.push(metrics);
      const net = await createNetwork({
        nodeId: `sub-${i}`,
        credentials,
        trust: { certHashes: [hash] },
        listen: '127.0.0.1:0',
        topology: { publisher: [{ address: f.address, certHash: hash }] },
        compressThresholdBytes: NO_COMPRESSION,
        ...(metrics ? { metrics } : {}),
      });
      nodes.push(net);
      net.onMessage(counted);
      net.subscribe('publisher');
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.close()));
    throw err;
  }
  return {
    port: 0,
    async stats() {
      const out: ChildStats = { delivered, deduplicated: 0, undecodable: 0, droppedSlowReader: 0 };
      for (const n of nodes) {
        const s = n.stats().incoming;
        out.deduplicated! += s.deduplicated;
        out.undecodable! += s.undecodable;
        out.droppedSlowReader! += s.droppedSlowReader;
      }
      if (withMetrics) {
        out.metricReceivedBytes = 0;
        for (const m of registries)
          out.metricReceivedBytes += await sumMetric(m, 'peerpost_received_bytes_total');
      }
      return out;
    },
    close: async () => {
      await Promise.all(nodes.map((n) => n.close()));
    },
  };
}

/**
 * ZeroMQ (`zeromq` v6) with CURVE (encrypted; the sender must know this receiver's
 * public key): a PULL socket whose messages are counted, and a REP socket that echoes
 * each request (round trips). Received as the library is used, `for await` per message.
 */
async function zeromqReceiver(): Promise<Receiver> {
  const zmq = await import('zeromq');
  const keys = zmq.curveKeyPair();
  const curve = {
    linger: 0,
    curveServer: true,
    curveSecretKey: keys.secretKey,
    curvePublicKey: keys.publicKey,
  };
  const pull = new zmq.Pull(curve);
  const rep = new zmq.Reply(curve);
  await pull.bind('tcp://127.0.0.1:*');
  await rep.bind('tcp://127.0.0.1:*');
  // Both loops end when their socket closes (the iterator then throws).
  const counting = (async () => {
    for await (const _ of pull) counted();
  })().catch(() => {});
  const echoing = (async () => {
    for await (const [msg] of rep) await rep.send(msg as Buffer);
  })().catch(() => {});
  const portOf = (s: { readonly lastEndpoint: string | null }) => Number(endpointOf(s).split(':').at(-1));
  return {
    port: portOf(pull),
    echoPort: portOf(rep),
    curveServerKey: keys.publicKey,
    stats: async () => ({ delivered }),
    async close() {
      pull.close();
      rep.close();
      await Promise.all([counting, echoing]);
    },
  };
}

/**
 * `ws` over TLS 1.3 with mutual authentication (an https server requesting the client's
 * certificate, pinning the sender's), binary messages, no compression: messages on path
 * `/count` are counted, those on `/echo` sent back.
 */
async function wsReceiver(credentials: Credentials, peerCertPem: string): Promise<Receiver> {
  const { WebSocketServer } = await import('ws');
  const pinned = new X509Certificate(peerCertPem).fingerprint256;
  const server = createHttpsServer(mutualTlsServer(credentials));
  server.on('tlsClientError', () => {});
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: false,
    verifyClient: ({ req }: { req: IncomingMessage }) =>
      (req.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 === pinned,
  });
  wss.on('connection', (socket, req) => {
    socket.on('error', () => {});
    if (req.url === WS_ECHO_PATH) socket.on('message', (data: Buffer) => socket.send(data, { binary: true }));
    else socket.on('message', counted);
  });
  const port = await listenLoopback(server);
  return {
    port,
    stats: async () => ({ delivered }),
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * libp2p over TCP with noise and yamux (bench/systems/libp2p.ts): 4-byte length-prefixed
 * messages on a stream of protocol LIBP2P_COUNT are counted, those on LIBP2P_ECHO sent
 * back. The sender dials this node's multiaddr, peer id included.
 */
async function libp2pReceiver(): Promise<Receiver> {
  const node = await libp2pNode(true);
  await node.handle(LIBP2P_COUNT, (stream) => {
    const reader = new FrameReader(counted);
    stream.addEventListener('message', (evt) => reader.push(bytesOf(evt.data)));
  });
  await node.handle(LIBP2P_ECHO, (stream) => {
    const echo = new FrameReader((frame) => stream.send(framed(frame)));
    stream.addEventListener('message', (evt) => echo.push(bytesOf(evt.data)));
  });
  const address = node.getMultiaddrs()[0];
  if (address === undefined) throw new Error('libp2p: the node has no listening address');
  return {
    port: Number(address.toString().split('/')[4]),
    address: address.toString(),
    stats: async () => ({ delivered }),
    async close() {
      await node.stop();
    },
  };
}

/** The point-to-point receivers, by kind. */
const RECEIVERS = {
  raw: rawReceiver,
  peerpost: peerpostReceiver,
  zeromq: zeromqReceiver,
  ws: wsReceiver,
  libp2p: libp2pReceiver,
} satisfies Record<string, (credentials: Credentials, peerCertPem: string) => Promise<Receiver>>;

let receiver: Receiver | undefined;
async function handle(m: ParentMessage): Promise<void> {
  switch (m.type) {
    case 'init': {
      if (kind === 'fanout-raw' || kind === 'fanout-peerpost') {
        if (!m.fanout) throw new Error(`${kind}: init without fanout`);
        const open = kind === 'fanout-raw' ? rawSubscribers : peerpostSubscribers;
        receiver = await open(m.credentials, m.peerCertPem, m.fanout);
      } else {
        receiver = await RECEIVERS[kind as keyof typeof RECEIVERS](m.credentials, m.peerCertPem);
      }
      const { stats: _stats, close: _close, ...at } = receiver;
      send({ type: 'listening', ...at });
      return;
    }
    case 'expect':
      if (delivered >= m.total) done();
      else target = m.total;
      return;
    case 'stats':
      send({ type: 'stats', stats: (await receiver?.stats()) ?? { delivered } });
      return;
    case 'close':
      parent.closing();
      await receiver?.close();
      receiver = undefined;
      meter.stop();
      send({ type: 'closed' });
      // With the IPC channel gone, nothing else may keep this process alive.
      process.disconnect();
      return;
  }
}

const parent = serveParent<ParentMessage>(handle, (error) => send({ type: 'error', error }));
