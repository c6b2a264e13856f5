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

/** Reply `i`, as the hub hands replies to an outbox. */
const replyEnv = (i: number): Envelope => ({
  deliveryStartTimestampMs: 1n,
  id: `r-${i}`,
  label: 'Pong',
  compressed: false,
  data: Uint8Array.of(i),
  lastSenderIsProxy: false,
});

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

test('outbox: a frame given with the buffer it lies in goes to writeEncoded as that region, after waiting too; one given alone to writeFrames', () => {
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
  assert.equal(box.push(frame(4)), true); // waits too, with no buffer around it
  assert.deepEqual(got, ['region 3-8 of 18: 1', 'region 8-13 of 18: 2']);
  room = 10;
  box.drain();
  // The waiting frames go over as they came: the one in the slab as its region.
  assert.deepEqual(got.slice(2), ['region 13-18 of 18: 3', 'frame 4']);
  assert.equal(box.depth, 0);
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
  assert.equal(box.pushEnvelope(replyEnv(0), encodedEnvelopeSize(replyEnv(0))), true);
  assert.equal(box.pushEnvelope(replyEnv(1), encodedEnvelopeSize(replyEnv(1))), true); // at the high-water mark
  assert.equal(box.pushEnvelope(replyEnv(2), encodedEnvelopeSize(replyEnv(2))), true); // waits, encoded
  assert.equal(box.pushEnvelope(replyEnv(3), encodedEnvelopeSize(replyEnv(3))), false); // ring full
  assert.equal(box.drops, 1);
  assert.equal(depth.value, 1);
  room = 10;
  box.drain();
  assert.deepEqual(sent, ['r-0', 'r-1', 'framed r-2']);
  assert.equal(depth.value, 0);
  assert.equal(box.pushEnvelope(replyEnv(4), encodedEnvelopeSize(replyEnv(4))), true);
  assert.deepEqual(sent.at(-1), 'r-4');
});

test('outbox: a plain reply goes to writePlain only while the transport accepts; its ticket is taken once and settled with its frame, in order with the others', () => {
  const sent: string[] = [];
  let room = 3;
  const connection = {
    remoteAddress: 'peer:1',
    write: () => assert.fail('write() must not be used'),
    writeEnvelope: (e: Envelope) => {
      sent.push(e.id);
      return --room > 0;
    },
    writePlain: (_size: number, _ts: number, id: string) => {
      sent.push(`plain ${id}`);
      return --room > 0;
    },
    writeFrames: (frames: Uint8Array) => {
      sent.push(`framed ${decodeEnvelope(frames.subarray(FRAME_PREFIX_BYTES)).envelope.id}`);
      return true;
    },
  } as unknown as Connection;
  const events: string[] = [];
  const ticket = (i: number) => ({
    taken: (address: string) => events.push(`${i} taken@${address}`),
    settle: (result: string, address: string) => events.push(`${i} ${result}@${address}`),
    refused: () => events.push(`${i} refused`),
  });
  const box = new Outbox(connection, 10, { value: 0 });
  const plain = (i: number) => box.pushPlain(11, 1, `r-${i}`, 'Pong', Uint8Array.of(i), ticket(i));
  assert.equal(plain(0), true);
  assert.equal(box.pushEnvelope(replyEnv(1), encodedEnvelopeSize(replyEnv(1)), ticket(1)), true);
  assert.equal(plain(2), true); // at the high-water mark
  // Blocked: the lane refuses without telling the ticket; the general path queues.
  assert.equal(plain(3), false);
  assert.equal(box.pushEnvelope(replyEnv(3), encodedEnvelopeSize(replyEnv(3)), ticket(3)), true);
  assert.deepEqual(sent, ['plain r-0', 'r-1', 'plain r-2']);
  assert.deepEqual(events, ['0 taken@peer:1', '1 taken@peer:1', '2 taken@peer:1', '3 taken@peer:1']);
  room = 10;
  box.drain();
  assert.equal(plain(4), true);
  assert.deepEqual(sent, ['plain r-0', 'r-1', 'plain r-2', 'framed r-3', 'plain r-4']);
  events.length = 0;
  box.flushed(2);
  assert.deepEqual(events, ['0 written@peer:1', '1 written@peer:1']);
  box.closed();
  assert.deepEqual(events.slice(2), [
    '2 connection_lost@peer:1',
    '3 connection_lost@peer:1',
    '4 connection_lost@peer:1',
  ]);
  // A transport without writePlain: the lane is refused, nothing done.
  const bare = new Outbox({ write: () => true } as unknown as Connection, 10, { value: 0 });
  assert.equal(bare.pushPlain(11, 1, 'r-9', 'Pong', Uint8Array.of(9), ticket(9)), false);
  assert.ok(bare.idle);
  assert.equal(events.length, 5);
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

test('outbox: waiting frames that lie next to each other in one slab go over as regions, as far as the transport has room, their tickets settled in order', () => {
  // 3,000 frames of 100 bytes side by side in one slab (the hub's consecutive broadcasts),
  // with a gap after frame 1,499 (another connection's frame in between).
  const size = 100;
  const slab = Buffer.alloc(3_001 * size);
  const startOf = (i: number) => (i < 1_500 ? i : i + 1) * size;
  for (let i = 0; i < 3_000; i++) {
    slab.writeUInt32BE(size - FRAME_PREFIX_BYTES, startOf(i));
    slab.writeUInt16BE(i, startOf(i) + FRAME_PREFIX_BYTES);
  }
  const regions: { start: number; end: number; count: number }[] = [];
  let room = 1; // bytes the transport takes before it says it is full
  const connection = {
    remoteAddress: 'sub:1',
    get room() {
      return room;
    },
    write: () => assert.fail('write() must not be used'),
    writeFrames: () => assert.fail('writeFrames() must not be used'),
    writeEncoded: (frames: Buffer, start: number, end: number, count: number) => {
      assert.equal(frames, slab);
      regions.push({ start, end, count });
      room -= end - start;
      return room > 0;
    },
  } as unknown as Connection;
  const depth = { value: 0 };
  const box = new Outbox(connection, 5_000, depth);
  const settled: number[] = [];
  const ticket = (i: number) => ({
    taken: () => {},
    settle: (result: string) => {
      assert.equal(result, 'written');
      settled.push(i);
    },
    refused: () => assert.fail('nothing is refused'),
  });
  for (let i = 0; i < 3_000; i++) {
    const at = startOf(i);
    assert.equal(box.push(slab.subarray(at, at + size), ticket(i), slab, at), true);
  }
  assert.deepEqual(regions, [{ start: 0, end: size, count: 1 }]); // then the transport was full
  assert.equal(box.depth, 2_999);
  assert.equal(box.bytes, 2_999 * size);
  room = 100_000;
  box.drain();
  // 64 KiB (and the frame that reaches it), then the 34,400 bytes left of the room: as
  // frames one by one, the last one filling the transport.
  assert.deepEqual(regions.slice(1), [
    { start: size, end: size + 65_600, count: 656 },
    { start: size + 65_600, end: size + 100_000, count: 344 },
  ]);
  assert.equal(box.depth, 1_999);
  assert.equal(box.bytes, 1_999 * size);
  room = Number.POSITIVE_INFINITY;
  box.drain();
  // The rest: up to the gap after frame 1,499, then from frame 1,500 on in regions of 64 KiB.
  assert.deepEqual(
    regions.slice(3).map((r) => [(r.end - r.start) / size, r.count]),
    [
      [499, 499],
      [656, 656],
      [656, 656],
      [188, 188],
    ],
  );
  assert.equal(regions[3]?.start, 1_001 * size);
  assert.equal(regions[4]?.start, 1_501 * size);
  assert.equal(box.depth, 0);
  assert.equal(depth.value, 0);
  assert.equal(box.bytes, 0);
  // Flushed frames settle their tickets once each, in the order the frames were sent.
  box.flushed(10);
  assert.deepEqual(
    settled,
    Array.from({ length: 10 }, (_, i) => i),
  );
  box.flushed(2_990);
  assert.deepEqual(
    settled,
    Array.from({ length: 3_000 }, (_, i) => i),
  );
  // A transport that does not tell its room gets the waiting frames one by one.
  const one: number[] = [];
  let full = true;
  const plain = new Outbox(
    {
      remoteAddress: 'sub:2',
      writeEncoded: (_f: Buffer, _s: number, _e: number, count: number) => one.push(count) > 0 && !full,
    } as unknown as Connection,
    10,
    { value: 0 },
  );
  for (let i = 0; i < 5; i++)
    plain.push(slab.subarray(startOf(i), startOf(i) + size), undefined, slab, startOf(i));
  full = false;
  plain.drain();
  assert.deepEqual(one, [1, 1, 1, 1, 1]);
});
