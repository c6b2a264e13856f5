import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Outbox } from '../../src/hub/outbox.js';
import type { Connection } from '../../src/transport/types.js';
import {
  decodeEnvelope,
  type Envelope,
  encodedEnvelopeSize,
  encodeEnvelope,
} from '../../src/wire/envelope.js';
import { FRAME_PREFIX_BYTES } from '../../src/wire/framing.js';

/** A whole frame (length prefix + a one-byte body `i`), as the hub hands them to an outbox. */
const frame = (i: number) => Uint8Array.of(0, 0, 0, 1, i);

/** A connection double whose write() accepts frame bodies until `room` runs out. */
function fakeConnection() {
  const written: number[] = [];
  const conn = {
    room: Number.POSITIVE_INFINITY,
    write(body: Uint8Array): boolean {
      written.push(body[0] as number);
      conn.room--;
      return conn.room > 0;
    },
  };
  return { conn, written, connection: conn as unknown as Connection };
}

test('outbox: writes through until the high-water mark, then queues in order up to capacity', () => {
  const { conn, written, connection } = fakeConnection();
  const depth = { value: 0 };
  const box = new Outbox(connection, 40, depth);
  conn.room = 3;
  for (let i = 0; i < 3; i++) assert.equal(box.push(frame(i)), true);
  assert.deepEqual(written, [0, 1, 2]);
  // Blocked: the next 40 wait (the ring grows 16 -> 32 -> 40), the rest are dropped.
  for (let i = 3; i < 50; i++) assert.equal(box.push(frame(i)), i < 43);
  assert.equal(box.depth, 40);
  assert.equal(depth.value, 40);
  assert.equal(box.drops, 7);
  assert.equal(box.consecutiveDrops, 7);

  // Drain until the transport pushes back again after 10 frames.
  conn.room = 10;
  box.drain();
  assert.deepEqual(written.slice(3), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(box.depth, 30);
  assert.equal(box.push(frame(100)), true);
  assert.equal(box.consecutiveDrops, 0);

  conn.room = Number.POSITIVE_INFINITY;
  box.drain();
  assert.deepEqual(written.slice(13), [...Array.from({ length: 30 }, (_, i) => 13 + i), 100]);
  assert.equal(box.depth, 0);
  assert.equal(depth.value, 0);
  assert.equal(box.push(frame(101)), true);
  assert.equal(written.at(-1), 101);
});

test('outbox: clear() forgets queued frames and fixes the shared depth', () => {
  const { conn, connection } = fakeConnection();
  const depth = { value: 5 };
  const box = new Outbox(connection, 8, depth);
  conn.room = 1;
  box.push(frame(0));
  for (let i = 1; i <= 4; i++) box.push(frame(i));
  assert.equal(depth.value, 9);
  assert.equal(box.clear(), 4);
  assert.equal(box.clear(), 0);
  assert.equal(depth.value, 5);
  assert.equal(box.depth, 0);
});

test('outbox: queues again after clear(), each outbox in its own ring', () => {
  const a = fakeConnection();
  const b = fakeConnection();
  const depth = { value: 0 };
  const boxA = new Outbox(a.connection, 4, depth);
  const boxB = new Outbox(b.connection, 4, depth);
  a.conn.room = 1;
  b.conn.room = 1;
  boxA.push(frame(0));
  boxB.push(frame(50));
  for (let i = 1; i <= 3; i++) boxA.push(frame(i));
  boxB.push(frame(51));
  assert.equal(boxA.clear(), 3);
  boxA.push(frame(9));
  assert.deepEqual([boxA.depth, boxB.depth, depth.value], [1, 1, 2]);
  a.conn.room = Number.POSITIVE_INFINITY;
  b.conn.room = Number.POSITIVE_INFINITY;
  boxA.drain();
  boxB.drain();
  assert.deepEqual(a.written, [0, 9]);
  assert.deepEqual(b.written, [50, 51]);
  assert.equal(depth.value, 0);
});

test('outbox: a transport with writeFrames gets each whole frame by reference', () => {
  const got: [Uint8Array, number][] = [];
  const connection = {
    write: () => assert.fail('write() must not be used when writeFrames exists'),
    writeFrames: (frames: Uint8Array, count: number) => {
      got.push([frames, count]);
      return true;
    },
  } as unknown as Connection;
  const box = new Outbox(connection, 4, { value: 0 });
  const shared = frame(7);
  assert.equal(box.push(shared), true);
  assert.equal(box.push(shared), true);
  assert.equal(got.length, 2);
  assert.ok(
    got.every(([f, n]) => f === shared && n === 1),
    'the same bytes, not a copy, one frame each',
  );
});

test('outbox: a frame given with the buffer it lies in goes to writeEncoded as that region; a waiting one to writeFrames', () => {
  const got: string[] = [];
  let room = 2;
  const connection = {
    write: () => assert.fail('write() must not be used'),
    writeEncoded: (frames: Buffer, start: number, end: number, count: number) => {
      assert.equal(count, 1);
      got.push(`region ${start}-${end} of ${frames.length}: ${frames[end - 1]}`);
      return --room > 0;
    },
    writeFrames: (frames: Uint8Array, count: number) => {
      assert.equal(count, 1);
      got.push(`frame ${frames[frames.length - 1]}`);
      return true;
    },
  } as unknown as Connection;
  const box = new Outbox(connection, 4, { value: 0 });
  // Two frames side by side in one slab, as the hub encodes broadcasts.
  const slab = Buffer.concat([
    Buffer.alloc(3),
    Buffer.from(frame(1)),
    Buffer.from(frame(2)),
    Buffer.from(frame(3)),
  ]);
  const view = (i: number) => slab.subarray(3 + 5 * i, 8 + 5 * i);
  assert.equal(box.push(view(0), undefined, slab, 3), true);
  assert.equal(box.push(view(1), undefined, slab, 8), true); // at the high-water mark
  assert.equal(box.push(view(2), undefined, slab, 13), true); // waits in the ring
  assert.deepEqual(got, ['region 3-8 of 18: 1', 'region 8-13 of 18: 2']);
  room = 10;
  box.drain();
  assert.deepEqual(got.at(-1), 'frame 3');
  // Without writeEncoded the frame itself is handed over.
  const plain: Uint8Array[] = [];
  const other = new Outbox(
    { writeFrames: (f: Uint8Array) => plain.push(f) > 0 } as unknown as Connection,
    4,
    { value: 0 },
  );
  assert.equal(other.push(view(1), undefined, slab, 8), true);
  assert.deepEqual([...(plain[0] as Uint8Array)], [...frame(2)]);
});

test('outbox: a reply goes to writeEnvelope unencoded while the transport accepts, and is encoded only to wait', () => {
  const env = (i: number): Envelope => ({
    deliveryStartTimestampMs: 1n,
    id: `r-${i}`,
    label: 'Pong',
    compressed: false,
    data: Uint8Array.of(i),
    lastSenderIsProxy: false,
  });
  const sent: string[] = [];
  let room = 2;
  const connection = {
    write: () => assert.fail('write() must not be used'),
    writeEnvelope: (e: Envelope, size: number) => {
      assert.equal(size, encodedEnvelopeSize(e));
      sent.push(e.id);
      return --room > 0;
    },
    writeFrames: (frames: Uint8Array, count: number) => {
      assert.equal(count, 1);
      const d = decodeEnvelope(frames.subarray(FRAME_PREFIX_BYTES)).envelope;
      sent.push(`framed ${d.id}`);
      return true;
    },
  } as unknown as Connection;
  const depth = { value: 0 };
  const box = new Outbox(connection, 1, depth);
  assert.equal(box.pushEnvelope(env(0), encodedEnvelopeSize(env(0))), true);
  assert.equal(box.pushEnvelope(env(1), encodedEnvelopeSize(env(1))), true); // at the high-water mark
  assert.equal(box.pushEnvelope(env(2), encodedEnvelopeSize(env(2))), true); // waits, encoded
  assert.equal(box.pushEnvelope(env(3), encodedEnvelopeSize(env(3))), false); // ring full
  assert.equal(box.drops, 1);
  assert.equal(depth.value, 1);
  room = 10;
  box.drain();
  assert.deepEqual(sent, ['r-0', 'r-1', 'framed r-2']);
  assert.equal(depth.value, 0);
  assert.equal(box.pushEnvelope(env(4), encodedEnvelopeSize(env(4))), true);
  assert.deepEqual(sent.at(-1), 'r-4');
});

test('outbox: a transport without writeEnvelope gets a reply as one encoded frame', () => {
  const bodies: Uint8Array[] = [];
  const connection = {
    write: (body: Uint8Array) => {
      bodies.push(body);
      return true;
    },
  } as unknown as Connection;
  const box = new Outbox(connection, 4, { value: 0 });
  const e: Envelope = {
    deliveryStartTimestampMs: 5n,
    id: 'x-1',
    label: 'Pong',
    compressed: false,
    data: Uint8Array.of(1, 2, 3),
    lastSenderIsProxy: false,
  };
  assert.equal(box.pushEnvelope(e, encodedEnvelopeSize(e)), true);
  assert.equal(bodies.length, 1);
  assert.deepEqual(Buffer.from(bodies[0]!), encodeEnvelope(e));
});

test('outbox: tickets of frames that waited and were handed over settle once each, in order, as their frames are flushed; the rest end with the connection', () => {
  const { conn, connection } = fakeConnection();
  (conn as unknown as { remoteAddress: string }).remoteAddress = 'sub:1';
  const box = new Outbox(connection, 1000, { value: 0 });
  const settled: string[] = [];
  const ticket = (i: number) => ({
    taken: () => {},
    settle: (result: string, address: string) => settled.push(`${i}:${result}@${address}`),
    refused: () => settled.push(`${i}:refused`),
  });
  conn.room = 5;
  // 5 written through, 295 queue (the waiting rings grow well past their first 16 slots).
  for (let i = 0; i < 300; i++) assert.equal(box.push(frame(i & 0xff), ticket(i)), true);
  assert.equal(box.depth, 295);
  conn.room = 101;
  box.drain(); // 100 more handed over: 105 wait for their flush
  box.flushed(3);
  assert.deepEqual(settled, ['0:written@sub:1', '1:written@sub:1', '2:written@sub:1']);
  box.flushed(97);
  assert.equal(settled.length, 100);
  assert.ok(settled.every((s, i) => s === `${i}:written@sub:1`));
  conn.room = Number.POSITIVE_INFINITY;
  box.drain(); // the other 195 handed over
  box.flushed(50);
  assert.equal(settled.length, 150);
  // The connection closes: the 150 handed over but not flushed are lost, nothing twice.
  box.closed();
  assert.equal(settled.length, 300);
  assert.ok(settled.slice(150).every((s, k) => s === `${150 + k}:connection_lost@sub:1`));
  assert.equal(new Set(settled.map((s) => s.split(':')[0])).size, 300);
});
