// The peer sender's queue (src/sender/peer-queue.ts): plain messages wait as numbers in a
// shared run, records as themselves; whatever goes in comes out in order, as an equal
// record, with every frame byte counted in and out of the budget.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import type { OutgoingMessage } from '../../src/sender/message.js';
import { isPlain, MessageRing, MessageRun, PeerQueue, SlabUse } from '../../src/sender/peer-queue.js';
import { ByteBudget } from '../../src/util/byte-budget.js';
import { seededRandom } from '../../src/util/random.js';

const ONE: readonly string[] = Object.freeze(['b:1']);
const TWO: readonly string[] = Object.freeze(['b:1', 'b:2']);

function message(
  seq: number,
  frames: Buffer,
  frameAt: number,
  over: Partial<OutgoingMessage> = {},
): OutgoingMessage {
  return {
    seq,
    id: undefined,
    label: 'L0',
    envelope: undefined,
    frames,
    frameAt,
    size: 10 + (seq % 7),
    receiver: 'b',
    peerId: 'b',
    metricLabel: 'other',
    enqueuedAtMs: seq * 3,
    addresses: ONE,
    sent: false,
    unresolvedAtMs: 0,
    expiresAtMs: 0,
    signal: undefined,
    ...over,
  };
}

test('MessageRing keeps order and numbers across growth and wrap-around', () => {
  const ring = new MessageRing<{ n: number }>();
  const random = seededRandom(7);
  const model: { n: number }[] = [];
  let next = 0;
  for (let step = 0; step < 5000; step++) {
    if (random() < 0.55) {
      const ref = { n: next++ };
      ring.push(ref, ref.n, ref.n * 2, ref.n * 3, 2 ** 40 + ref.n);
      model.push(ref);
    } else {
      const want = model.shift();
      if (want !== undefined) {
        assert.equal(ring.seq(0), want.n);
        assert.equal(ring.frameAt(0), want.n * 2);
        assert.equal(ring.size(0), want.n * 3);
        assert.equal(ring.enqueuedAtMs(0), 2 ** 40 + want.n);
      }
      assert.equal(ring.shift(), want);
    }
    assert.equal(ring.length, model.length);
    if (model.length > 0) assert.equal(ring.ref(model.length - 1), model.at(-1));
    assert.equal(ring.ref(model.length), undefined);
  }
});

test('PeerQueue: plain messages share runs and come out as records equal to what went in; others stay themselves', () => {
  const node = new ByteBudget(Number.POSITIVE_INFINITY, undefined);
  const queue = new PeerQueue(node);
  const slabA = Buffer.alloc(1024);
  const slabB = Buffer.alloc(1024);
  const ctrl = new AbortController();
  const useA = new SlabUse(slabA);
  const useB = new SlabUse(slabB);
  const msgs = [
    message(1, slabA, 0),
    message(2, slabA, 14),
    message(3, slabA, 30, { label: 'L1' }), // another label: another run
    message(4, slabA, 48, { id: 'wanted' }), // its id was wanted: a record
    message(5, slabA, 70, { signal: ctrl.signal }), // limits: a record
    message(6, slabB, 0, { addresses: TWO }), // two targets: a record
    message(7, slabB, 30),
  ];
  let bytes = 0;
  for (const m of msgs) {
    if (isPlain(m)) queue.pushPlain(m, m.frames as Buffer, m.frameAt, m.frames === slabA ? useA : useB);
    else queue.push(m);
    bytes += 4 + m.size;
  }
  assert.equal(queue.length, msgs.length);
  assert.equal(queue.bytes, bytes);
  assert.equal(node.bytes, bytes);
  assert.ok(queue.ref(0) instanceof MessageRun);
  assert.equal(queue.ref(0), queue.ref(1), 'consecutive plain messages of one label and slab share a run');
  assert.notEqual(queue.ref(1), queue.ref(2));
  assert.equal(queue.ref(3), msgs[3]);
  assert.equal(queue.ref(4), msgs[4]);
  assert.equal(queue.ref(5), msgs[5]);
  assert.equal(queue.framesOf(6), slabB);
  assert.equal(queue.frameAt(6), 30);

  useA.pending = 3;
  useB.pending = 1;
  const out = queue.drain();
  // Taken out as records, their frames may go anywhere: their buffers are never reused.
  assert.deepEqual([useA.pending, useA.shared, useB.pending, useB.shared], [0, true, 0, true]);
  assert.equal(queue.length, 0);
  assert.equal(queue.bytes, 0);
  assert.equal(node.bytes, 0);
  assert.equal(out.length, msgs.length);
  for (let i = 0; i < msgs.length; i++) {
    const want = msgs[i] as OutgoingMessage;
    const got = out[i] as OutgoingMessage;
    if (!isPlain(want)) assert.equal(got, want, 'a record comes out as itself');
    else {
      assert.notEqual(got, want);
      assert.deepEqual(got, want);
      // The same hidden class as the records send() makes: same fields, same order.
      assert.deepEqual(Object.keys(got), Object.keys(want));
    }
  }
});

test('PeerQueue.take gives the budget back without making a record', () => {
  const queue = new PeerQueue(undefined);
  const slab = Buffer.alloc(64);
  const m = message(1, slab, 0);
  const use = new SlabUse(slab);
  queue.pushPlain(m, slab, 0, use);
  const ref = queue.take();
  assert.ok(ref instanceof MessageRun);
  assert.equal(ref.frames, slab);
  assert.equal(ref.use, use);
  assert.equal(use.shared, false, 'take() makes no record: the buffer stays reusable');
  assert.equal(queue.bytes, 0);
  assert.equal(queue.take(), undefined);
  assert.equal(queue.shift(), undefined);
});

test('PeerQueue.region: frames next to each other in one buffer, up to a record with limits after the first', () => {
  const queue = new PeerQueue(undefined);
  const slab = Buffer.alloc(1024);
  const other = Buffer.alloc(1024);
  const use = new SlabUse(slab);
  const ctrl = new AbortController();
  const at = (k: number) => k * 14; // frames of 4 + 10 bytes back to back
  const plain = (seq: number, k: number) => message(seq, slab, at(k), { size: 10 });
  for (const [seq, k] of [
    [1, 0],
    [2, 1],
  ] as const)
    queue.pushPlain(plain(seq, k), slab, at(k), use);
  queue.push(message(3, slab, at(2), { size: 10, id: 'wanted' })); // a record without limits: in the region
  queue.push(message(4, slab, at(3), { size: 10, signal: ctrl.signal })); // limits: the region stops before it
  queue.pushPlain(plain(5, 4), slab, at(4), use);
  queue.pushPlain(message(6, other, at(5), { size: 10 }), other, at(5), use); // another buffer
  assert.equal(queue.region(), 3);
  assert.equal(queue.regionBytes, 42);
  queue.release(3, 42);
  assert.equal(queue.length, 3);
  assert.equal(queue.bytes, 42);
  // A record with limits at the front starts a region (the sender looked at it first).
  assert.equal(queue.region(), 2);
  assert.equal(queue.regionBytes, 28);
  assert.equal(queue.framesOf(0), slab);
  assert.equal(queue.frameAt(0), at(3));
});
