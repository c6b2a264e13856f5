import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import { CLOSE_GRACE_MS } from '../../src/transport/limits.js';
import { MemoryNetwork } from '../../src/transport/memory/index.js';
import type { CloseReason, Connection, ConnectionHandler } from '../../src/transport/types.js';
import { FakeClock, settle } from '../../src/util/fake-clock.js';

interface Recorder extends ConnectionHandler {
  frames: Buffer[];
  flushed: number[];
  drains: number;
  closes: CloseReason[];
}

function recorder(): Recorder {
  const r: Recorder = {
    frames: [],
    flushed: [],
    drains: 0,
    closes: [],
    onFrame: (f) => r.frames.push(Buffer.from(f)),
    onFlushed: (n) => r.flushed.push(n),
    onDrain: () => {
      r.drains++;
    },
    onClose: (reason) => r.closes.push(reason),
  };
  return r;
}

/** Reads closeReason without the narrowing left by an earlier assertion on it. */
function reasonOf(c: Connection): CloseReason | undefined {
  return c.closeReason;
}

async function pair(network: MemoryNetwork, limits = {}) {
  const server = network.transport({ host: 'server', limits });
  const client = network.transport({ host: 'client', limits });
  const accepted: Connection[] = [];
  const listener = await server.listen('server:0', { onConnection: (c) => accepted.push(c) });
  const conn = await client.connect(listener.address, 'direct');
  assert.equal(accepted.length, 1);
  return { server, client, listener, conn, remote: accepted[0]!, accepted };
}

test('frames written in one tick arrive in one batch, in order, after settle()', async () => {
  const network = new MemoryNetwork();
  const { conn, remote, listener } = await pair(network);
  assert.match(listener.address, /^server:\d+$/);
  assert.equal(conn.remoteAddress, listener.address);
  assert.equal(remote.remoteAddress, conn.localAddress);
  const a = recorder();
  const b = recorder();
  conn.attach(a);
  remote.attach(b);
  for (let i = 0; i < 100; i++) assert.equal(conn.write(Buffer.from([i])), true);
  assert.equal(conn.pendingFrames, 100);
  assert.equal(conn.bufferedBytes, 500);
  await settle();
  assert.deepEqual(a.flushed, [100]);
  assert.equal(conn.pendingFrames, 0);
  assert.equal(conn.bufferedBytes, 0);
  assert.deepEqual(
    b.frames.map((f) => f[0]),
    Array.from({ length: 100 }, (_, i) => i),
  );
  await network.close();
});

test('frames arriving before attach are held until attach', async () => {
  const network = new MemoryNetwork();
  const { conn, remote } = await pair(network);
  conn.write(Buffer.from('early'));
  await settle();
  const r = recorder();
  remote.attach(r);
  assert.equal(r.frames.length, 0);
  await settle();
  assert.deepEqual(r.frames.map(String), ['early']);
  assert.throws(
    () => remote.attach(recorder()),
    (e) => isPeerpostError(e, 'ERR_INVALID_OPTION'),
  );
  await network.close();
});

test('close from the client is reported on both sides, once, with initiator', async () => {
  const network = new MemoryNetwork();
  const { conn, remote } = await pair(network);
  const a = recorder();
  const b = recorder();
  conn.attach(a);
  remote.attach(b);
  conn.write(Buffer.from('last'));
  conn.close('bye');
  assert.equal(conn.write(Buffer.from('after')), false);
  const [local, far] = await Promise.all([conn.closed, remote.closed]);
  assert.deepEqual(local, { code: 'ERR_CONNECTION_CLOSED', message: 'bye', initiator: 'local' });
  assert.equal(far.code, 'ERR_CONNECTION_CLOSED');
  assert.equal(far.initiator, 'remote');
  assert.equal(far.message, 'bye');
  assert.deepEqual(b.frames.map(String), ['last']);
  await settle();
  assert.equal(a.closes.length, 1);
  assert.equal(b.closes.length, 1);
  assert.equal(conn.closeReason, local);
  assert.equal(network.openConnections, 0);
});

test('write returns false at the high-water mark and onDrain fires once drained', async () => {
  const network = new MemoryNetwork();
  const { conn, remote } = await pair(network, { highWaterMarkBytes: 1000 });
  const a = recorder();
  const b = recorder();
  conn.attach(a);
  remote.attach(b);
  let accepted = 0;
  while (conn.write(Buffer.alloc(96))) accepted++;
  assert.equal(accepted, 9);
  assert.equal(conn.bufferedBytes, 1000);
  assert.equal(a.drains, 0);
  await settle();
  assert.equal(a.drains, 1);
  assert.equal(b.frames.length, 10);
  await network.close();
});

test('a stalled reader makes the writer fail with ERR_WRITE_TIMEOUT in virtual time', async () => {
  const clock = new FakeClock(0);
  const network = new MemoryNetwork({ clock, socketBufferBytes: 4096 });
  const { conn, remote } = await pair(network, { writeTimeoutMs: 500, highWaterMarkBytes: 2048 });
  const a = recorder();
  conn.attach(a);
  remote.attach(recorder());
  network.pauseReading(remote);
  for (let i = 0; i < 10; i++) conn.write(Buffer.alloc(1000));
  await clock.tick(499);
  assert.equal(conn.closeReason, undefined);
  assert.ok(conn.pendingFrames > 0);
  await clock.tick(1);
  const reason = reasonOf(conn);
  assert.equal(reason?.code, 'ERR_WRITE_TIMEOUT');
  assert.equal(reason?.initiator, 'local');
  assert.ok(conn.pendingFrames > 0, 'unflushed frames stay observable');
  await settle();
  assert.equal(remote.closeReason?.code, 'ERR_CONNECTION_RESET');
  assert.equal(remote.closeReason?.initiator, 'remote');
  assert.equal(clock.pendingTimers, 0);
});

test('close() waits at most CLOSE_GRACE_MS for a peer that stopped reading, then resets it', async () => {
  const clock = new FakeClock(0);
  const network = new MemoryNetwork({ clock, socketBufferBytes: 4096 });
  const { conn, remote } = await pair(network, { writeTimeoutMs: 60_000, highWaterMarkBytes: 2048 });
  conn.attach(recorder());
  remote.attach(recorder());
  network.pauseReading(remote);
  for (let i = 0; i < 10; i++) conn.write(Buffer.alloc(1000));
  await settle();
  conn.close('shutting down');
  await clock.tick(CLOSE_GRACE_MS - 1);
  assert.equal(conn.closeReason, undefined, 'still flushing within the grace');
  await clock.tick(1);
  const reason = reasonOf(conn);
  assert.deepEqual(
    { code: reason?.code, initiator: reason?.initiator, message: reason?.message },
    { code: 'ERR_CONNECTION_CLOSED', initiator: 'local', message: 'shutting down' },
  );
  assert.ok(conn.pendingFrames > 0, 'frames the peer never took stay pending');
  await settle();
  assert.equal(remote.closeReason?.code, 'ERR_CONNECTION_RESET');
  assert.equal(clock.pendingTimers, 0, 'no timer left behind');
  await network.close();
});

test('an orderly close() with a reading peer leaves no grace timer behind', async () => {
  const clock = new FakeClock(0);
  const network = new MemoryNetwork({ clock });
  const { conn, remote } = await pair(network);
  const r = recorder();
  conn.attach(recorder());
  remote.attach(r);
  conn.write(Buffer.from('last words'));
  conn.close();
  await settle();
  assert.equal(conn.closeReason?.code, 'ERR_CONNECTION_CLOSED');
  assert.equal(r.frames.length, 1);
  assert.equal(clock.pendingTimers, 0);
  await network.close();
});

test('an oversized frame closes only that connection with ERR_FRAME_TOO_LARGE', async () => {
  const network = new MemoryNetwork();
  const { conn, remote, client, listener, accepted } = await pair(network, { maxFrameBytes: 100 });
  const other = await client.connect(listener.address, 'direct');
  const r1 = recorder();
  const r2 = recorder();
  remote.attach(r1);
  accepted[1]!.attach(r2);
  conn.attach(recorder());
  other.attach(recorder());
  conn.write(Buffer.alloc(101));
  other.write(Buffer.alloc(100));
  await settle();
  assert.equal(remote.closeReason?.code, 'ERR_FRAME_TOO_LARGE');
  assert.equal(remote.closeReason?.initiator, 'local');
  assert.equal(r1.frames.length, 0);
  assert.equal(conn.closeReason?.code, 'ERR_CONNECTION_RESET');
  assert.equal(r2.frames.length, 1);
  assert.equal(accepted[1]!.closeReason, undefined);
  assert.equal(listener.connectionCount, 1);
  await network.close();
});

test('connect errors: refused, ALPN, identity, cap, bad address, abort', async () => {
  const network = new MemoryNetwork();
  const server = network.transport({ host: 'server' });
  const client = network.transport({ host: 'client' });
  const code = (c: string) => (e: unknown) => isPeerpostError(e) && e.code === c;
  await assert.rejects(client.connect('server:1', 'direct'), code('ERR_CONNECT_REFUSED'));
  await assert.rejects(client.connect('server', 'direct'), code('ERR_INVALID_ADDRESS'));
  const seen: Connection[] = [];
  const listener = await server.listen('server:0', {
    kinds: ['direct'],
    maxConnections: 1,
    onConnection: (c) => seen.push(c),
  });
  await assert.rejects(client.connect(listener.address, 'subscribe-node'), code('ERR_ALPN_MISMATCH'));
  await assert.rejects(
    client.connect(listener.address, 'direct', { expectedIdentity: { certHash: 'ab'.repeat(32) } }),
    code('ERR_IDENTITY_MISMATCH'),
  );
  assert.equal(seen.length, 0);
  const ok = await client.connect(listener.address, 'direct', {
    expectedIdentity: { certHash: server.identity.certHash },
  });
  assert.equal(ok.remoteIdentity.certHash, server.identity.certHash);
  assert.equal(ok.remoteIdentity.shortId, server.identity.certHash.slice(0, 4));
  assert.equal(seen[0]!.remoteIdentity.certHash, client.identity.certHash);
  assert.equal(seen[0]!.kind, 'direct');
  await assert.rejects(client.connect(listener.address, 'direct'), code('ERR_MAX_CONNECTIONS'));
  await assert.rejects(
    client.connect(listener.address, 'direct', { signal: AbortSignal.abort() }),
    code('ERR_ABORTED'),
  );
  await assert.rejects(server.listen(listener.address, { onConnection() {} }), code('ERR_LISTEN_FAILED'));
  await assert.rejects(server.listen('client:0', { onConnection() {} }), code('ERR_LISTEN_FAILED'));
  await network.close();
});

test('owner-key pinning and listener.close() closing inbound connections', async () => {
  const network = new MemoryNetwork();
  const key = 'cd'.repeat(32);
  const server = network.transport({ host: 'server', identity: { ownerKeys: [key] } });
  const client = network.transport({ host: 'client' });
  const seen: Connection[] = [];
  const listener = await server.listen('0.0.0.0:7000', { onConnection: (c) => seen.push(c) });
  assert.equal(listener.address, 'server:7000');
  const conn = await client.connect('server:7000', 'direct', { expectedIdentity: { ownerKey: key } });
  const r = recorder();
  conn.attach(r);
  seen[0]!.attach(recorder());
  assert.equal(listener.connectionCount, 1);
  await listener.close();
  assert.equal(listener.connectionCount, 0);
  assert.equal(seen[0]!.closeReason?.code, 'ERR_CONNECTION_CLOSED');
  await settle();
  assert.equal(r.closes[0]?.initiator, 'remote');
  await assert.rejects(client.connect('server:7000', 'direct'), (e) =>
    isPeerpostError(e, 'ERR_CONNECT_REFUSED'),
  );
  await network.close();
});
