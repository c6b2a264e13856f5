import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryNetwork, type MemoryNetworkOptions } from '../../src/transport/memory/index.js';
import type {
  CloseReason,
  Connection,
  ConnectionHandler,
  TransportLimits,
} from '../../src/transport/types.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { encodedEnvelopeSize, encodeEnvelope } from '../../src/wire/envelope.js';
import { envelopeOf, framesOf } from './fixtures.js';

// The in-memory transport's fast paths (writeEnvelope, writeFrames) and readAtMs, where the
// memory transport has something of its own to prove: its clock, its socket buffer (a pass
// hands over only what fits), its fault plan, and the copy a socket makes of what it accepts.

interface Seen extends ConnectionHandler {
  readonly frames: Buffer[];
  readonly readAt: (number | undefined)[];
  readonly flushed: number[];
  readonly closes: CloseReason[];
}

function seen(): Seen {
  const r: Seen = {
    frames: [],
    readAt: [],
    flushed: [],
    closes: [],
    onFrame: (frame, readAtMs) => {
      r.frames.push(Buffer.from(frame));
      r.readAt.push(readAtMs);
    },
    onFlushed: (count) => r.flushed.push(count),
    onClose: (reason) => r.closes.push(reason),
  };
  return r;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
/** Reads closeReason without the narrowing left by an earlier assertion on it. */
const reasonOf = (c: Connection): CloseReason | undefined => c.closeReason;

async function setup(options: MemoryNetworkOptions = {}, limits: TransportLimits = {}) {
  const clock = new FakeClock(1_000);
  const network = new MemoryNetwork({ clock, ...options });
  const server = network.transport({ host: 'a', limits });
  const client = network.transport({ host: 'b', limits });
  const accepted: Connection[] = [];
  const listener = await server.listen('a:0', { onConnection: (c) => accepted.push(c) });
  const connecting = client.connect(listener.address, 'direct');
  await clock.tick(1000); // past any link latency of the handshake
  const conn = await connecting;
  const remote = accepted[0]!;
  const c = seen();
  const s = seen();
  conn.attach(c);
  remote.attach(s);
  return { clock, network, conn, remote, c, s };
}

test('readAtMs is the network clock when the chunk arrives, for every frame of it', async () => {
  const { clock, network, conn, s } = await setup({ defaultLink: { latency: 7 } });
  const sentAt = clock.now();
  const e = envelopeOf(1, 10);
  conn.write(encodeEnvelope(e));
  conn.writeEnvelope!(e, encodedEnvelopeSize(e));
  conn.writeFrames!(framesOf([encodeEnvelope(e), encodeEnvelope(e)]), 2);
  await clock.tick(6);
  assert.equal(s.frames.length, 0);
  await clock.tick(1);
  await clock.tick(5);
  conn.writeEnvelope!(e, encodedEnvelopeSize(e));
  await clock.tick(20);
  assert.equal(s.frames.length, 5);
  assert.deepEqual(s.readAt, [sentAt + 7, sentAt + 7, sentAt + 7, sentAt + 7, sentAt + 12 + 7]);
  await network.close();
});

test('a pass hands over only what fits in the socket buffer, splitting runs between frames', async () => {
  const { clock, network, conn, remote, c, s } = await setup({ socketBufferBytes: 1000 });
  network.pauseReading(remote);
  const sent: Buffer[] = [];
  const bodies: Buffer[] = [];
  for (let i = 0; i < 60; i++) {
    const e = envelopeOf(i, 60 + (i % 7));
    sent.push(encodeEnvelope(e));
    if (i % 10 < 6) {
      conn.writeEnvelope!(e, encodedEnvelopeSize(e));
    } else {
      bodies.push(encodeEnvelope(e));
      if (i % 10 === 9) {
        conn.writeFrames!(framesOf(bodies), bodies.length);
        bodies.length = 0;
      }
    }
  }
  assert.equal(conn.pendingFrames, 60);
  const total = sum(sent.map((b) => 4 + b.length));
  assert.equal(conn.bufferedBytes, total);
  await clock.tick(1);
  // Frames are taken while fewer than 1000 bytes are: the last one goes past the mark.
  let expected = 0;
  for (let bytes = 0; bytes < 1000; expected++) bytes += 4 + sent[expected]!.length;
  assert.deepEqual(c.flushed, [expected]);
  assert.equal(conn.pendingFrames, 60 - expected);
  assert.equal(s.frames.length, 0, 'the reader is paused');
  network.resumeReading(remote);
  // One pass per socket buffer's worth (a few network passes per tick).
  for (let k = 0; k < 50 && s.frames.length < 60; k++) await clock.tick(1);
  assert.equal(s.frames.length, 60);
  for (let i = 0; i < 60; i++) assert.ok(s.frames[i]!.equals(sent[i]!), `frame ${i} intact`);
  assert.equal(sum(c.flushed), 60);
  assert.ok(c.flushed.length > 3, 'several passes');
  assert.equal(conn.pendingFrames, 0);
  assert.equal(conn.bufferedBytes, 0);
  await network.close();
});

test('the peer gets a copy: bytes changed after onFlushed do not change what arrives', async () => {
  const { clock, network, conn, c, s } = await setup({ defaultLink: { latency: 50 } });
  const small = framesOf([Buffer.from('one'), Buffer.from('two')]);
  const large = framesOf([Buffer.alloc(20_000, 1), Buffer.alloc(30_000, 2)]);
  const body = Buffer.alloc(40_000, 3);
  const tiny = Buffer.from('tiny');
  conn.writeFrames!(small, 2);
  conn.writeFrames!(large, 2);
  conn.write(body);
  conn.write(tiny);
  await clock.tick(1);
  assert.deepEqual(c.flushed, [6], 'handed over (onFlushed) long before delivery');
  for (const b of [small, large, body, tiny]) b.fill(0xee); // allowed once flushed
  await clock.tick(60);
  assert.deepEqual(
    s.frames.map((f) => [f.length, f[0], f.at(-1)]),
    [
      [3, 0x6f, 0x65],
      [3, 0x74, 0x6f],
      [20_000, 1, 1],
      [30_000, 2, 2],
      [40_000, 3, 3],
      [4, 0x74, 0x79],
    ],
  );
  // A large run alone in a pass, and a small one alone in the next.
  for (const run of [large, small]) {
    run.fill(9);
    run.writeUInt32BE(run === large ? 20_000 : 3, 0);
    run.writeUInt32BE(run === large ? 30_000 : 3, run === large ? 20_004 : 7);
    conn.writeFrames!(run, 2);
    await clock.tick(1);
    run.fill(0xee);
  }
  await clock.tick(60);
  assert.equal(sum(c.flushed), 10);
  assert.deepEqual(
    s.frames.slice(6).map((f) => [f.length, f[0], f.at(-1)]),
    [
      [20_000, 9, 9],
      [30_000, 9, 9],
      [3, 9, 9],
      [3, 9, 9],
    ],
  );
  await network.close();
});

test('a reset in the middle of a frame written by writeEnvelope: the peer sees whole frames only', async () => {
  const { clock, network, conn, remote, s } = await setup();
  const sent = Array.from({ length: 10 }, (_, i) => envelopeOf(i, 100));
  const frameBytes = 4 + encodedEnvelopeSize(sent[0]!);
  network.reset(conn, { afterBytes: 3 * frameBytes + 40 });
  for (const e of sent) conn.writeEnvelope!(e, encodedEnvelopeSize(e));
  await clock.tick(5);
  assert.equal(s.frames.length, 3, 'the three frames before the cut, not the partial fourth');
  for (let i = 0; i < 3; i++) assert.ok(s.frames[i]!.equals(encodeEnvelope(sent[i]!)), `frame ${i} intact`);
  assert.equal(remote.closeReason?.code, 'ERR_CONNECTION_RESET');
  assert.equal(conn.closeReason?.code, 'ERR_CONNECTION_RESET');
  const e = envelopeOf(99, 5);
  assert.equal(conn.writeEnvelope!(e, encodedEnvelopeSize(e)), false, 'a closed connection takes nothing');
  await network.close();
});

test('a stalled reader fails a writeEnvelope writer with ERR_WRITE_TIMEOUT; unsent frames stay pending', async () => {
  const { clock, network, conn, remote, c } = await setup(
    { socketBufferBytes: 4096 },
    { writeTimeoutMs: 300, highWaterMarkBytes: 16 * 1024 },
  );
  network.pauseReading(remote);
  const e = envelopeOf(1, 1000);
  const size = encodedEnvelopeSize(e);
  let written = 0;
  while (conn.writeEnvelope!(e, size)) written++;
  written++;
  assert.equal(written, Math.ceil((16 * 1024) / (size + 4)));
  await clock.tick(299);
  assert.equal(conn.closeReason, undefined);
  await clock.tick(1);
  assert.equal(reasonOf(conn)?.code, 'ERR_WRITE_TIMEOUT');
  assert.ok(conn.pendingFrames > 0);
  assert.equal(sum(c.flushed) + conn.pendingFrames, written);
  await network.close();
});

test('writeEnvelope with a size that does not match the encoding is rejected and queues nothing', async () => {
  const { clock, network, conn, s } = await setup();
  const e = envelopeOf(1, 100);
  const size = encodedEnvelopeSize(e);
  assert.throws(() => conn.writeEnvelope!(e, size - 1), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => conn.writeEnvelope!(e, size + 1), { code: 'ERR_INVALID_OPTION' });
  assert.equal(conn.pendingFrames, 0);
  assert.equal(conn.bufferedBytes, 0);
  conn.writeEnvelope!(e, size);
  await clock.tick(1);
  assert.equal(s.frames.length, 1);
  assert.ok(s.frames[0]!.equals(encodeEnvelope(e)));
  await network.close();
});

test('a pass of slab runs and large frames is one write for the fault plan', async () => {
  const { clock, network, conn, s } = await setup({ recordEvents: true });
  const e0 = envelopeOf(0, 50);
  const e1 = envelopeOf(1, 70);
  const large = Buffer.alloc(20_000, 5);
  const writeAll = (): number => {
    conn.writeEnvelope!(e0, encodedEnvelopeSize(e0));
    conn.write(large);
    conn.writeEnvelope!(e1, encodedEnvelopeSize(e1));
    return 3 * 4 + encodedEnvelopeSize(e0) + large.length + encodedEnvelopeSize(e1);
  };
  const bytes = writeAll();
  await clock.tick(1);
  const delivered = network.events.filter((ev) => ev.type === 'deliver' && ev.from === conn.localAddress);
  assert.deepEqual(
    delivered.map((ev) => ev.bytes),
    [bytes],
    'one delivery of the whole pass',
  );
  assert.deepEqual(
    s.frames.map((f) => f.length),
    [encodedEnvelopeSize(e0), 20_000, encodedEnvelopeSize(e1)],
  );
  assert.ok(s.frames[1]!.equals(large));
  // A cut inside the large frame (the pass's second chunk): only the frame before it arrives.
  network.reset(conn, { afterBytes: 4 + encodedEnvelopeSize(e0) + 10_000 });
  writeAll();
  await clock.tick(1);
  assert.equal(s.frames.length, 4);
  assert.ok(s.frames[3]!.equals(encodeEnvelope(e0)));
  assert.equal(conn.closeReason?.code, 'ERR_CONNECTION_RESET');
  await network.close();
});

test('a queue that never empties keeps its order over many partial passes', async () => {
  const { clock, network, conn, c, s } = await setup({ socketBufferBytes: 20_000 });
  const sent: Buffer[] = [];
  const bodyOf = (i: number): Buffer => Buffer.alloc(i % 2 ? 17_000 : 100 + i, i & 0xff);
  // Frames of 16 KiB and more are queue entries of their own: 120 entries, ~2 per pass.
  for (let i = 0; i < 120; i++) {
    if (i % 2) {
      sent.push(bodyOf(i));
      conn.write(sent[i]!);
    } else {
      const e = envelopeOf(i, 100 + i);
      sent.push(encodeEnvelope(e));
      conn.writeEnvelope!(e, encodedEnvelopeSize(e));
    }
    if (i % 40 === 39) await clock.tick(1); // more keeps coming while the queue drains
  }
  for (let k = 0; k < 200 && s.frames.length < 120; k++) await clock.tick(1);
  assert.equal(s.frames.length, 120);
  for (let i = 0; i < 120; i++) assert.ok(s.frames[i]!.equals(sent[i]!), `frame ${i} intact`);
  assert.equal(sum(c.flushed), 120);
  assert.ok(c.flushed.length >= 20, `many partial passes (${c.flushed.length})`);
  assert.equal(conn.pendingFrames, 0);
  assert.equal(conn.bufferedBytes, 0);
  await network.close();
});
