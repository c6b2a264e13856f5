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
