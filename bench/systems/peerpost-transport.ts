/**
 * The peerpost mutual-TLS transport (src/transport/tls) as a bench system: one `direct`
 * connection on loopback, trust pinned by certificate hash both ways (as raw TLS does).
 * The sender calls Connection.write() per frame until it reports backpressure and
 * resumes on onDrain; the receiver counts frames in onFrame.
 */
import { type Credentials, certificateHash } from '../../src/identity/credentials.js';
import { TlsTransport } from '../../src/transport/tls/tls-transport.js';
import type { Connection, ConnectionHandler, Listener } from '../../src/transport/types.js';
import { benchCredentials } from './certs.js';
import type { BenchSystem, IdleConnections, RpcPair, StreamPair } from './types.js';

/**
 * Both ends share one process, and the machine may be busy: the default 5 s would fail
 * handshakes that are merely queued behind others in the connections suite.
 */
const HANDSHAKE_TIMEOUT_MS = 60_000;

interface Ends {
  server: TlsTransport;
  client: TlsTransport;
  listener: Listener;
  close(): Promise<void>;
}

function credentialsOf(which: 'server' | 'client'): Credentials {
  const c = benchCredentials()[which];
  return { keyPem: c.key, certPem: c.cert };
}

/** Two transports that trust only each other, and a listener on 127.0.0.1 port 0. */
async function ends(onConnection: (c: Connection) => void, maxConnections = 1000): Promise<Ends> {
  const serverCreds = credentialsOf('server');
  const clientCreds = credentialsOf('client');
  const server = new TlsTransport({
    credentials: serverCreds,
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    trust: { certHashes: [certificateHash(clientCreds.certPem)] },
  });
  const client = new TlsTransport({
    credentials: clientCreds,
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    trust: { certHashes: [certificateHash(serverCreds.certPem)] },
  });
  const listener = await server.listen('127.0.0.1:0', { onConnection, maxConnections });
  return {
    server,
    client,
    listener,
    async close() {
      await client.close();
      await server.close();
    },
  };
}

function expectedServer(): { certHash: string } {
  return { certHash: certificateHash(credentialsOf('server').certPem) };
}

async function connected(): Promise<{ e: Ends; out: Connection; inbound: Connection }> {
  let accept!: (c: Connection) => void;
  const inbound = new Promise<Connection>((resolve) => {
    accept = resolve;
  });
  const e = await ends(accept);
  const out = await e.client.connect(e.listener.address, 'direct', { expectedIdentity: expectedServer() });
  return { e, out, inbound: await inbound };
}

export const peerpostTransport: BenchSystem = {
  name: 'peerpost transport',

  async openStream(): Promise<StreamPair> {
    const { e, out, inbound } = await connected();
    let count = 0;
    let target = Number.POSITIVE_INFINITY;
    let done: (() => void) | undefined;
    inbound.attach({
      onFrame() {
        if (++count >= target && done) {
          const d = done;
          done = undefined;
          d();
        }
      },
    });
    let left = 0;
    let payload: Buffer = Buffer.alloc(0);
    const pump = () => {
      while (left > 0) {
        left--;
        if (!out.write(payload)) return;
      }
    };
    const handler: ConnectionHandler = { onFrame() {}, onDrain: pump };
    out.attach(handler);
    return {
      transfer(n, data) {
        count = 0;
        target = n;
        const received = new Promise<void>((resolve) => {
          done = resolve;
        });
        payload = data;
        left = n;
        pump();
        return received;
      },
      close: () => e.close(),
    };
  },

  async openRpc(): Promise<RpcPair> {
    const { e, out, inbound } = await connected();
    inbound.attach({ onFrame: (frame) => inbound.write(frame) });
    let reply: (() => void) | undefined;
    out.attach({
      onFrame() {
        const r = reply;
        reply = undefined;
        r?.();
      },
    });
    return {
      roundTrip(payload) {
        const p = new Promise<void>((resolve) => {
          reply = resolve;
        });
        out.write(payload);
        return p;
      },
      close: () => e.close(),
    };
  },

  async openIdle(count, concurrency): Promise<IdleConnections> {
    let accepted = 0;
    let allAccepted!: () => void;
    const ready = new Promise<void>((resolve) => {
      allAccepted = resolve;
    });
    const e = await ends((c) => {
      c.attach({ onFrame() {} });
      if (++accepted === count) allAccepted();
    }, count + 16);
    const expectedIdentity = expectedServer();
    let next = 0;
    const worker = async () => {
      while (next < count) {
        next++;
        const c = await e.client.connect(e.listener.address, 'direct', { expectedIdentity });
        c.attach({ onFrame() {} });
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    await ready;
    return { close: () => e.close() };
  },
};
