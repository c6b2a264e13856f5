/** What bench/two-process.ts and its receiving child (bench/two-process-child.ts) share. */
import { X509Certificate } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import type * as Peerpost from '../src/index.js';
import type { Credentials, PrometheusMetrics } from '../src/index.js';
import type { CpuSample } from './process-cpu.js';

/**
 * peerpost as the sending and receiving processes use it: the built package (`dist/`,
 * what `npm run build` makes and users install) when the bench runs with `--built`
 * (it sets `PEERPOST_BENCH_LIB=dist`), else the source through tsx; a `file:` URL there is
 * another copy's entry point (`--baseline`).
 */
export async function loadPeerpost(): Promise<typeof Peerpost> {
  const lib = process.env.PEERPOST_BENCH_LIB;
  const url =
    lib === 'dist'
      ? new URL('../dist/index.js', import.meta.url).href
      : lib?.startsWith('file:') === true
        ? lib // another copy's entry point (two-process.ts --baseline)
        : new URL('../src/index.ts', import.meta.url).href;
  return (await import(url)) as typeof Peerpost;
}

/** Fan-out (`fanout-raw` / `fanout-peerpost` children): where the publisher is, how many subscribe. */
export interface FanoutInit {
  subscribers: number;
  /** raw: the publisher's TLS port; peerpost: its `network.address`. */
  port: number;
  address: string;
}

export type ParentMessage =
  | { type: 'init'; credentials: Credentials; peerCertPem: string; fanout?: FanoutInit }
  | { type: 'expect'; total: number }
  | { type: 'stats' }
  | { type: 'close' };

export interface ChildStats {
  /** Messages counted (not the echoed or replied ones) since the start. */
  delivered: number;
  /** peerpost only: `network.stats()` figures that would reveal loss or duplication. */
  deduplicated?: number;
  undecodable?: number;
  droppedSlowReader?: number;
  outcomes?: Record<string, number>;
  /** With `--metrics`: `peerpost_received_bytes_total` (proves the metrics were live). */
  metricReceivedBytes?: number;
}

/** Where a receiving child listens (what the sender needs to reach it). */
export interface Listening {
  port: number;
  /** ZeroMQ: the REP socket's port (round trips), next to the PULL socket's `port`. */
  echoPort?: number;
  /** libp2p: the node's multiaddr, its peer id included (the sender dials exactly that peer). */
  address?: string;
  /** ZeroMQ: the receiver's CURVE public key (Z85), which the sender must know to connect. */
  curveServerKey?: string;
}

export type ChildMessage =
  | ({ type: 'listening' } & Listening)
  /** `cpu`: the child's cumulative CPU time and GCs (bench/process-cpu.ts). */
  | { type: 'done'; delivered: number; cpu: CpuSample }
  | { type: 'stats'; stats: ChildStats }
  | { type: 'closed' }
  | { type: 'error'; error: string };

/** A system as its sending process (bench/two-process-sender.ts) needs it. */
/**
 * What a system is: raw TLS, peerpost, one of the alternatives (the same libraries as the
 * in-process suites of bench/systems/: ZeroMQ, ws, libp2p), or a fan-out publisher.
 */
export type SystemKind = 'raw' | 'peerpost' | 'zeromq' | 'ws' | 'libp2p' | 'fanout-raw' | 'fanout-peerpost';

/** The alternatives: measured point to point, small window, with round trips. */
export const ALTERNATIVE_KINDS = ['zeromq', 'ws', 'libp2p'] as const;

export interface SenderDef {
  name: string;
  /** `fanout-*`: a publisher, whose subscribers (in the child) connect to it. */
  kind: SystemKind;
  metrics: boolean;
  window: 'small' | 'large';
  acks?: boolean;
  /** raw TLS fan-out: bytes of frames per batch written to every subscriber. */
  fanoutBatchBytes?: number;
}

/** Subscribers of the fan-out systems (all in their one child process). */
export const FANOUT_SUBSCRIBERS = 100;
/** Fan-out payload (as the in-process fan-out suite). */
export const FANOUT_PAYLOAD = 1024;

/** What bench/two-process.ts asks of a sending process. */
export type SenderRequest =
  | {
      type: 'open';
      def: SenderDef;
      /** Where the receiving child listens (for a publisher, `port` 0: it listens itself). */
      at: Listening;
      receiverCertPem: string;
      credentials: Credentials;
    }
  /** A publisher: answer `ready` once every subscriber has connected. */
  | { type: 'ready'; subscribers: number }
  /** Send `count` messages of `size` bytes. */
  | { type: 'send'; count: number; size: number }
  /** Make `count` sequential round trips of `size` bytes, each timed. */
  | { type: 'rtt'; count: number; size: number }
  | { type: 'cpu' }
  | { type: 'stats' }
  | { type: 'close' };

/** What a sending process answers. */
export type SenderMessage =
  /** A publisher says where its subscribers connect: raw TLS's port, peerpost's address. */
  | { type: 'opened'; port?: number; address?: string }
  | { type: 'ready' }
  | { type: 'sent' }
  /** Each round trip's time, µs. */
  | { type: 'rtt'; times: number[] }
  /** The sending process's cumulative CPU time and GCs (bench/process-cpu.ts). */
  | { type: 'cpu'; cpu: CpuSample }
  | { type: 'stats'; stats: Record<string, number> }
  | { type: 'closed' }
  | { type: 'error'; error: string };

/** The peer id of the receiving node in the point-to-point peerpost systems. */
export const PEER = 'receiver';

/** Bytes of frames in flight (beyond the kernel) in the `large` window. */
export const LARGE_WINDOW = 8 * 1024 * 1024;
/** The peerpost transport's default high-water mark (src/transport/limits.ts). */
export const TRANSPORT_HWM = 1024 * 1024;
/**
 * peerpost, large window: the peer queue takes LARGE_WINDOW minus what the transport
 * holds (its 1 MiB high-water mark) in frame bytes; `writable()` turns false when it is
 * full and `ready()` resolves when it is half empty (src/sender/peer-sender.ts).
 */
export const LARGE_PEER_QUEUE_BYTES = LARGE_WINDOW - TRANSPORT_HWM;
/** Raw TLS, large window: writing resumes below this many bytes outstanding (as peerpost's ready()). */
export const LARGE_RESUME_BYTES = LARGE_WINDOW - LARGE_PEER_QUEUE_BYTES / 2;

/** Compression off on both sides: the bench payloads are periodic and would compress to nothing. */
export const NO_COMPRESSION = Number.MAX_SAFE_INTEGER;
/** ALPN of the raw TLS connection whose frames the child counts. */
export const ALPN_COUNT = 'bench-count';
/** ALPN of the raw TLS connection whose frames the child echoes (latency). */
export const ALPN_ECHO = 'bench-echo';
/** The alternatives' two channels: messages counted, and round trips echoed. */
export const WS_COUNT_PATH = '/count';
export const WS_ECHO_PATH = '/echo';
export const LIBP2P_COUNT = '/peerpost-bench/count/1.0.0';
export const LIBP2P_ECHO = '/peerpost-bench/echo/1.0.0';
/**
 * ws: the sender writes while less than this is buffered in the socket, then yields a
 * turn (ws has no drain event; as bench/systems/ws.ts does in one process).
 */
export const WS_HIGH_WATER = 1024 * 1024;

/** Sum of every series of one metric in the Prometheus text exposition. */
export async function sumMetric(metrics: PrometheusMetrics, name: string): Promise<number> {
  let sum = 0;
  for (const line of (await metrics.metricsText()).split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

/** A mutually authenticated TLS 1.3 client connection pinning the server certificate, with `noDelay`. */
/**
 * Server options for TLS 1.3 with mutual authentication: the client's certificate is
 * requested, and the caller pins it (self-signed: not checked against a CA).
 */
export function mutualTlsServer(own: Credentials) {
  return {
    key: own.keyPem,
    cert: own.certPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: false,
  } as const;
}

export function tlsConnect(
  port: number,
  own: Credentials,
  peerCertPem: string,
  alpn: string,
): Promise<TLSSocket> {
  const pinned = new X509Certificate(peerCertPem).fingerprint256;
  return new Promise((resolve, reject) => {
    const socket = connect(
      {
        // node:tls has no noDelay option: hand it a TCP socket that has it.
        socket: netConnect({ host: '127.0.0.1', port, noDelay: true }),
        key: own.keyPem,
        cert: own.certPem,
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
        rejectUnauthorized: false,
        ALPNProtocols: [alpn],
      },
      () => {
        socket.off('error', reject);
        if (socket.getPeerX509Certificate()?.fingerprint256 !== pinned || socket.alpnProtocol !== alpn) {
          socket.destroy();
          reject(new Error('raw TLS: unexpected server certificate or ALPN'));
          return;
        }
        socket.on('error', () => {});
        resolve(socket);
      },
    );
    socket.once('error', reject);
  });
}

/** Destroys a socket and resolves once it is closed (at once if it already is). */
export function closeSocket(s: TLSSocket): Promise<void> {
  if (s.closed) return Promise.resolve();
  return new Promise<void>((r) => {
    s.once('close', () => r());
    s.destroy();
  });
}

/**
 * Serves the parent (bench/two-process.ts) from a forked process: each IPC message goes
 * to `handle`, and a failure is told with `onError`. A process whose parent goes away
 * without asking it to close (killed, crashed) exits: it must not outlive it. The
 * handler of the parent's `close` calls `closing()` first, closes everything, answers,
 * then disconnects (from then on nothing may keep the process alive).
 */
export function serveParent<M>(
  handle: (m: M) => Promise<void>,
  onError: (error: string) => void,
): { closing: () => void } {
  let closing = false;
  process.on('disconnect', () => {
    if (!closing) process.exit(1);
  });
  process.on('message', (m: M) => {
    void handle(m).catch((err: unknown) =>
      onError(err instanceof Error ? (err.stack ?? err.message) : String(err)),
    );
  });
  return {
    closing: () => {
      closing = true;
    },
  };
}
