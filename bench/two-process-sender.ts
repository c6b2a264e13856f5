/**
 * The sending process of one point-to-point system of the two-process benchmark
 * (bench/two-process.ts forks one per system, next to that system's receiving child,
 * bench/two-process-child.ts): a fresh Node that hosts that system's sender and nothing
 * else, so that no system's heap, garbage or timers weigh on another's figures.
 *
 *   node --import tsx bench/two-process-sender.ts   (forked with IPC)
 *
 * It learns what to run over IPC (`open`: the system, the receiver's port and
 * certificate, its own credentials), connects, and answers `opened`. Then `send` sends
 * that many messages of the given size (answered `sent` once the last one is handed to
 * the system: the receiving child reports when it has counted them), `rtt` makes that many
 * sequential 64 B round trips and answers with each one's time in µs (timed here, as the
 * application would see it), `cpu` answers with this process's cumulative CPU time and
 * GCs (bench/process-cpu.ts), `stats` with what the sender could not send, and `close`
 * closes everything: the process must then exit by itself (a socket or timer left open
 * would keep it alive, and the parent reports it).
 *
 * - `raw`: node:tls 1.3, mutual, pinning the receiver's certificate; frames of a tick in
 *   one write of up to 1 MiB (bench/systems/pump.ts), or with the large window, writes
 *   while less than 8 MiB is outstanding in the socket; round trips on a second
 *   connection whose frames the child echoes.
 * - `peerpost`: `createNetwork` (public API), the backpressure loop
 *   `if (!net.writable(peer)) await net.ready(peer); net.send(peer, ...)`; round trips
 *   with `net.request()`.
 * - `zeromq`, `ws`, `libp2p`: the alternatives (see each opener below and
 *   bench/two-process.ts); round trips on a second socket, connection or stream.
 */
import { X509Certificate } from 'node:crypto';
import { createServer, type TLSSocket } from 'node:tls';
import type { Credentials, Network } from '../src/index.js';
import { payloadOf } from './harness.js';
import { listenLoopback } from './lib.js';
import { cpuMeter } from './process-cpu.js';
import { FrameReader } from './systems/frames.js';
import { bytesOf, framed, libp2pNode } from './systems/libp2p.js';
import { BATCH_BYTES, BatchPump, FanoutPump, type Sink, socketSink } from './systems/pump.js';
import {
  ALPN_COUNT,
  ALPN_ECHO,
  closeSocket,
  LARGE_PEER_QUEUE_BYTES,
  LARGE_RESUME_BYTES,
  LARGE_WINDOW,
  LIBP2P_COUNT,
  LIBP2P_ECHO,
  type Listening,
  loadPeerpost,
  mutualTlsServer,
  NO_COMPRESSION,
  PEER,
  type SenderDef,
  type SenderMessage,
  type SenderRequest,
  serveParent,
  sumMetric,
  tlsConnect,
  WS_COUNT_PATH,
  WS_ECHO_PATH,
  WS_HIGH_WATER,
} from './two-process-shared.js';

// peerpost itself: the source, or with the bench's --built the built package (dist/).
const { certificateHash, createNetwork, createPrometheusMetrics } = await loadPeerpost();

if (!process.send) {
  console.error('usage (forked with IPC): two-process-sender.ts');
  process.exit(2);
}

const reply = (m: SenderMessage): void => {
  process.send?.(m);
};

/** CPU time (all threads / main thread) and GCs of this process since it started. */
const meter = cpuMeter();

/** The sending side of one system. */
interface Side {
  /** A publisher: where its subscribers connect. */
  readonly port?: number;
  readonly address?: string;
  /** A publisher: resolves once `subscribers` have connected. */
  ready?(subscribers: number): Promise<void>;
  /** Starts sending `count` messages of `payload`; resolves once all are handed over. */
  send(count: number, payload: Buffer): Promise<void> | void;
  /** One request; resolves on its reply. */
  roundTrip(payload: Buffer): Promise<unknown>;
  /** What the sender could not send (peerpost: outcomes other than written/delivered). */
  stats(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/**
 * A socket sink that keeps up to LARGE_WINDOW bytes outstanding in the socket (written,
 * not yet handed to the kernel: each write's callback says when), and resumes below
 * LARGE_RESUME_BYTES: the raw TLS twin of peerpost's large window.
 */
function windowSink(socket: TLSSocket): Sink {
  let outstanding = 0;
  let waiter: (() => void) | undefined;
  return {
    write(buf, done) {
      const n = buf.length;
      outstanding += n;
      socket.write(buf, () => {
        outstanding -= n;
        done?.();
        if (waiter !== undefined && outstanding <= LARGE_RESUME_BYTES) {
          const w = waiter;
          waiter = undefined;
          w();
        }
      });
      return outstanding < LARGE_WINDOW;
    },
    onceDrain(cb) {
      waiter = cb;
    },
  };
}

/**
 * The one round trip in flight: `next()` is its reply's promise (made before the request
 * is written), `arrived` resolves it when the reply comes (a method bound to the waiter,
 * to hand to a reader as its callback).
 */
class ReplyWaiter {
  #resolve: (() => void) | undefined;
  next(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
  }
  readonly arrived = (): void => {
    const r = this.#resolve;
    this.#resolve = undefined;
    r?.();
  };
}

async function openRaw(
  def: SenderDef,
  at: Listening,
  receiverCertPem: string,
  own: Credentials,
): Promise<Side> {
  const stream = await tlsConnect(at.port, own, receiverCertPem, ALPN_COUNT);
  const echo = await tlsConnect(at.port, own, receiverCertPem, ALPN_ECHO);
  const pump = new BatchPump(def.window === 'large' ? windowSink(stream) : socketSink(stream), BATCH_BYTES);
  const replies = new ReplyWaiter();
  const frames = new FrameReader(replies.arrived);
  echo.on('data', (chunk: Buffer) => frames.push(chunk));
  return {
    send: (count, payload) => pump.start(count, payload),
    roundTrip(payload) {
      const out = Buffer.allocUnsafe(4 + payload.length);
      out.writeUInt32BE(payload.length, 0);
      payload.copy(out, 4);
      const p = replies.next();
      echo.write(out);
      return p;
    },
    stats: async () => ({}),
    async close() {
      await Promise.all([closeSocket(stream), closeSocket(echo)]);
    },
  };
}

async function openPeerpost(
  def: SenderDef,
  at: Listening,
  receiverCertPem: string,
  own: Credentials,
): Promise<Side> {
  const metrics = def.metrics ? createPrometheusMetrics() : undefined;
  const receiverHash = certificateHash(receiverCertPem);
  const net: Network = await createNetwork({
    nodeId: 'sender',
    credentials: own,
    trust: { certHashes: [receiverHash] },
    listen: '127.0.0.1:0',
    topology: { [PEER]: [{ address: `127.0.0.1:${at.port}`, certHash: receiverHash }] },
    compressThresholdBytes: NO_COMPRESSION,
    ...(metrics ? { metrics } : {}),
    ...(def.acks ? { acks: { enabled: true } } : {}),
    ...(def.window === 'large'
      ? { limits: { peerQueueCapacity: 1_000_000, peerQueueBytes: LARGE_PEER_QUEUE_BYTES } }
      : {}),
  });
  return {
    async send(count, payload) {
      // The backpressure loop of examples/backpressure.ts: never a queue_full drop.
      for (let i = 0; i < count; i++) {
        if (!net.writable(PEER)) await net.ready(PEER);
        net.send(PEER, 'Bench', payload);
      }
    },
    // The request's own promise, as raw TLS's roundTrip returns its own (no async wrapper:
    // an extra await per round trip on one side only).
    roundTrip: (payload) => net.request(PEER, 'Ping', payload, { timeoutMs: 10_000 }),
    async stats() {
      const out: Record<string, number> = {};
      // `delivered` is the acked system's `written` (and more): not a failure either.
      for (const [k, v] of Object.entries(net.stats().outcomes))
        if (k !== 'written' && k !== 'delivered') out[k] = v;
      if (metrics) out.metricSentBytes = await sumMetric(metrics, 'peerpost_sent_bytes_total');
      return out;
    },
    close: () => net.close(),
  };
}

/** Polls `done()` every 10 ms until it holds. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 10));
}

/**
 * Fan-out, raw TLS: a TLS server (mutual, pinning the subscribers' certificate) that the
 * child's subscriber connections join; each batch of frames (up to `fanoutBatchBytes`,
 * the point-to-point raw batch by default) is encoded once and written to every socket,
 * each socket paced by its own backpressure (bench/systems/pump.ts, FanoutPump).
 */
async function openRawFanout(def: SenderDef, subscribersCertPem: string, own: Credentials): Promise<Side> {
  const pinned = new X509Certificate(subscribersCertPem).fingerprint256;
  const accepted: TLSSocket[] = [];
  const server = createServer(
    {
      ...mutualTlsServer(own),
      ALPNProtocols: [ALPN_COUNT],
      noDelay: true,
    },
    (socket) => {
      if (socket.getPeerX509Certificate()?.fingerprint256 !== pinned) {
        socket.destroy();
        return;
      }
      socket.on('error', () => {});
      accepted.push(socket);
    },
  );
  server.on('tlsClientError', () => {});
  const port = await listenLoopback(server);
  let pump: FanoutPump | undefined;
  return {
    port,
    async ready(subscribers) {
      await until(() => accepted.length >= subscribers);
      pump = new FanoutPump(accepted.map(socketSink), def.fanoutBatchBytes ?? BATCH_BYTES);
    },
    send(count, payload) {
      if (pump === undefined) throw new Error(`${def.name}: send before the subscribers connected`);
      pump.start(count, payload);
    },
    roundTrip: () => Promise.reject(new Error('fan-out: no round trips')),
    stats: async () => ({}),
    async close() {
      await Promise.all(accepted.map(closeSocket));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Fan-out, peerpost: a publisher node with the default limits (subscriber queues of 1,000
 * frames) whose subscribers are the child's nodes; `broadcast()` per message, waiting on
 * the library's own backpressure when a subscriber queue is full
 * (`broadcastWritable()` / `broadcastReady()`), as the raw pump waits on its sockets'.
 */
async function openBroadcast(def: SenderDef, subscribersCertPem: string, own: Credentials): Promise<Side> {
  const metrics = def.metrics ? createPrometheusMetrics() : undefined;
  const net: Network = await createNetwork({
    nodeId: 'publisher',
    credentials: own,
    trust: { certHashes: [certificateHash(subscribersCertPem)] },
    listen: '127.0.0.1:0',
    compressThresholdBytes: NO_COMPRESSION,
    ...(metrics ? { metrics } : {}),
  });
  return {
    address: net.address,
    ready: (n) => net.waitForSubscribers(n),
    async send(count, payload) {
      for (let i = 0; i < count; i++) {
        if (!net.broadcastWritable()) await net.broadcastReady();
        net.broadcast('Bench', payload);
      }
    },
    roundTrip: () => Promise.reject(new Error('fan-out: no round trips')),
    async stats() {
      // As for the point-to-point systems: the node's outcome counts, no listener (a
      // listener makes an outcome event per subscriber per broadcast).
      const out: Record<string, number> = {};
      for (const [k, v] of Object.entries(net.stats().outcomes)) if (k !== 'written') out[k] = v;
      if (metrics) out.metricSentBytes = await sumMetric(metrics, 'peerpost_sent_bytes_total');
      return out;
    },
    close: () => net.close(),
  };
}

/**
 * ZeroMQ with CURVE: a PUSH socket (one `await push.send()` per message, as the library is
 * used: it waits while its send queue is at its high-water mark) to the child's PULL, and
 * a REQ socket to its REP for round trips.
 */
async function openZeromq(_def: SenderDef, at: Listening): Promise<Side> {
  const zmq = await import('zeromq');
  if (at.echoPort === undefined || at.curveServerKey === undefined)
    throw new Error('ZeroMQ: the receiver did not say its REP port and CURVE key');
  const keys = zmq.curveKeyPair();
  const curve = {
    linger: 0,
    curveServerKey: at.curveServerKey,
    curvePublicKey: keys.publicKey,
    curveSecretKey: keys.secretKey,
  };
  const push = new zmq.Push(curve);
  const req = new zmq.Request(curve);
  push.connect(`tcp://127.0.0.1:${at.port}`);
  req.connect(`tcp://127.0.0.1:${at.echoPort}`);
  return {
    async send(count, payload) {
      for (let i = 0; i < count; i++) await push.send(payload);
    },
    async roundTrip(payload) {
      await req.send(payload);
      return req.receive();
    },
    stats: async () => ({}),
    async close() {
      push.close();
      req.close();
    },
  };
}

/**
 * `ws` over TLS 1.3, mutual, pinning the receiver's certificate (checked on the upgrade
 * response's socket): one connection whose messages the child counts, one it echoes.
 * Sends while less than WS_HIGH_WATER is buffered, then yields a turn.
 */
async function openWs(
  _def: SenderDef,
  at: Listening,
  receiverCertPem: string,
  own: Credentials,
): Promise<Side> {
  const { WebSocket } = await import('ws');
  const pinned = new X509Certificate(receiverCertPem).fingerprint256;
  const open = (path: string) =>
    new Promise<InstanceType<typeof WebSocket>>((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${at.port}${path}`, {
        key: own.keyPem,
        cert: own.certPem,
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
        rejectUnauthorized: false,
        perMessageDeflate: false,
      });
      let pinnedOk = false;
      ws.once('upgrade', (res) => {
        pinnedOk = (res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 === pinned;
      });
      ws.once('open', () => {
        ws.off('error', reject);
        if (!pinnedOk) {
          ws.terminate();
          reject(new Error('ws: unexpected server certificate'));
          return;
        }
        ws.on('error', () => {});
        resolve(ws);
      });
      ws.once('error', reject);
    });
  const stream = await open(WS_COUNT_PATH);
  const echo = await open(WS_ECHO_PATH);
  const replies = new ReplyWaiter();
  echo.on('message', replies.arrived);
  return {
    send(count, payload) {
      return new Promise<void>((resolve) => {
        let left = count;
        const pump = () => {
          while (left > 0 && stream.bufferedAmount < WS_HIGH_WATER) {
            stream.send(payload, { binary: true });
            left--;
          }
          if (left > 0) setImmediate(pump);
          else resolve();
        };
        pump();
      });
    },
    roundTrip(payload) {
      const p = replies.next();
      echo.send(payload, { binary: true });
      return p;
    },
    stats: async () => ({}),
    async close() {
      const closed = [stream, echo].map(
        (w) =>
          new Promise<void>((r) => (w.readyState === WebSocket.CLOSED ? r() : w.once('close', () => r()))),
      );
      stream.terminate();
      echo.terminate();
      await Promise.all(closed);
    },
  };
}

/**
 * libp2p (TCP, noise, yamux): a node that dials the child's multiaddr (its peer id
 * included), one stream whose length-prefixed messages the child counts (one
 * `stream.send()` per message, waiting for `drain` when it returns false), one it echoes.
 */
async function openLibp2p(_def: SenderDef, at: Listening): Promise<Side> {
  if (at.address === undefined) throw new Error('libp2p: the receiver did not say its multiaddr');
  const { multiaddr } = await import('@multiformats/multiaddr');
  const node = await libp2pNode(false);
  try {
    const target = multiaddr(at.address);
    const out = await node.dialProtocol(target, LIBP2P_COUNT);
    const echo = await node.dialProtocol(target, LIBP2P_ECHO);
    const replies = new ReplyWaiter();
    const frames = new FrameReader(replies.arrived);
    echo.addEventListener('message', (evt) => frames.push(bytesOf(evt.data)));
    return {
      send(count, payload) {
        return new Promise<void>((resolve) => {
          let left = count;
          const pump = () => {
            while (left > 0) {
              left--;
              if (!out.send(framed(payload)) && left > 0) {
                out.addEventListener('drain', pump, { once: true });
                return;
              }
            }
            resolve();
          };
          pump();
        });
      },
      roundTrip(payload) {
        const p = replies.next();
        echo.send(framed(payload));
        return p;
      },
      stats: async () => ({}),
      async close() {
        await node.stop();
      },
    };
  } catch (err) {
    await node.stop();
    throw err;
  }
}

/** The point-to-point senders, by kind. */
const OPENERS = {
  raw: openRaw,
  peerpost: openPeerpost,
  zeromq: openZeromq,
  ws: openWs,
  libp2p: openLibp2p,
} satisfies Record<
  string,
  (def: SenderDef, at: Listening, receiverCertPem: string, own: Credentials) => Promise<Side>
>;

let side: Side | undefined;
const payloads = new Map<number, Buffer>();
const payload = (size: number): Buffer => {
  let p = payloads.get(size);
  if (p === undefined) {
    p = payloadOf(size);
    payloads.set(size, p);
  }
  return p;
};

async function handle(m: SenderRequest): Promise<void> {
  switch (m.type) {
    case 'open': {
      const { def, at, receiverCertPem, credentials } = m;
      if (def.kind === 'fanout-raw') side = await openRawFanout(def, receiverCertPem, credentials);
      else if (def.kind === 'fanout-peerpost') side = await openBroadcast(def, receiverCertPem, credentials);
      else side = await OPENERS[def.kind](def, at, receiverCertPem, credentials);
      reply({
        type: 'opened',
        ...(side.port === undefined ? {} : { port: side.port }),
        ...(side.address === undefined ? {} : { address: side.address }),
      });
      return;
    }
    case 'ready':
      await (side as Side).ready?.(m.subscribers);
      reply({ type: 'ready' });
      return;
    case 'send':
      await (side as Side).send(m.count, payload(m.size));
      reply({ type: 'sent' });
      return;
    case 'rtt': {
      const p = payload(m.size);
      const times: number[] = [];
      for (let i = 0; i < m.count; i++) {
        const t = performance.now();
        await (side as Side).roundTrip(p);
        times.push((performance.now() - t) * 1000);
      }
      reply({ type: 'rtt', times });
      return;
    }
    case 'cpu':
      reply({ type: 'cpu', cpu: meter.sample() });
      return;
    case 'stats':
      reply({ type: 'stats', stats: side === undefined ? {} : await side.stats() });
      return;
    case 'close':
      parent.closing();
      await side?.close();
      side = undefined;
      meter.stop();
      reply({ type: 'closed' });
      // With the IPC channel gone, nothing else may keep this process alive.
      process.disconnect();
      return;
  }
}

const parent = serveParent<SenderRequest>(handle, (error) => reply({ type: 'error', error }));
