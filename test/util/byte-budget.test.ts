import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteBudget } from '../../src/util/byte-budget.js';

test('a budget counts what its children take and give, and refuses past the first limit reached', () => {
  const node = new ByteBudget(100);
  const hub = new ByteBudget(60, node);
  const queue = new ByteBudget(Number.POSITIVE_INFINITY, node);
  hub.take(50);
  queue.take(30);
  assert.equal(node.bytes, 80);
  assert.equal(hub.fits(10), true);
  assert.equal(hub.exceededBy(11), hub, "the hub's own limit first");
  assert.equal(queue.exceededBy(21), node, "then the node's");
  assert.equal(queue.fits(20), true);
  assert.equal(queue.hasRoom, true);
  queue.take(20);
  assert.equal(queue.hasRoom, false, 'the node is spent: no child has room');
  assert.equal(hub.hasRoom, false);
  hub.give(50);
  queue.give(50);
  assert.deepEqual([node.bytes, hub.bytes, queue.bytes], [0, 0, 0]);
});

test('onRoom: once, when a spent budget comes back to half its limit', () => {
  const node = new ByteBudget(100);
  const child = new ByteBudget(Number.POSITIVE_INFINITY, node);
  let calls = 0;
  node.onRoom(() => calls++);
  child.take(90);
  child.give(60);
  assert.equal(calls, 0, 'never spent: no call');
  child.take(80); // 110: spent
  child.give(30); // 80
  assert.equal(calls, 0, 'above half');
  child.give(30); // 50
  assert.equal(calls, 1);
  child.give(50);
  assert.equal(calls, 1, 'once per time it was spent');
});
