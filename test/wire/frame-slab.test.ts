// FrameSlab and SlabPool (src/wire/frame-slab.ts): frames are appended, never written over
// while the slab is in use; a slab given to the pool (bounded) is the next one any owner of
// that pool starts.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { FakeClock } from '../../src/util/fake-clock.js';
import { FrameSlab, MAX_POOLED_FRAME_BYTES, SlabPool } from '../../src/wire/frame-slab.js';

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
  const pool = new SlabPool(2 * 64 * 1024);
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

test('the pool keeps at most its maximum of bytes, and only whole slabs and buffers of its sizes', () => {
  const pool = new SlabPool(2 * 64 * 1024);
  const bufs = Array.from({ length: 4 }, () => new FrameSlab(pool).reserve(8));
  assert.equal(new Set(bufs).size, 4);
  for (const b of bufs) pool.give(b);
  assert.equal(pool.size, 2);
  assert.equal(pool.bytes, 2 * 64 * 1024);
  pool.give(Buffer.alloc(100)); // not a slab: ignored
  pool.give(Buffer.alloc(20_000)); // not a size the pool hands out: ignored
  assert.equal(pool.size, 2);
  assert.ok(bufs.includes(new FrameSlab(pool).reserve(8)));
});

test('lowering the maximum lets go of kept buffers beyond it, the largest first; raising it keeps more', () => {
  const pool = new SlabPool(1024 * 1024);
  const slabs = Array.from({ length: 4 }, () => new FrameSlab(pool).reserve(8));
  const big = new FrameSlab(pool).reserve(100_000); // 112 KiB
  for (const b of [...slabs, big]) pool.give(b);
  assert.equal(pool.bytes, 4 * 64 * 1024 + 112 * 1024);
  pool.maxBytes = 3 * 64 * 1024;
  assert.equal(pool.maxBytes, 3 * 64 * 1024);
  assert.equal(pool.bytes, 3 * 64 * 1024, 'the 112 KiB buffer and one slab went');
  assert.equal(pool.size, 3);
  assert.notEqual(new FrameSlab(pool).reserve(100_000), big);
  pool.give(slabs[3] as Buffer);
  assert.equal(pool.size, 3, 'full: not kept');
  pool.maxBytes = 4 * 64 * 1024;
  pool.give(slabs[3] as Buffer);
  assert.equal(pool.size, 4);
  assert.equal(pool.bytes, 4 * 64 * 1024);
});

test('a large frame gets a pooled buffer of its own, in sizes of 16 KiB steps, given back and taken again', () => {
  const pool = new SlabPool(1024 * 1024);
  const slab = new FrameSlab(pool);
  const small = slab.reserve(100);
  assert.equal(slab.pooled, false);
  const big = slab.reserve(70_000);
  assert.equal(slab.pooled, true);
  assert.equal(slab.fromSlab, false);
  assert.equal(slab.offset, 0);
  assert.equal(big.length, 80 * 1024, '70,000 bytes round up to 80 KiB');
  // The slab goes on where it was.
  assert.equal(slab.reserve(100), small);
  assert.equal(slab.offset, 100);
  pool.give(big);
  assert.equal(pool.bytes, 80 * 1024);
  // The same size class takes it again; another class does not.
  assert.notEqual(slab.reserve(90_000), big);
  assert.equal(slab.reserve(66_000), big);
  assert.equal(pool.bytes, 0);
  // Past the pooled maximum: a buffer from the GC, not to be given back.
  const huge = slab.reserve(MAX_POOLED_FRAME_BYTES + 1);
  assert.equal(slab.pooled, false);
  assert.equal(huge.length, MAX_POOLED_FRAME_BYTES + 1);
  // Without a pool, a large frame's buffer is its exact size and not pooled.
  const alone = new FrameSlab();
  assert.equal(alone.reserve(70_000).length, 70_000);
  assert.equal(alone.pooled, false);
});

test('a full pool makes room for a size asked for, letting go of sizes asked for less recently', () => {
  // Room for a slab and an 80 KiB buffer: filled with two slabs by 1 KiB traffic, then the
  // messages grow to 64 KiB.
  const pool = new SlabPool(64 * 1024 + 80 * 1024);
  const slabs = [new FrameSlab(pool).reserve(8), new FrameSlab(pool).reserve(8)];
  for (const b of slabs) pool.give(b);
  assert.equal(pool.bytes, 2 * 64 * 1024);
  const owner = new FrameSlab(pool);
  const big = owner.reserve(65_604); // 80 KiB, none kept: a new one
  assert.equal(big.length, 80 * 1024);
  pool.give(big);
  // Kept, one slab let go for it: the next 64 KiB frame takes the same buffer.
  assert.equal(pool.bytes, 64 * 1024 + 80 * 1024);
  assert.equal(pool.size, 2);
  assert.equal(owner.reserve(65_604), big);
  assert.equal(pool.bytes, 64 * 1024);
  // The slab that is left is asked for again, after the 80 KiB size last was: a full pool
  // no longer lets it go for an 80 KiB buffer, which is dropped instead.
  const slab = new FrameSlab(pool).reserve(8);
  assert.ok(slabs.includes(slab));
  pool.give(slab);
  pool.give(Buffer.allocUnsafe(64 * 1024)); // a slab nobody holds any more (as a sender would give one)
  assert.equal(pool.bytes, 2 * 64 * 1024);
  pool.give(big);
  assert.equal(pool.bytes, 2 * 64 * 1024, 'both slabs kept, the 80 KiB buffer dropped');
  assert.notEqual(owner.reserve(65_604), big);
});

test('a pool keeps no buffer of a size nobody asked it for', () => {
  const pool = new SlabPool(1024 * 1024);
  pool.give(Buffer.allocUnsafe(80 * 1024));
  pool.give(Buffer.allocUnsafe(64 * 1024));
  assert.equal(pool.size, 0);
  new FrameSlab(pool).reserve(70_000); // asks for 80 KiB
  pool.give(Buffer.allocUnsafe(80 * 1024));
  assert.equal(pool.size, 1);
});

test('a pool with an idle trim lets go of what it keeps above its floor once no buffer was asked of it for a while', () => {
  const clock = new FakeClock();
  const slab = 64 * 1024;
  const pool = new SlabPool(8 * slab, { clock, afterMs: 30_000, floorBytes: 2 * slab });
  const owner = new FrameSlab(pool);
  const bufs = Array.from({ length: 6 }, () => new FrameSlab(pool).reserve(8));
  assert.equal(clock.pendingTimers, 0, 'nothing kept: no timer');
  for (const b of bufs) pool.give(b);
  assert.equal(pool.bytes, 6 * slab);
  assert.equal(clock.pendingTimers, 1);
  // Busy: a buffer is asked for within the period, so the first check keeps everything.
  clock.advance(20_000);
  const taken = owner.reserve(8);
  clock.advance(10_000);
  assert.equal(pool.bytes, 5 * slab, 'in use, not trimmed');
  pool.give(taken);
  // Quiet for a whole period: trimmed to the floor, and no timer is left.
  clock.advance(30_000);
  assert.equal(pool.bytes, 2 * slab);
  assert.equal(clock.pendingTimers, 0);
  // Past the floor again: armed again; close() clears it and keeps nothing.
  pool.give(new FrameSlab(pool).reserve(8));
  pool.give(Buffer.allocUnsafe(slab));
  assert.equal(clock.pendingTimers, 1);
  pool.close();
  assert.equal(clock.pendingTimers, 0);
  assert.equal(pool.bytes, 0);
  pool.give(Buffer.allocUnsafe(slab));
  assert.equal(pool.bytes, 0, 'a closed pool keeps nothing');
});
