import assert from 'node:assert/strict';
import { test } from 'node:test';
import { peer } from '../../src/sender/receiver.js';
import { env, Harness } from './harness.js';

test('rule 1: a known peer gets the message on every address; an unknown one waits unresolved', async () => {
  const h = new Harness();
  const a1 = await h.node('a1');
  const a2 = await h.node('a2');
  h.setTopology({ A: [a1.address, a2.address] });
  h.sender.send(peer('A'), env('m1'));
  h.sender.send(peer('Z'), env('z1'));
  assert.equal(h.sender.stats().senders.length, 2);
  assert.equal(h.sender.stats().unresolvedDepth, 1);
  await h.clock.tick(10);
  assert.deepEqual(a1.received, ['m1']);
  assert.deepEqual(a2.received, ['m1']);
  assert.deepEqual(h.outcomesOf('m1').sort(), [`${a1.address}:written`, `${a2.address}:written`].sort());
  assert.deepEqual(h.outcomesOf('z1'), []);
  h.checkInvariant();
  await h.close();
  assert.deepEqual(h.outcomesOf('z1'), ['-:dropped:shutdown']);
});

test('rule 2: the unresolved queue flushes FIFO after a topology change', async () => {
  const h = new Harness();
  const b = await h.node('b');
  for (const id of ['u1', 'u2', 'u3', 'u4']) h.sender.send(peer('B'), env(id));
  await h.clock.tick(500);
  assert.deepEqual(b.received, []);
  h.setTopology({ B: [b.address] });
  await h.clock.tick(10);
  assert.deepEqual(b.received, ['u1', 'u2', 'u3', 'u4']);
  assert.equal(h.sender.stats().unresolvedDepth, 0);
  h.checkInvariant();
  await h.close();
});

test('rule 2: overflow drops the oldest, expiry drops after the TTL, both named', async () => {
  const h = new Harness({ config: { unresolvedCapacity: 2, unresolvedTtlMs: 3000, resolveRetryMs: 1000 } });
  h.sender.send(peer('B'), env('o1'));
  h.sender.send(peer('B'), env('o2'));
  h.sender.send(peer('B'), env('o3'));
  assert.deepEqual(h.outcomesOf('o1'), ['-:dropped:unresolved_overflow']);
  h.checkInvariant();
  assert.equal(h.clock.pendingTimers, 1, 'one resolve-retry timer');
  await h.clock.tick(2999);
  assert.deepEqual(h.outcomesOf('o2'), []);
  await h.clock.tick(1001);
  assert.deepEqual(h.outcomesOf('o2'), ['-:dropped:unresolved_expired']);
  assert.deepEqual(h.outcomesOf('o3'), ['-:dropped:unresolved_expired']);
  assert.equal(h.clock.pendingTimers, 0, 'the retry timer stops with an empty queue');
  h.checkInvariant();
  await h.close();
});

test('rule 2: the 1 s retry resolves a peer the topology learned without an event for it', async () => {
  const h = new Harness();
  const b = await h.node('b');
  h.sender.send(peer('B'), env('r1'));
  // A topology source that mutates its map in place raises no event; the retry still finds it.
  (h.topology.get() as Map<string, { address: string }[]>).set('B', [{ address: b.address }]);
  await h.clock.tick(999);
  assert.deepEqual(b.received, []);
  await h.clock.tick(20);
  assert.deepEqual(b.received, ['r1']);
  await h.close();
});

test('rule 3: queued messages of a removed address reach the new address', async () => {
  const h = new Harness();
  const b = await h.node('b');
  h.setTopology({ A: ['dead:1'] });
  h.sender.send(peer('A'), env('q1'));
  h.sender.send(peer('A'), env('q2'));
  await h.clock.tick(50);
  h.setTopology({ A: [b.address] });
  await h.clock.tick(10);
  assert.deepEqual(b.received, ['q1', 'q2']);
  // The removed target ends as such; the message is a new target at the new address.
  assert.deepEqual(h.outcomesOf('q1'), ['dead:1:skipped:address_removed', `${b.address}:written`]);
  assert.deepEqual(
    h.sender.stats().senders.map((s) => s.address),
    [b.address],
  );
  await h.close();
});

test('rule 3: a peer left without address sends its queue back to the unresolved queue, not lost', async () => {
  const h = new Harness();
  const b = await h.node('b');
  h.setTopology({ A: ['dead:1'] });
  h.sender.send(peer('A'), env('w1'));
  h.setTopology({});
  assert.equal(h.sender.stats().peers, 0);
  assert.equal(h.sender.stats().unresolvedDepth, 1);
  h.checkInvariant();
  h.sender.send(peer('A'), env('w2'));
  h.setTopology({ A: [b.address] });
  await h.clock.tick(10);
  assert.deepEqual(b.received, ['w1', 'w2']);
  await h.close();
});

test('rule 3: a removed address whose messages every remaining address already has ends as skipped:address_removed', async () => {
  const h = new Harness();
  const b = await h.node('b');
  h.setTopology({ A: ['dead:1', b.address] });
  h.sender.send(peer('A'), env('d1'));
  await h.clock.tick(10);
  h.setTopology({ A: [b.address] });
  await h.clock.tick(10);
  assert.deepEqual(b.received, ['d1']);
  assert.deepEqual(
    h.outcomesOf('d1').sort(),
    [`${b.address}:written`, 'dead:1:skipped:address_removed'].sort(),
  );
  h.checkInvariant();
  await h.close();
});

test('rule 10: messages to our own id or address are skipped', async () => {
  const h = new Harness({ config: { selfId: 'ME', selfAddress: 'self:1' } });
  const b = await h.node('b');
  h.setTopology({ A: ['self:1', b.address] });
  h.sender.send(peer('ME'), env('s1'));
  h.sender.send(peer('A'), env('s2'));
  await h.clock.tick(10);
  assert.deepEqual(h.outcomesOf('s1'), ['-:skipped:self']);
  assert.deepEqual(h.outcomesOf('s2').sort(), [`${b.address}:written`, 'self:1:skipped:self'].sort());
  assert.deepEqual(
    h.sender.stats().senders.map((s) => s.address),
    [b.address],
  );
  await h.close();
});
