import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import { BackoffBook, fibonacciDelay, jittered } from '../../src/sender/backoff.js';
import { resolveSenderConfig } from '../../src/sender/config.js';
import { Fifo } from '../../src/util/fifo.js';
import { seededRandom } from '../../src/util/random.js';

test('fibonacciDelay: 100, 100, 200, 300, 500, 800, ...', () => {
  assert.deepEqual(
    Array.from({ length: 8 }, (_, i) => fibonacciDelay(i, 100)),
    [100, 100, 200, 300, 500, 800, 1300, 2100],
  );
});

test('jittered stays within bounds', () => {
  const r = seededRandom(3);
  for (let i = 0; i < 1000; i++) {
    const v = jittered(1000, 0.2, r);
    assert.ok(v >= 800 && v <= 1200);
  }
});

test('BackoffBook caps delays at the deadline and forgets on success', () => {
  const cfg = resolveSenderConfig({ backoff: { jitter: 0 } });
  const book = new BackoffBook();
  const delays = Array.from({ length: 12 }, () => book.failed('p', 'x:1', 0, cfg, Math.random));
  assert.equal(delays[7], 2100);
  assert.equal(Math.max(...delays), 5000);
  book.succeeded('p', 'x:1');
  assert.equal(book.get('p', 'x:1'), undefined);
});

test('resolveSenderConfig: defaults and precise errors', () => {
  const c = resolveSenderConfig();
  assert.equal(c.directSendMode, 'direct');
  assert.equal(c.unresolvedCapacity, 1000);
  assert.equal(c.unresolvedTtlMs, 30_000);
  assert.equal(c.resolveRetryMs, 1000);
  assert.equal(c.peerQueueCapacity, 100);
  assert.deepEqual(c.backoff, { initialMs: 100, deadlineMs: 5000, jitter: 0.2 });
  assert.throws(
    () => resolveSenderConfig({ directSendMode: 'x' as 'direct' }),
    (e) => isPeerpostError(e, 'ERR_INVALID_OPTION') && /direct\|broadcast\|both, got `x`/.test(e.message),
  );
  assert.throws(() => resolveSenderConfig({ peerQueueCapacity: 0 }), /peerQueueCapacity/);
});

test('Fifo keeps order across growth, unshift and drain', () => {
  const f = new Fifo<number>(2);
  for (let i = 0; i < 10; i++) f.push(i);
  assert.equal(f.shift(), 0);
  f.unshift(-1);
  assert.equal(f.peek(), -1);
  assert.deepEqual(f.drain(), [-1, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(f.length, 0);
});
