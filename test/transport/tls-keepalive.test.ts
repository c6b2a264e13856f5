import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { Worker } from 'node:worker_threads';
import { isPeerpostError } from '../../src/errors.js';
import { type Credentials, generateCredentials } from '../../src/identity/credentials.js';
import { TlsTransport } from '../../src/transport/tls/tls-transport.js';
import { ALPN_BY_KIND } from '../../src/transport/types.js';
import { Collector, delay, startServer } from './tls-helpers.js';

// Liveness: a zero-length frame every idleTimeoutMs/4 keeps an idle but healthy
// connection open, and a peer from which nothing arrives for idleTimeoutMs is dropped.
const IDLE = 400;

let serverCreds: Credentials;
let clientCreds: Credentials;
before(async () => {
  [serverCreds, clientCreds] = await Promise.all([generateCredentials(), generateCredentials()]);
});

/** A bare TLS client with the trusted client certificate and the direct ALPN: it does only what the test makes it do. */
function rawClient(address: string): tls.TLSSocket {
  const socket = tls.connect({
    host: '127.0.0.1',
    port: Number(address.split(':')[1]),
    rejectUnauthorized: false,
    minVersion: 'TLSv1.3',
    ALPNProtocols: [ALPN_BY_KIND.direct],
    key: clientCreds.keyPem,
    cert: clientCreds.certPem,
  });
  socket.on('error', () => {});
  return socket;
}

describe('TLS keepalive and idle detection', () => {
  let s: Awaited<ReturnType<typeof startServer>>;
  let client: TlsTransport;
  before(async () => {
    s = await startServer({ credentials: serverCreds, idleTimeoutMs: IDLE });
    client = new TlsTransport({ credentials: clientCreds, idleTimeoutMs: IDLE });
  });
  after(async () => {
    await client.close();
    await s.listener.close();
    await s.transport.close();
  });

  it('an idle peerpost connection survives many idle timeouts, and keepalives are never delivered', async () => {
    const conn = await client.connect(s.listener.address, 'direct');
    const c = new Collector(conn);
    const server = await s.next();
    await delay(IDLE * 4);
    assert.equal(c.reason, undefined, 'client side still open');
    assert.equal(server.reason, undefined, 'server side still open');
    assert.equal(c.frames.length + server.frames.length, 0, 'no keepalive reached onFrame');
    conn.write(Buffer.from('after the quiet'));
    await server.waitFrames(1);
    assert.equal(server.frames[0]!.toString(), 'after the quiet');
    conn.close();
  });

  it('a peer that completes the handshake and then sends nothing is dropped with ERR_IDLE_TIMEOUT', async () => {
    const mute = rawClient(s.listener.address);
    mute.resume(); // reads (and ignores) the server's keepalives, never writes
    const started = Date.now();
    const server = await s.next();
    const reason = await server.connection.closed;
    const took = Date.now() - started;
    assert.equal(reason.code, 'ERR_IDLE_TIMEOUT');
    assert.equal(reason.initiator, 'local');
    assert.ok(took >= IDLE * 0.9, `dropped after ${took} ms, not before the idle timeout`);
    mute.destroy();
  });

  it('an empty body is rejected: it is reserved for keepalives', async () => {
    const conn = await client.connect(s.listener.address, 'direct');
    new Collector(conn);
    await s.next();
    assert.throws(
      () => conn.write(Buffer.alloc(0)),
      (err: unknown) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
    );
    conn.close();
  });
});

describe('close() with a peer that stopped reading', () => {
  it('resolves within the close grace, not the write timeout', async () => {
    const s = await startServer({ credentials: serverCreds, writeTimeoutMs: 20_000 });
    try {
      const stalled = rawClient(s.listener.address);
      stalled.pause(); // never reads
      const server = await s.next();
      // Fill every buffer between the two ends.
      for (let i = 0; i < 400; i++) server.connection.write(Buffer.alloc(64 * 1024, i));
      await delay(200);
      const started = Date.now();
      server.connection.close('shutting down');
      const reason = await server.connection.closed;
      const took = Date.now() - started;
      assert.ok(took < 5000, `closed after ${took} ms`);
      assert.equal(reason.initiator, 'local');
      assert.ok(server.connection.pendingFrames > 0, 'frames the peer never took stay pending (not flushed)');
      stalled.destroy();
    } finally {
      await s.transport.close();
    }
  });
});

describe('liveness judges the peer, not our own stall', () => {
  // The peer runs on its own thread, so it keeps sending while this thread is blocked.
  const PEER = `
    const { workerData, parentPort } = require('node:worker_threads');
    const tls = require('node:tls');
    const { port, key, cert, alpn, total, everyMs } = workerData;
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3', ALPNProtocols: [alpn], key, cert });
    socket.on('error', () => {});
    socket.resume();
    socket.on('secureConnect', () => {
      let n = 0;
      const timer = setInterval(() => {
        const body = Buffer.from('m' + n++);
        const frame = Buffer.alloc(4 + body.length);
        frame.writeUInt32BE(body.length, 0);
        body.copy(frame, 4);
        socket.write(frame);
        if (n === total) { clearInterval(timer); parentPort.postMessage('sent'); }
      }, everyMs);
    });
    parentPort.on('message', () => { socket.destroy(); parentPort.close(); });
  `;

  it('a node blocked longer than the idle timeout keeps the healthy peer and reads everything it sent', async () => {
    const s = await startServer({ credentials: serverCreds, idleTimeoutMs: IDLE });
    const total = 100;
    const peer = new Worker(PEER, {
      eval: true,
      workerData: {
        port: Number(s.listener.address.split(':')[1]),
        key: clientCreds.keyPem,
        cert: clientCreds.certPem,
        alpn: ALPN_BY_KIND.direct,
        total,
        everyMs: 10,
      },
    });
    try {
      const sent = new Promise((resolve) => peer.once('message', resolve));
      const server = await s.next();
      await server.waitFrames(5);
      // This thread stalls for three idle timeouts (a slow handler, a long GC) while the
      // peer goes on sending: its frames wait in the socket.
      const until = performance.now() + IDLE * 3;
      while (performance.now() < until) {
        /* busy: the event loop is blocked */
      }
      await sent;
      await Promise.race([server.waitFrames(total), server.connection.closed]);
      assert.equal(server.reason, undefined, `the healthy peer was dropped: ${server.reason?.message}`);
      assert.deepEqual(
        server.frames.map((f) => f.toString()),
        Array.from({ length: total }, (_, i) => `m${i}`),
      );
      server.connection.close();
    } finally {
      peer.postMessage('stop');
      await once(peer, 'exit');
      await s.transport.close();
    }
  });
});
