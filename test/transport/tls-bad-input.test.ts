import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import {
  type Credentials,
  generateCredentials,
  identityOfCredentials,
} from '../../src/identity/credentials.js';
import type { TlsListener } from '../../src/transport/tls/tls-listener.js';
import { TlsTransport } from '../../src/transport/tls/tls-transport.js';
import { ALPN_BY_KIND, type Connection } from '../../src/transport/types.js';
import { WARN_BURST } from '../../src/util/warn-limiter.js';
import { Collector, CountingMetrics, delay, RecordingLogger, startServer } from './tls-helpers.js';

// Every bad input must close only its own connection, with a coded log line and a counter,
// while a good client keeps being served. Timeouts are short so the file stays fast.
const SHORT = { handshakeTimeoutMs: 400, idleTimeoutMs: 400 };

let server: Credentials;
let client: Credentials;
let stranger: Credentials;
before(async () => {
  [server, client, stranger] = await Promise.all([
    generateCredentials(),
    generateCredentials(),
    generateCredentials(),
  ]);
});

async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

function rawTls(port: number, options: tls.ConnectionOptions): tls.TLSSocket {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.3',
    ...options,
  });
  socket.on('error', () => {});
  socket.resume();
  return socket;
}

function closedOf(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

describe('TLS bad input', () => {
  const metrics = new CountingMetrics();
  const logger = new RecordingLogger();
  let s: Awaited<ReturnType<typeof startServer>>;
  let port: number;
  let good: Connection;
  let goodServerSide: Collector;
  let goodClient: TlsTransport;
  let sent = 0;

  before(async () => {
    s = await startServer({
      credentials: server,
      trust: { certHashes: [identityOfCredentials(client).certHash] },
      metrics,
      logger,
      ...SHORT,
    });
    port = Number(s.listener.address.split(':')[1]);
    // Peers share their idle timeout: keepalives go out every quarter of it.
    goodClient = new TlsTransport({ credentials: client, ...SHORT });
    good = await goodClient.connect(s.listener.address, 'direct');
    new Collector(good);
    goodServerSide = await s.next();
  });

  after(async () => {
    await goodClient.close();
    await s.transport.close();
  });

  /** The good connection still carries frames, and a new good client is accepted. */
  async function stillServing(): Promise<void> {
    good.write(Buffer.from(`still ${++sent}`));
    await goodServerSide.waitFrames(sent);
    assert.equal(goodServerSide.frames.at(-1)?.toString(), `still ${sent}`);
    assert.equal(good.closeReason, undefined);
    const fresh = await goodClient.connect(s.listener.address, 'direct');
    fresh.close();
    await fresh.closed;
  }

  /** Opens a bad connection, waits for its refusal; returns the index it had in `accepted` if it got that far. */
  async function refused(code: string, kind: string, open: () => net.Socket): Promise<number> {
    const index = s.accepted.length;
    const before = metrics.count(kind);
    const warnsBefore = logger.warnCodes().length;
    const socket = open();
    await until(() => metrics.count(kind) === before + 1, `${kind} count`);
    assert.ok(logger.warnCodes().slice(warnsBefore).includes(code), `log line with ${code}`);
    await closedOf(socket);
    await stillServing();
    return index;
  }

  it('an untrusted certificate', async () => {
    await refused('ERR_UNTRUSTED_PEER', 'fail_accept_in_con', () =>
      rawTls(port, { key: stranger.keyPem, cert: stranger.certPem, ALPNProtocols: [ALPN_BY_KIND.direct] }),
    );
  });

  it('no client certificate', async () => {
    await refused('ERR_NO_PEER_CERTIFICATE', 'fail_accept_in_con', () =>
      rawTls(port, { ALPNProtocols: [ALPN_BY_KIND.direct] }),
    );
  });

  it('a wrong ALPN and a missing ALPN', async () => {
    await refused('ERR_ALPN_MISMATCH', 'fail_accept_in_con', () =>
      rawTls(port, { key: client.keyPem, cert: client.certPem, ALPNProtocols: ['h2'] }),
    );
    await refused('ERR_ALPN_MISMATCH', 'fail_accept_in_con', () =>
      rawTls(port, { key: client.keyPem, cert: client.certPem }),
    );
  });

  it('plain-text bytes instead of a TLS hello', async () => {
    await refused('ERR_HANDSHAKE_FAILED', 'fail_accept_in_con', () => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      socket.on('error', () => {});
      socket.resume();
      return socket;
    });
  });

  it('a length prefix of 2^32-1', async () => {
    const at = await refused('ERR_FRAME_TOO_LARGE', 'frame_too_large', () => {
      const socket = rawTls(port, {
        key: client.keyPem,
        cert: client.certPem,
        ALPNProtocols: [ALPN_BY_KIND.direct],
      });
      socket.once('secureConnect', () => socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])));
      return socket;
    });
    const last = s.accepted[at];
    assert.equal(last?.reason?.code, 'ERR_FRAME_TOO_LARGE');
    assert.equal(last?.frames.length, 0);
  });

  it('half a frame, then silence: released by the idle timeout', async () => {
    const started = Date.now();
    const at = await refused('ERR_IDLE_TIMEOUT', 'idle_timeout', () => {
      const socket = rawTls(port, {
        key: client.keyPem,
        cert: client.certPem,
        ALPNProtocols: [ALPN_BY_KIND.direct],
      });
      socket.once('secureConnect', () => socket.write(Buffer.from([0, 0, 0, 100, 1, 2, 3])));
      return socket;
    });
    assert.ok(Date.now() - started >= SHORT.idleTimeoutMs, 'not released before the idle timeout');
    assert.equal(s.accepted[at]?.reason?.code, 'ERR_IDLE_TIMEOUT');
  });

  it('a peer that never finishes the handshake', async () => {
    const started = Date.now();
    await refused('ERR_HANDSHAKE_TIMEOUT', 'fail_accept_in_con', () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      return socket;
    });
    assert.ok(Date.now() - started >= SHORT.handshakeTimeoutMs);
  });

  it('a TLS 1.2 client: refused, and the log says it was the protocol version', async () => {
    const warnsBefore = logger.lines.length;
    await refused('ERR_HANDSHAKE_FAILED', 'fail_accept_in_con', () =>
      rawTls(port, {
        key: client.keyPem,
        cert: client.certPem,
        ALPNProtocols: [ALPN_BY_KIND.direct],
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
      }),
    );
    const line = logger.lines.slice(warnsBefore).find((l) => l.obj.code === 'ERR_HANDSHAKE_FAILED');
    assert.match(String(line?.obj.err), /TLS protocol version refused \(peerpost speaks TLS 1\.3 only\)/);
  });

  it('a flood of 40 refused handshakes costs a few warn lines; the metric counts every one', async () => {
    const before = metrics.count('fail_accept_in_con');
    const linesBefore = logger.lines.length;
    const flood = Array.from({ length: 40 }, () => rawTls(port, { ALPNProtocols: [ALPN_BY_KIND.direct] }));
    await until(() => metrics.count('fail_accept_in_con') === before + 40, 'all 40 refused');
    await Promise.all(flood.map(closedOf));
    const lines = logger.lines.slice(linesBefore).filter((l) => l.obj.code === 'ERR_NO_PEER_CERTIFICATE');
    // The earlier test used one line of this kind's budget in the same interval.
    assert.ok(lines.length <= WARN_BURST, `${lines.length} warn lines for 40 refusals`);
    assert.ok(lines.length >= 1);
    await stillServing();
  });

  it('500 connections at once: the cap refuses those beyond it', async () => {
    const capMetrics = new CountingMetrics();
    const capped = await startServer({ credentials: server, metrics: capMetrics }, { maxConnections: 100 });
    const t = new TlsTransport({ credentials: client });
    try {
      const kept = await t.connect(capped.listener.address, 'direct');
      new Collector(kept);
      const keptServerSide = await capped.next();
      const capPort = Number(capped.listener.address.split(':')[1]);
      const flood = Array.from({ length: 500 }, () => {
        const socket = net.connect(capPort, '127.0.0.1');
        socket.on('error', () => {});
        return socket;
      });
      // 99 slots were free: those sockets wait in the handshake, the other 401 are refused.
      await until(() => capMetrics.count('max_conn_reached') === 401, 'max_conn_reached = 401');
      kept.write(Buffer.from('through the flood'));
      await keptServerSide.waitFrames(1);
      assert.equal(capped.listener.connectionCount, 1);
      for (const socket of flood) socket.destroy();
      await Promise.all(flood.map(closedOf));
      // With the flood gone the listener accepts again.
      const listener = capped.listener as TlsListener;
      await until(() => listener.socketCount === 1, 'the flood sockets to close on the server');
      const again = await t.connect(capped.listener.address, 'direct');
      await capped.next();
      again.close();
      assert.equal(capMetrics.count('max_conn_reached'), 401);
    } finally {
      await t.close();
      await capped.transport.close();
    }
  });
});
