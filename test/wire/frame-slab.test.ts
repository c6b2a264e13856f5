// FrameSlab and SlabPool (src/wire/frame-slab.ts): frames are appended, never written over
// while the slab is in use; a slab given to the pool (bounded) is the next one any owner of
// that pool starts.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { FrameSlab, SlabPool } from '../../src/wire/frame-slab.js';

test('frames are appended in one slab until it is full, then a new one is started', () => {
  const slab = new FrameSlab();
  const first = slab.reserve(100);
  assert.equal(slab.offset, 0);
  assert.equal(slab.fromSlab, true);
  assert.equal(slab.reserve(50), first);
  assert.equal(slab.offset, 100);
  // Not enough room left: a new buffer, from its start.
  const next = slab.reserve(first.length - 160);
  assert.notEqual(next, first);
  assert.equal(slab.offset, 0);
  // A large frame gets a buffer of its own, and the slab goes on where it was.
  const own = slab.reserve(20_000);
  assert.equal(own.length, 20_000);
  assert.equal(slab.fromSlab, false);
  assert.equal(slab.offset, 0);
});

test('a slab given to the pool is the next one an owner of the pool starts, from its beginning', () => {
  const pool = new SlabPool(2);
  const a = new FrameSlab(pool);
  const bufA = a.reserve(10);
  a.release();
  pool.give(bufA);
  assert.equal(pool.size, 1);
  const b = new FrameSlab(pool);
  assert.equal(b.reserve(30), bufA);
  assert.equal(b.offset, 0);
  assert.equal(pool.size, 0);
  // The first owner, busy again, gets a fresh buffer: nothing is shared.
  assert.notEqual(a.reserve(10), bufA);
});

test('the pool keeps at most its maximum, and only whole slabs', () => {
  const pool = new SlabPool(2);
  const bufs = Array.from({ length: 4 }, () => new FrameSlab(pool).reserve(8));
  assert.equal(new Set(bufs).size, 4);
  for (const b of bufs) pool.give(b);
  assert.equal(pool.size, 2);
  pool.give(Buffer.alloc(100)); // not a slab: ignored
  assert.equal(pool.size, 2);
  assert.ok(bufs.includes(new FrameSlab(pool).reserve(8)));
});
