import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import { MemoryNetwork, type MemoryNetworkOptions } from '../../src/transport/memory/index.js';
import type { Connection, ConnectionHandler, TransportLimits } from '../../src/transport/types.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { seededRandom } from '../../src/util/random.js';
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

// ---- issue 14: a fault never leaves a silent connection ----

type Pair = Awaited<ReturnType<Awaited<ReturnType<typeof setup>>['connect']>>;

/**
 * After a fault, a connection either still carries frames both ways or is closed on BOTH
 * ends (each told once through onClose) within `withinMs` of virtual time: never open on
 * one end while what it writes vanishes.
 */
async function assertFlowsOrClosed(
  clock: FakeClock,
  p: Pair,
  withinMs = 30_000,
): Promise<'flows' | 'closed'> {
  const up = Buffer.from(`probe-up-${clock.now()}`);
  const down = Buffer.from(`probe-down-${clock.now()}`);
  p.conn.write(up);
  p.remote.write(down);
  await clock.tick(withinMs);
  const closed = [reasonOf(p.conn) !== undefined, reasonOf(p.remote) !== undefined];
  if (closed[0] || closed[1]) {
    assert.deepEqual(closed, [true, true], 'one end closed: the other must be told within bounded time');
    assert.equal(p.r.closes.length, 1, 'client end told once through onClose');
    assert.equal(p.s.closes.length, 1, 'server end told once through onClose');
    return 'closed';
  }
  assert.ok(
    p.s.frames.some((f) => f.equals(up)),
    'both ends open: a frame written by the client must reach the server',
  );
  assert.ok(
    p.r.frames.some((f) => f.equals(down)),
    'both ends open: a frame written by the server must reach the client',
  );
  return 'flows';
}

test('reset with afterBytes while partitioned, then heal: the cut resets both ends (no silent link)', async () => {
  const { clock, network, connect } = await setup({}, { idleTimeoutMs: 5000 });
  const p = await connect();
  network.partition(['a'], ['b']);
  network.reset(p.conn, { afterBytes: 150 });
  p.conn.write(Buffer.alloc(100, 1));
  await clock.tick(0);
  p.conn.write(Buffer.alloc(100, 2)); // the cut falls inside this frame
  p.conn.write(Buffer.alloc(100, 3));
  await clock.tick(1000);
  assert.equal(p.s.frames.length, 0, 'nothing crosses the partition');
  network.heal();
  await clock.tick(0);
  assert.deepEqual(
    p.s.frames.map((f) => [f.length, f[0]]),
    [[100, 1]],
    'whole frames before the cut arrive, nothing after it',
  );
  assert.equal(reasonOf(p.conn)?.code, 'ERR_CONNECTION_RESET');
  assert.equal(reasonOf(p.remote)?.code, 'ERR_CONNECTION_RESET');
  assert.equal(await assertFlowsOrClosed(clock, p), 'closed');
  await network.close();
  assert.equal(clock.pendingTimers, 0);
});

test('a cut taken while partitioned: a later close() of the writer still reaches its peer on heal', async () => {
  const { clock, network, connect } = await setup();
  const p = await connect();
  network.reset(p.conn, { afterBytes: 1_000_000 });
  network.partition(['a'], ['b']);
  network.reset(p.remote, { afterBytes: 2 });
  p.remote.write(Buffer.from('cut-inside'));
  await clock.tick(0);
  p.remote.close('bye');
  await clock.tick(100);
  assert.equal(reasonOf(p.conn), undefined, 'nothing crossed the partition yet');
  network.heal();
  await clock.tick(0);
  assert.equal(reasonOf(p.conn)?.code, 'ERR_CONNECTION_RESET');
  assert.equal(p.r.frames.length, 0, 'the partial frame is never delivered');
  assert.equal(await assertFlowsOrClosed(clock, p), 'closed');
  await network.close();
});

test('reset without afterBytes while partitioned, then heal: both ends closed at once', async () => {
  const { clock, network, connect } = await setup();
  const p = await connect();
  network.partition(['a'], ['b']);
  p.conn.write(Buffer.from('held'));
  await clock.tick(10);
  network.reset(p.conn);
  assert.equal(reasonOf(p.conn)?.code, 'ERR_CONNECTION_RESET');
  assert.equal(reasonOf(p.remote)?.code, 'ERR_CONNECTION_RESET');
  network.heal();
  assert.equal(await assertFlowsOrClosed(clock, p), 'closed');
  assert.equal(p.s.frames.length, 0, 'a frame held by the partition is lost with the reset');
  await network.close();
  assert.equal(clock.pendingTimers, 0);
});

test('crash while partitioned, then heal and restart: both ends closed, new connections work', async () => {
  const { clock, network, server, listener, connect } = await setup();
  const p = await connect();
  network.partition(['a'], ['b']);
  p.conn.write(Buffer.from('held'));
  p.remote.write(Buffer.from('held back'));
  await clock.tick(10);
  network.crash('a');
  network.heal();
  await listener.close();
  network.restart('a');
  const seen: Connection[] = [];
  await server.listen(listener.address, { onConnection: (c) => seen.push(c) });
  assert.equal(await assertFlowsOrClosed(clock, p), 'closed');
  assert.equal(reasonOf(p.conn)?.code, 'ERR_CONNECTION_RESET');
  assert.equal(reasonOf(p.remote)?.code, 'ERR_CONNECTION_RESET');
  assert.equal(p.s.frames.length + p.r.frames.length, 0);
  await network.close();
});

test('partition, heal, partition again quickly with a cut in transit: nothing crosses a cut, the reset arrives on heal', async () => {
  const { clock, network, connect } = await setup(
    { defaultLink: { latency: 40 } },
    { idleTimeoutMs: 60_000 },
  );
  const connecting = connect();
  await clock.tick(80);
  const p = await connecting;
  p.conn.write(Buffer.from('before'));
  await clock.tick(10); // in transit (40 ms latency)
  network.partition(['a'], ['b']);
  network.reset(p.conn, { afterBytes: 4 + 5 + 2 });
  p.conn.write(Buffer.from('first'));
  p.conn.write(Buffer.from('second'));
  await clock.tick(100);
  assert.equal(p.s.frames.length, 0, 'a partition delivers nothing, not even what was in transit');
  network.heal();
  await clock.tick(10);
  network.partition(['b'], ['a']);
  await clock.tick(1000);
  assert.equal(p.s.frames.length, 0, 'the second partition holds what the heal sent on');
  assert.equal(reasonOf(p.conn), undefined);
  network.heal();
  await clock.tick(40);
  assert.deepEqual(p.s.frames.map(String), ['before', 'first']);
  assert.equal(reasonOf(p.conn)?.code, 'ERR_CONNECTION_RESET');
  assert.equal(reasonOf(p.remote)?.code, 'ERR_CONNECTION_RESET');
  assert.equal(await assertFlowsOrClosed(clock, p), 'closed');
  await network.close();
  assert.equal(clock.pendingTimers, 0);
});

test('partition, heal, partition again quickly without a cut: frames keep flowing after the last heal', async () => {
  const { clock, network, connect } = await setup({ defaultLink: { latency: 5 } });
  const connecting = connect();
  await clock.tick(10);
  const p = await connecting;
  for (let i = 0; i < 5; i++) {
    network.partition(['a'], ['b']);
    p.conn.write(Buffer.from([i]));
    p.remote.write(Buffer.from([100 + i]));
    await clock.tick(3);
    network.heal();
    await clock.tick(2);
  }
  await clock.tick(10);
  assert.deepEqual(
    p.s.frames.map((f) => f[0]),
    [0, 1, 2, 3, 4],
  );
  assert.deepEqual(
    p.r.frames.map((f) => f[0]),
    [100, 101, 102, 103, 104],
  );
  assert.equal(await assertFlowsOrClosed(clock, p), 'flows');
  await network.close();
});

test('reset with afterBytes of a connection whose reader is paused and whose link is stalled', async () => {
  const { clock, network, connect } = await setup({}, { writeTimeoutMs: 60_000 });
  const p = await connect();
  network.pauseReading(p.remote);
  network.partition(['a'], ['b']);
  network.reset(p.conn, { afterBytes: 3 });
  p.conn.write(Buffer.from('abcdef'));
  await clock.tick(100);
  network.heal();
  await clock.tick(0);
  assert.equal(reasonOf(p.conn)?.code, 'ERR_CONNECTION_RESET');
  assert.equal(reasonOf(p.remote)?.code, 'ERR_CONNECTION_RESET', 'a paused reader is still reset');
  network.resumeReading(p.remote);
  assert.equal(await assertFlowsOrClosed(clock, p), 'closed');
  assert.equal(p.s.frames.length, 0);
  await network.close();
});

test('a paused reader whose peer closed is reset when it writes (data to a closed end is answered with a reset)', async () => {
  const { clock, network, connect } = await setup({}, { writeTimeoutMs: 60_000 });
  const p = await connect();
  network.pauseReading(p.remote);
  p.conn.close('done');
  await clock.tick(0);
  assert.equal(reasonOf(p.conn)?.code, 'ERR_CONNECTION_CLOSED');
  assert.equal(reasonOf(p.remote), undefined, 'a paused reader has not read the end of stream yet');
  assert.equal(await assertFlowsOrClosed(clock, p), 'closed');
  assert.equal(reasonOf(p.remote)?.code, 'ERR_CONNECTION_RESET');
  await network.close();
});

/** Frame `i` of a direction: its index in the first 4 bytes. */
function indexed(i: number, size: number): Buffer {
  const b = Buffer.alloc(Math.max(4, size), i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
}

interface End extends ConnectionHandler {
  conn: Connection;
  peer: End | undefined;
  written: number;
  flushed: number;
  received: number;
  closes: number;
  closedWithUnflushed: number;
  violations: string[];
}

function end(conn: Connection, violations: string[]): End {
  const e: End = {
    conn,
    peer: undefined,
    written: 0,
    flushed: 0,
    received: 0,
    closes: 0,
    closedWithUnflushed: 0,
    violations,
    onFrame(frame) {
      const i = frame.readUInt32BE(0);
      if (i !== e.received)
        violations.push(`${conn.localAddress}: frame ${i} arrived, expected ${e.received}`);
      e.received = i + 1;
      const writer = e.peer!;
      if (writer.flushed <= i) {
        violations.push(
          `${conn.localAddress}: frame ${i} delivered before the writer was told it was flushed`,
        );
      }
    },
    onFlushed(count) {
      e.flushed += count;
      if (e.flushed > e.written) violations.push(`${conn.localAddress}: more flushed than written`);
    },
    onClose() {
      e.closes++;
      if (e.closes > 1) violations.push(`${conn.localAddress}: onClose twice`);
      if (conn.pendingFrames !== e.written - e.flushed) {
        violations.push(`${conn.localAddress}: pendingFrames ${conn.pendingFrames} != written - flushed`);
      }
      if (e.peer !== undefined && e.peer.received > e.flushed) {
        violations.push(
          `${conn.localAddress}: closed reporting frame ${e.flushed} unflushed, but the peer received ${e.peer.received}`,
        );
      }
    },
  };
  return e;
}

/**
 * A seeded script of writes and faults over a few hosts, with latency and a small socket
 * buffer, checked by the oracle's two rules: every end that closes is told once and no
 * frame reaches a reader before its writer was told it was flushed (nor is reported
 * unflushed after it arrived). Then every fault is lifted and every connection must
 * either carry frames both ways again or be closed on both ends.
 */
async function chaos(seed: number): Promise<{ flows: number; closed: number; delivered: number }> {
  const random = seededRandom(seed * 7919 + 1);
  const clock = new FakeClock(0);
  const network = new MemoryNetwork({
    clock,
    seed,
    socketBufferBytes: 4096,
    defaultLink: { latency: { minMs: 0, maxMs: 20 } },
  });
  const hosts = ['a', 'b', 'c'];
  const limits = {
    idleTimeoutMs: 4000,
    writeTimeoutMs: 3000,
    highWaterMarkBytes: 16_384,
    handshakeTimeoutMs: 500,
  };
  const transports = hosts.map((host) => network.transport({ host, limits }));
  const violations: string[] = [];
  const pairs: [End, End][] = [];
  /** Server ends by `client address|server address`. */
  const inbound = new Map<string, End>();
  const addresses: string[] = [];
  const listen = async (i: number) => {
    const listener = await transports[i]!.listen(addresses[i] ?? `${hosts[i]}:0`, {
      onConnection: (conn) => {
        const e = end(conn, violations);
        inbound.set(`${conn.remoteAddress}|${conn.localAddress}`, e);
        conn.attach(e);
      },
    });
    addresses[i] = listener.address;
  };
  for (let i = 0; i < hosts.length; i++) await listen(i);
  const down = new Set<number>();
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const write = (e: End, n: number) => {
    for (let k = 0; k < n; k++) {
      // write() never flushes at once: a frame was accepted if and only if it is pending.
      const pending = e.conn.pendingFrames;
      e.conn.write(indexed(e.written, Math.floor(random() * 3000)));
      if (e.conn.pendingFrames > pending) e.written++;
    }
  };
  for (let step = 0; step < 300; step++) {
    const open = pairs.filter(
      ([x, y]) => x.conn.closeReason === undefined || y.conn.closeReason === undefined,
    );
    const roll = random();
    if (roll < 0.12 || open.length === 0) {
      const from = Math.floor(random() * hosts.length);
      const to = (from + 1 + Math.floor(random() * (hosts.length - 1))) % hosts.length;
      void transports[from]!.connect(addresses[to]!, 'direct').then(
        (conn) => {
          const client = end(conn, violations);
          const server = inbound.get(`${conn.localAddress}|${conn.remoteAddress}`)!;
          client.peer = server;
          server.peer = client;
          conn.attach(client);
          pairs.push([client, server]);
        },
        () => {},
      );
    } else if (roll < 0.6) {
      const [x, y] = pick(open);
      write(random() < 0.5 ? x : y, 1 + Math.floor(random() * 4));
    } else if (roll < 0.66) {
      const x = pick(hosts);
      network.partition(
        [x],
        hosts.filter((h) => h !== x && random() < 0.7),
      );
    } else if (roll < 0.72) {
      network.heal();
    } else if (roll < 0.78) {
      const [x, y] = pick(open);
      network.reset((random() < 0.5 ? x : y).conn, { afterBytes: Math.floor(random() * 6000) });
    } else if (roll < 0.8) {
      network.reset(pick(open)[0].conn);
    } else if (roll < 0.85) {
      const [x, y] = pick(open);
      const e = random() < 0.5 ? x : y;
      if (random() < 0.6) network.pauseReading(e.conn);
      else network.resumeReading(e.conn);
    } else if (roll < 0.87) {
      const i = Math.floor(random() * hosts.length);
      if (!down.has(i)) {
        network.crash(hosts[i]!);
        down.add(i);
      }
    } else if (roll < 0.9) {
      for (const i of down) {
        network.restart(hosts[i]!);
        await listen(i);
      }
      down.clear();
    } else if (roll < 0.93) {
      pick(open)[random() < 0.5 ? 0 : 1].conn.close('chaos');
    }
    await clock.tick(Math.floor(random() * 60));
  }
  // Lift every fault; what is still open must carry frames both ways, the rest be closed on both ends.
  network.heal();
  for (const i of down) network.restart(hosts[i]!);
  for (const [x, y] of pairs) {
    network.resumeReading(x.conn);
    network.resumeReading(y.conn);
  }
  await clock.tick(100);
  for (const [x, y] of pairs) {
    if (x.conn.closeReason === undefined) write(x, 1);
    if (y.conn.closeReason === undefined) write(y, 1);
  }
  await clock.tick(30_000);
  let flows = 0;
  let closed = 0;
  let delivered = 0;
  for (const [x, y] of pairs) {
    const what = `${x.conn.localAddress} <-> ${y.conn.localAddress}`;
    delivered += x.received + y.received;
    if (x.conn.closeReason !== undefined || y.conn.closeReason !== undefined) {
      assert.ok(
        x.conn.closeReason !== undefined && y.conn.closeReason !== undefined,
        `${what}: one end closed (${x.conn.closeReason?.code ?? y.conn.closeReason?.code}), the other never told`,
      );
      assert.equal(x.closes, 1, `${what}: client told once`);
      assert.equal(y.closes, 1, `${what}: server told once`);
      closed++;
    } else {
      assert.equal(y.received, x.written, `${what}: open both ends, every client frame arrived`);
      assert.equal(x.received, y.written, `${what}: open both ends, every server frame arrived`);
      flows++;
    }
  }
  assert.deepEqual(violations, []);
  await network.close();
  assert.equal(clock.pendingTimers, 0);
  return { flows, closed, delivered };
}

test('seeded chaos: every connection carries frames or is closed on both ends; no delivery before flush', async () => {
  let closed = 0;
  let flows = 0;
  let delivered = 0;
  for (let seed = 1; seed <= 80; seed++) {
    const result = await chaos(seed);
    closed += result.closed;
    flows += result.flows;
    delivered += result.delivered;
  }
  // The script must exercise both outcomes and move data, or it proves nothing.
  assert.ok(closed > 10, `connections closed by faults (${closed})`);
  assert.ok(flows > 0, `connections survived the faults (${flows})`);
  assert.ok(delivered > 500, `frames delivered (${delivered})`);
});

test('a frame written before attach is reported flushed before any close reaches the writer', async () => {
  const { clock, network, client, listener } = await setup();
  const logged = (log: string[]): ConnectionHandler => ({
    onFrame: () => log.push('frame'),
    onFlushed: (n) => log.push(`flushed ${n}`),
    onClose: (reason) => log.push(`close ${reason.code}`),
  });
  for (const resetBeforeAttach of [true, false]) {
    const conn = await client.connect(listener.address, 'direct');
    const delivered = network.events.filter((e) => e.type === 'deliver').length;
    conn.write(Buffer.from('early'));
    await clock.tick(0);
    assert.equal(conn.pendingFrames, 0, 'the frame left the writer');
    assert.equal(
      network.events.filter((e) => e.type === 'deliver').length,
      delivered + 1,
      'and reached the peer',
    );
    const log: string[] = [];
    if (resetBeforeAttach) {
      network.reset(conn);
      conn.attach(logged(log));
    } else {
      conn.attach(logged(log));
      network.reset(conn); // closes at once, before the next pass
    }
    await clock.tick(0);
    assert.deepEqual(
      log,
      ['flushed 1', 'close ERR_CONNECTION_RESET'],
      `reset before attach: ${resetBeforeAttach}`,
    );
  }
  await network.close();
});
