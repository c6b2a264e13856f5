import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { resolveLimits } from '../../src/transport/limits.js';
import { StreamConnection } from '../../src/transport/stream-connection.js';
import type { CloseReason, TransportLimits } from '../../src/transport/types.js';
import { FakeClock, settle } from '../../src/util/fake-clock.js';

// A StreamConnection keeps its socket busy (issue 16): while the socket is still writing
// one batch (its write callback not yet called, as when the kernel's buffer is full), the
// next batch is handed to it behind that one (the stream holds it and writes it the moment
// the first completes), up to half the high-water mark in the socket. These tests drive a
// socket whose writes complete only when the test says so; like a net.Socket, it has one
// write open at a time and its stream buffers the rest. The first frame of a tick (or of a
// read) that finds the socket idle goes to it at once; the tick's other frames follow as
// one batch.

/** A socket whose writes are recorded and complete (in order) only on `complete()`. */
class SlowSocket extends Duplex {
  /** Bytes of each write the connection made, in order. */
  readonly writes: number[] = [];
  readonly #callbacks: ((err?: Error | null) => void)[] = [];

  constructor() {
    super({ highWaterMark: 16 * 1024 }); // a net.Socket's default
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.writes.push(chunk.length);
    this.#callbacks.push(callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    this.writes.push(chunks.reduce((n, c) => n + c.chunk.length, 0));
    this.#callbacks.push(callback);
  }

  /** Completes the oldest write still open (the kernel took it). */
  complete(): void {
    const callback = this.#callbacks.shift();
    assert.ok(callback, 'a write is open');
    callback();
  }

  get open(): number {
    return this.#callbacks.length;
  }
}

/** A connection over `socket` (not attached yet). */
function streamConnection(
  socket: SlowSocket,
  limits: TransportLimits,
  clock: FakeClock,
  direction: 'inbound' | 'outbound' = 'outbound',
): StreamConnection {
  return new StreamConnection(socket, {
    kind: 'direct',
    direction,
    remoteAddress: '127.0.0.1:1',
    localAddress: '127.0.0.1:2',
    remoteIdentity: { certHash: 'ab'.repeat(32), shortId: 'abab', ownerKeys: [] },
    limits: resolveLimits(limits),
    clock,
  });
}

function connection(limits: TransportLimits, clock = new FakeClock(0)) {
  const socket = new SlowSocket();
  const conn = streamConnection(socket, limits, clock);
  const seen = { flushed: 0, drains: 0, closes: [] as CloseReason[] };
  conn.attach({
    onFrame: () => {},
    onFlushed: (n) => {
      seen.flushed += n;
    },
    onDrain: () => {
      seen.drains++;
    },
    onClose: (reason) => seen.closes.push(reason),
  });
  return { socket, conn, seen, clock };
}

/** Writes `count` frames of `size` body bytes (4-byte prefix each on the wire). */
function burst(conn: StreamConnection, count: number, size: number): void {
  for (let i = 0; i < count; i++) conn.write(Buffer.alloc(size, i & 0xff));
}

const KIB = 1024;
const FRAME = 10 * KIB; // body; 10,244 bytes with its prefix

test('the next batch goes to the socket while it still writes the one before', async () => {
  const { socket, conn, seen } = connection({ highWaterMarkBytes: 1024 * KIB });
  burst(conn, 10, FRAME); // ~100 KiB: past the socket's own 16 KiB mark
  // The first frame found the socket idle: written at once, the other nine wait for the tick.
  assert.deepEqual(socket.writes, [FRAME + 4]);
  assert.equal(socket.writableLength, FRAME + 4);
  await settle();
  // The tick's batch is not held back until the first write completes: the socket's
  // stream holds it behind the open write.
  assert.equal(socket.writableLength, 10 * (FRAME + 4));
  assert.equal(socket.open, 1);
  burst(conn, 10, FRAME); // the socket is busy: all ten wait for the tick
  assert.equal(socket.writableLength, 10 * (FRAME + 4));
  await settle();
  assert.equal(socket.writableLength, 20 * (FRAME + 4));
  assert.equal(conn.bufferedBytes, 20 * (FRAME + 4));
  assert.equal(seen.flushed, 0, 'nothing written yet');
  assert.equal(conn.pendingFrames, 20);
  socket.complete(); // the stream writes both waiting batches at once, in one writev
  assert.deepEqual(socket.writes, [FRAME + 4, 19 * (FRAME + 4)]);
  assert.equal(seen.flushed, 1);
  socket.complete();
  await settle();
  assert.equal(seen.flushed, 20);
  assert.equal(conn.pendingFrames, 0);
  conn.close();
});

test('past half the high-water mark in the socket, frames wait for the next completed write', async () => {
  const { socket, conn, seen } = connection({ highWaterMarkBytes: 256 * KIB });
  burst(conn, 13, FRAME); // ~130 KiB: the socket holds more than half the mark
  await settle();
  assert.equal(socket.writes.length, 1, 'the first frame is written, the other twelve wait behind it');
  assert.equal(socket.writableLength, 13 * (FRAME + 4));
  const refused = !conn.write(Buffer.alloc(FRAME));
  burst(conn, 5, FRAME);
  await settle();
  assert.equal(
    socket.writableLength,
    13 * (FRAME + 4),
    'held in the batch while the socket holds half the mark',
  );
  assert.equal(conn.bufferedBytes, 19 * (FRAME + 4));
  assert.equal(conn.pendingFrames, 19);
  assert.equal(refused, false, 'the mark itself is not reached yet');
  // The kernel takes the first write: the socket holds less than half the mark now, so
  // the held frames go to it at once, behind the twelve it writes next.
  socket.complete();
  assert.deepEqual(socket.writes, [FRAME + 4, 12 * (FRAME + 4)]);
  assert.equal(seen.flushed, 1);
  assert.equal(socket.writableLength, 18 * (FRAME + 4));
  assert.equal(conn.pendingFrames, 18);
  socket.complete();
  assert.deepEqual(socket.writes, [FRAME + 4, 12 * (FRAME + 4), 6 * (FRAME + 4)]);
  assert.equal(seen.flushed, 13);
  assert.equal(conn.pendingFrames, 6);
  socket.complete();
  await settle();
  assert.equal(seen.flushed, 19);
  assert.equal(conn.pendingFrames, 0);
  conn.close();
});

test('the high-water mark still bounds batch plus socket, and onDrain comes below it', async () => {
  const { socket, conn, seen } = connection({ highWaterMarkBytes: 64 * KIB });
  let accepted = 0;
  while (conn.write(Buffer.alloc(FRAME))) accepted++;
  // 7 frames reach 64 KiB (batch + socket): the 7th write says false.
  assert.equal(accepted, 6);
  assert.ok(conn.bufferedBytes >= 64 * KIB);
  assert.equal(socket.writableLength, FRAME + 4, 'the first frame went at once');
  assert.equal(seen.drains, 0);
  await settle();
  assert.equal(socket.writes.length, 1);
  assert.equal(seen.drains, 0, 'batch plus socket still at the mark');
  socket.complete(); // six frames left: below the mark
  await settle();
  assert.equal(seen.drains, 1, 'onDrain once below the mark');
  assert.equal(seen.flushed, 1);
  socket.complete();
  await settle();
  assert.equal(seen.drains, 1);
  assert.equal(seen.flushed, 7);
  conn.close();
});

test('a write completing while others are open restarts the write timeout', async () => {
  const clock = new FakeClock(0);
  const { socket, conn, seen } = connection({ highWaterMarkBytes: 1024 * KIB, writeTimeoutMs: 500 }, clock);
  burst(conn, 10, FRAME);
  await settle();
  burst(conn, 10, FRAME);
  await settle();
  assert.equal(socket.open, 1);
  assert.equal(socket.writableLength, 20 * (FRAME + 4));
  await clock.tick(400);
  socket.complete(); // progress: the first batch reached the kernel
  await settle();
  await clock.tick(400);
  assert.equal(conn.closeReason, undefined, '800 ms backed up, but not 500 ms without progress');
  assert.equal(seen.closes.length, 0);
  await clock.tick(100);
  await settle();
  assert.equal(seen.closes[0]?.code, 'ERR_WRITE_TIMEOUT');
  assert.equal(seen.flushed, 1, 'the batch still open was not written');
});

/** A frame on the wire: u32 big-endian length, then the body. */
function wireFrame(body: string): Buffer {
  const bytes = Buffer.from(body);
  const out = Buffer.alloc(4 + bytes.length);
  out.writeUInt32BE(bytes.length, 0);
  bytes.copy(out, 4);
  return out;
}

test('frames written back while a read is handled: the first at once, the rest when that read is done, in one write', async () => {
  const socket = new SlowSocket();
  const conn = streamConnection(socket, {}, new FakeClock(0), 'inbound');
  const seen: string[] = [];
  const writesInHandler: number[] = [];
  let flushed = 0;
  conn.attach({
    onFrame: (frame) => {
      seen.push(frame.toString());
      conn.write(Buffer.from(`re:${frame.toString()}`));
      writesInHandler.push(socket.writableLength);
    },
    onFlushed: (n) => {
      flushed += n;
    },
  });
  let tickRan = false;
  process.nextTick(() => {
    tickRan = true;
  });
  // One read holding three requests: the first reply finds the socket idle and leaves at
  // once, from inside the handler; the two others wait for the end of the read and leave
  // in one write, before any tick.
  socket.emit('data', Buffer.concat([wireFrame('a'), wireFrame('bb'), wireFrame('c')]));
  assert.equal(tickRan, false);
  assert.deepEqual(seen, ['a', 'bb', 'c']);
  assert.deepEqual(
    writesInHandler,
    [4 + 4, 4 + 4, 4 + 4],
    'only the first reply was in the socket during the read',
  );
  assert.equal(socket.writableLength, 4 + 4 + (4 + 5) + (4 + 4));
  assert.deepEqual(socket.writes, [4 + 4]);
  socket.complete();
  assert.deepEqual(socket.writes, [4 + 4, 4 + 5 + (4 + 4)]);
  socket.complete();
  assert.equal(flushed, 3);

  // A read whose replies find the socket busy: all of them at the end of the read.
  conn.write(Buffer.from('z')); // outside a read, idle socket: at once
  assert.deepEqual(socket.writes, [8, 17, 4 + 1]);
  await settle(); // (its tick's flush finds nothing more)
  writesInHandler.length = 0;
  socket.emit('data', Buffer.concat([wireFrame('d'), wireFrame('e')]));
  assert.deepEqual(writesInHandler, [5, 5], 'nothing more in the socket during the read');
  assert.equal(socket.writableLength, 5 + 8 + 8);
  socket.complete();
  assert.deepEqual(socket.writes, [8, 17, 5, 8 + 8]);
  socket.complete();
  assert.equal(flushed, 6);

  // Outside a read: the first write of a tick to an idle socket goes at once, the others
  // of that tick wait for the tick, together.
  conn.write(Buffer.from('x'));
  conn.write(Buffer.from('yy'));
  conn.write(Buffer.from('w'));
  assert.deepEqual(socket.writes, [8, 17, 5, 16, 4 + 1]);
  await settle();
  assert.equal(socket.writableLength, 5 + (4 + 2) + (4 + 1));
  socket.complete();
  assert.deepEqual(socket.writes, [8, 17, 5, 16, 5, 4 + 2 + 4 + 1]);
  socket.complete();
  await settle();
  assert.equal(flushed, 9);
  conn.close();
});
