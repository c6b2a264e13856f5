import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import { MemoryNetwork, type MemoryNetworkOptions } from '../../src/transport/memory/index.js';
import type { Connection, TransportLimits } from '../../src/transport/types.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { type Recorder, recorder } from './conformance.js';

/** Reads closeReason without the narrowing left by an earlier assertion on it. */
const reasonOf = (c: Connection) => c.closeReason;
const code = (c: string) => (e: unknown) => isPeerpostError(e) && e.code === c;

async function setup(options: MemoryNetworkOptions = {}, limits: TransportLimits = {}) {
  const clock = new FakeClock(0);
  const network = new MemoryNetwork({ clock, recordEvents: true, ...options });
  const server = network.transport({ host: 'a', limits });
  const client = network.transport({ host: 'b', limits });
  const accepted: Connection[] = [];
  const received: Recorder[] = [];
  const listener = await server.listen('a:0', {
    onConnection: (conn) => {
      const r = recorder();
      accepted.push(conn);
      received.push(r);
      conn.attach(r);
    },
  });
  const connect = async () => {
    const conn = await client.connect(listener.address, 'direct');
    const r = recorder();
    conn.attach(r);
    return { conn, r, remote: accepted.at(-1)!, s: received.at(-1)! };
  };
  return { clock, network, server, client, listener, connect, accepted };
}

test('fixed latency delays connect by a round trip and every batch by one way', async () => {
  const { clock, network, connect } = await setup({ defaultLink: { latency: 50 } });
  const started = clock.now();
  const connecting = connect();
  await clock.tick(99);
  let done = false;
  void connecting.then(() => {
    done = true;
  });
  await clock.tick(0);
  assert.equal(done, false, 'not connected before one round trip');
  await clock.tick(1);
  const { conn, s } = await connecting;
  assert.equal(clock.now() - started, 100);
  conn.write(Buffer.from('x'));
  await clock.tick(49);
  assert.equal(s.frames.length, 0);
  await clock.tick(1);
  assert.equal(s.frames.length, 1);
  await network.close();
  assert.equal(clock.pendingTimers, 0);
});

test('latency drawn from a distribution never reorders frames', async () => {
  const { clock, network, connect } = await setup({
    seed: 3,
    defaultLink: { latency: { minMs: 1, maxMs: 80 } },
  });
  const connecting = connect();
  await clock.tick(200);
  const { conn, s } = await connecting;
  for (let i = 0; i < 200; i++) {
    conn.write(Buffer.from([i]));
    await clock.tick(1);
  }
  await clock.tick(100);
  assert.deepEqual(
    s.frames.map((f) => f[0]),
    Array.from({ length: 200 }, (_, i) => i),
  );
  await network.close();
});

test('bandwidth delays delivery by size / rate', async () => {
  const { clock, network, connect } = await setup();
  network.setLink('a', 'b', { bandwidthBytesPerSec: 1000 });
  const { conn, s } = await connect();
  conn.write(Buffer.alloc(996)); // 1000 bytes on the wire
  conn.write(Buffer.alloc(996));
  await clock.tick(1999);
  assert.equal(s.frames.length, 0, 'one batch of 2000 bytes takes 2 s');
  await clock.tick(1);
  assert.equal(s.frames.length, 2);
  await network.close();
});

test('refusal: a refusing link, and a seeded refusal rate', async () => {
  const { network, client, listener } = await setup();
  network.setLink('b', 'a', { refuse: true }, false);
  await assert.rejects(client.connect(listener.address, 'direct'), code('ERR_CONNECT_REFUSED'));
  network.setLink('b', 'a', { refuseRate: 0.5 }, false);
  const outcomes: boolean[] = [];
  for (let i = 0; i < 40; i++) {
    outcomes.push(
      await client.connect(listener.address, 'direct').then(
        (c) => {
          c.close();
          return true;
        },
        () => false,
      ),
    );
  }
  const ok = outcomes.filter(Boolean).length;
  assert.ok(ok > 5 && ok < 35, `about half refused, got ${ok} of 40 accepted`);
  await network.close();
});

test('reset of an open connection is seen on both ends', async () => {
  const { clock, network, connect, listener } = await setup();
  const { conn, r, remote, s } = await connect();
  network.reset(conn);
  assert.equal(conn.closeReason?.code, 'ERR_CONNECTION_RESET');
  assert.equal(remote.closeReason?.code, 'ERR_CONNECTION_RESET');
  assert.equal(r.closes.length, 1);
  assert.equal(s.closes.length, 1);
  assert.equal(listener.connectionCount, 0);
  assert.equal(conn.write(Buffer.from('x')), false);
  await network.close();
  assert.equal(clock.pendingTimers, 0);
});

test('a reset in the middle of a frame: whole frames before it arrive, the partial one never does', async () => {
  const { clock, network, connect } = await setup();
  const { conn, remote, s } = await connect();
  network.reset(conn, { afterBytes: 300 });
  conn.write(Buffer.alloc(100, 1));
  conn.write(Buffer.alloc(100, 2));
  conn.write(Buffer.alloc(1000, 3));
  await clock.tick(0);
  assert.deepEqual(
    s.frames.map((f) => [f.length, f[0]]),
    [
      [100, 1],
      [100, 2],
    ],
  );
  assert.equal(remote.closeReason?.code, 'ERR_CONNECTION_RESET');
  assert.equal(conn.closeReason?.code, 'ERR_CONNECTION_RESET');
  await network.close();
});

test('random resets (resetRate) never deliver a partial frame', async () => {
  const { clock, network, connect } = await setup({ seed: 11, defaultLink: { resetRate: 0.2 } });
  let intact = 0;
  let resets = 0;
  for (let round = 0; round < 20; round++) {
    const { conn, s } = await connect();
    for (let batch = 0; batch < 10 && conn.closeReason === undefined; batch++) {
      for (let i = 0; i < 5; i++) conn.write(Buffer.alloc(200, batch * 5 + i));
      await clock.tick(0);
    }
    s.frames.forEach((f, i) => {
      assert.equal(f.length, 200);
      assert.ok(f.every((b) => b === i));
    });
    intact += s.frames.length;
    if (conn.closeReason?.code === 'ERR_CONNECTION_RESET') resets++;
    conn.close();
    await clock.tick(0);
  }
  assert.ok(resets > 5, `resets happened (${resets})`);
  assert.ok(intact > 50, `frames got through (${intact})`);
  await network.close();
});

test('partition: new connects time out, open connections stall and resume in order on heal', async () => {
  const { clock, network, client, listener, connect } = await setup({}, { handshakeTimeoutMs: 1000 });
  const { conn, remote, s, r } = await connect();
  network.partition(['a'], ['b']);
  const attempt = client.connect(listener.address, 'direct');
  const rejected = assert.rejects(attempt, code('ERR_HANDSHAKE_TIMEOUT'));
  conn.write(Buffer.from('1'));
  remote.write(Buffer.from('back'));
  await clock.tick(1000);
  await rejected;
  conn.write(Buffer.from('2'));
  assert.equal(s.frames.length, 0);
  assert.equal(r.frames.length, 0);
  network.heal();
  await clock.tick(0);
  assert.deepEqual(s.frames.map(String), ['1', '2']);
  assert.deepEqual(r.frames.map(String), ['back']);
  assert.equal(conn.closeReason, undefined);
  const again = await client.connect(listener.address, 'direct');
  again.close();
  await network.close();
});

test('a partition longer than the idle timeout fails both ends with ERR_IDLE_TIMEOUT', async () => {
  const { clock, network, connect } = await setup({}, { idleTimeoutMs: 3000 });
  const { conn, remote } = await connect();
  network.partition(['b'], ['a']);
  await clock.tick(2999);
  assert.equal(conn.closeReason, undefined);
  await clock.tick(1);
  assert.equal(reasonOf(conn)?.code, 'ERR_IDLE_TIMEOUT');
  assert.equal(remote.closeReason?.code, 'ERR_IDLE_TIMEOUT');
  network.heal();
  await network.close();
  assert.equal(clock.pendingTimers, 0);
});

test('crash resets every connection of the host and removes its listener; restart listens again', async () => {
  const { clock, network, server, client, listener, connect } = await setup();
  const one = await connect();
  const two = await connect();
  const address = listener.address;
  network.crash('a');
  for (const p of [one, two]) {
    assert.equal(p.conn.closeReason?.code, 'ERR_CONNECTION_RESET');
    assert.equal(p.conn.closeReason?.initiator, 'remote');
    assert.equal(p.remote.closeReason?.code, 'ERR_CONNECTION_RESET');
  }
  await assert.rejects(client.connect(address, 'direct'), code('ERR_CONNECT_REFUSED'));
  await assert.rejects(server.listen(address, { onConnection() {} }), code('ERR_LISTEN_FAILED'));
  await assert.rejects(server.connect('b:1', 'direct'), code('ERR_CONNECT_FAILED'));
  await listener.close();
  network.restart('a');
  const seen: Connection[] = [];
  const again = await server.listen(address, { onConnection: (c) => seen.push(c) });
  assert.equal(again.address, address);
  const conn = await client.connect(address, 'direct');
  assert.equal(seen.length, 1);
  conn.close();
  await clock.tick(0);
  await network.close();
});

test('a stalled reader triggers the write timeout; resuming in time avoids it', async () => {
  const { clock, network, connect } = await setup(
    { socketBufferBytes: 1024 },
    { writeTimeoutMs: 1000, highWaterMarkBytes: 4096 },
  );
  const first = await connect();
  network.pauseReading(first.remote);
  for (let i = 0; i < 20; i++) first.conn.write(Buffer.alloc(500, i));
  await clock.tick(900);
  assert.equal(first.s.frames.length, 0);
  network.resumeReading(first.remote);
  await clock.tick(200);
  assert.equal(first.s.frames.length, 20);
  assert.equal(first.conn.closeReason, undefined);
  network.pauseReading(first.remote);
  for (let i = 0; i < 20; i++) first.conn.write(Buffer.alloc(500, i));
  await clock.tick(1000);
  assert.equal(reasonOf(first.conn)?.code, 'ERR_WRITE_TIMEOUT');
  await network.close();
});

async function scenario(seed: number) {
  const { clock, network, client, listener, connect } = await setup({
    seed,
    defaultLink: { latency: { minMs: 1, maxMs: 30 }, resetRate: 0.05, refuseRate: 0.2 },
  });
  for (let round = 0; round < 15; round++) {
    let p: Awaited<ReturnType<typeof connect>> | undefined;
    let done = false;
    void connect().then(
      (value) => {
        p = value;
        done = true;
      },
      () => {
        done = true;
      },
    );
    // A connect across the partition only fails after the handshake timeout.
    while (!done) await clock.tick(100);
    if (p === undefined) continue;
    for (let i = 0; i < 20; i++) {
      p.conn.write(Buffer.alloc(64 + i));
      p.remote.write(Buffer.alloc(32));
      await clock.tick(5);
    }
    if (round === 7) network.partition(['a'], ['b']);
    if (round === 9) network.heal();
    p.conn.close();
    await clock.tick(100);
  }
  await network.close();
  assert.equal(clock.pendingTimers, 0);
  await assert.rejects(client.connect(listener.address, 'direct'), code('ERR_CLOSED'));
  return network.events.map((e) => JSON.stringify(e));
}

test('the same seed replays the same event log; another seed does not', async () => {
  const first = await scenario(5);
  const second = await scenario(5);
  assert.ok(first.length > 100);
  assert.deepEqual(second, first);
  assert.ok(first.some((e) => e.includes('"reject"')));
  assert.ok(first.some((e) => e.includes('ERR_CONNECTION_RESET')));
  const other = await scenario(6);
  assert.notDeepEqual(other, first);
});
