import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/util/fake-clock.js';
import { seededRandom } from '../../src/util/random.js';

test('FakeClock fires timers in due order and tracks pending timers', async () => {
  const clock = new FakeClock(1000);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('b'), 20);
  clock.setTimeout(() => fired.push('a'), 10);
  const c = clock.setTimeout(() => fired.push('c'), 15);
  clock.setTimeout(() => fired.push('a2'), 10);
  clock.clearTimeout(c);
  assert.equal(clock.pendingTimers, 3);
  clock.advance(10);
  assert.deepEqual(fired, ['a', 'a2']);
  assert.equal(clock.now(), 1010);
  await clock.tick(100);
  assert.deepEqual(fired, ['a', 'a2', 'b']);
  assert.equal(clock.now(), 1110);
  assert.equal(clock.pendingTimers, 0);
});

test('timers set by timers fire within the same advance when due', () => {
  const clock = new FakeClock(0);
  const at: number[] = [];
  clock.setTimeout(() => {
    at.push(clock.now());
    clock.setTimeout(() => at.push(clock.now()), 5);
  }, 5);
  clock.advance(10);
  assert.deepEqual(at, [5, 10]);
});

test('seededRandom is reproducible and uniform enough', () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(
    xs,
    Array.from({ length: 1000 }, () => b()),
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05);
  assert.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, seededRandom(43)));
});
