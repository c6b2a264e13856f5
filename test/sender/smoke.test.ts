import assert from 'node:assert/strict';
import { test } from 'node:test';
import { peer } from '../../src/sender/receiver.js';
import { env, Harness } from './harness.js';

test('smoke: a message to a known peer is written and received', async () => {
  const h = new Harness();
  const a = await h.node('a');
  h.setTopology({ A: [a.address] });
  h.sender.send(peer('A'), env('x1'));
  h.sender.send(peer('A'), env('x2'));
  await h.clock.tick(10);
  assert.deepEqual(a.received, ['x1', 'x2']);
  assert.deepEqual(h.outcomesOf('x1'), [`${a.address}:written`]);
  h.checkInvariant();
  await h.close();
});

test('a sender with no outcome listener still settles the messages it is asked to watch', async () => {
  // Nobody hears outcomes one by one, yet a watched message needs its own: its id is kept
  // and its end is told per message (before, the write of such a message was counted in
  // bulk and its watch never settled).
  const h = new Harness({ sender: { onOutcome: undefined } });
  const a = await h.node('a');
  h.setTopology({ A: [a.address] });
  const settled: string[] = [];
  h.sender.watch('w1', (id) => settled.push(id));
  h.sender.send(peer('A'), env('u1'));
  h.sender.send(peer('A'), env('w1'));
  h.sender.send(peer('A'), env('u2'));
  await h.clock.tick(10);
  assert.deepEqual(a.received, ['u1', 'w1', 'u2']);
  assert.deepEqual(settled, ['w1'], 'the watched message settled once it was written');
  assert.equal(h.sender.stats().counters.written, 3);
  assert.equal(h.sender.stats().counters.inFlight, 0);
  // (h.close() would compare the counts with the outcomes heard: none here.)
  const closing = h.sender.close({ drainTimeoutMs: 0 });
  await h.clock.tick(100);
  await closing;
});
