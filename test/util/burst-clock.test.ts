import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BurstClock, type Clock } from '../../src/util/clock.js';

/** A clock that moves by 1 ms on every read and counts the reads. */
function countingClock(): Clock & { reads: number } {
  const c = {
    reads: 0,
    now: () => ++c.reads,
    setTimeout: () => ({}),
    clearTimeout: () => {},
  };
  return c;
}

test('a burst shares one reading for at most 256 calls, and never past the current task', async () => {
  const base = countingClock();
  const clock = new BurstClock(base, true);
  const first = Array.from({ length: 300 }, () => clock.now());
  assert.deepEqual([...new Set(first)], [1, 2], '256 calls share the first reading, the next 44 the second');
  assert.equal(first.filter((t) => t === 1).length, 256);
  assert.equal(base.reads, 2);
  await Promise.resolve(); // the task ends: the reading expires
  assert.equal(clock.now(), 3);
  assert.equal(clock.now(), 3);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(clock.now(), 4, 'a later tick reads the clock again');
  assert.equal(base.reads, 4);
});

test('a virtual clock is read on every call', () => {
  const base = countingClock();
  const clock = new BurstClock(base); // not the system clock: not shared
  assert.deepEqual([clock.now(), clock.now(), clock.now()], [1, 2, 3]);
});
