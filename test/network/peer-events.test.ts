import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import { createNetwork, type Network, type PeerEvent } from '../../src/network/network.js';
import { settle } from '../../src/util/fake-clock.js';
import { memoryNodes } from './memory-nodes.js';

const nodes = (ids: readonly string[]) => memoryNodes(ids);

/** Resolves to true once `p` settles (checked after letting microtasks run). */
async function isDone(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await settle();
  return done;
}

test('waitForPeer connects without a message; onPeer reports connected, disconnected and gave_up', async () => {
  const n = await nodes(['a', 'b']);
  const [a, b] = n.nets as [Network, Network];
  const events: string[] = [];
  a.onPeer((e: PeerEvent) => events.push(`${e.peerId}@${e.address}:${e.kind}`));
  a.updateTopology({ b: [b.address] });
  await a.waitForPeer('b');
  assert.deepEqual(events, [`b@${b.address}:connected`]);
  assert.equal(a.stats().sender.counters.accepted, 0, 'no message was needed');

  n.memory.crash('b');
  await n.clock.tick(1);
  assert.deepEqual(events.slice(1), [`b@${b.address}:disconnected`]);
  // Waiting again retries (the backoff deadline passes, it gives up, and tries again).
  const again = a.waitForPeer('b');
  await n.clock.tick(6_000);
  assert.ok(events.includes(`b@${b.address}:gave_up`), events.join(' '));
  assert.equal(await isDone(again), false, 'still waiting while b is down');
  n.memory.restart('b');
  // b's listener is gone with the crash: a new node at a new address, and a moves to it.
  const b2 = await createNetwork({
    nodeId: 'b',
    transport: n.memory.transport({ host: 'b2' }),
    listen: 'b2:0',
    clock: n.clock,
  });
  n.nets.push(b2);
  a.updateTopology({ b: [b2.address] });
  await n.clock.tick(10);
  await again;
  assert.equal(events.at(-1), `b@${b2.address}:connected`);
  await n.close();
});

test('waitForPeer waits for an address; waitForSubscribers counts subscriber connections', async () => {
  const n = await nodes(['a', 'b', 'c']);
  const [a, b, c] = n.nets as [Network, Network, Network];
  const peer = a.waitForPeer('b');
  const subscribers = a.waitForSubscribers(2);
  await n.clock.tick(100);
  assert.equal(await isDone(peer), false, 'b has no address yet');
  a.updateTopology({ b: [b.address] });
  await n.clock.tick(10);
  await peer;
  b.updateTopology({ a: [a.address] });
  c.updateTopology({ a: [a.address] });
  b.subscribe('a');
  await n.clock.tick(10);
  assert.equal(await isDone(subscribers), false, 'one subscriber so far');
  c.subscribe('a');
  await n.clock.tick(10);
  await subscribers;
  assert.equal(a.stats().hub.inbound['subscribe-node'], 2);
  await n.close();
});

test('waits reject with ERR_ABORTED on their signal and ERR_CLOSED on close', async () => {
  const n = await nodes(['a']);
  const [a] = n.nets as [Network];
  const ctl = new AbortController();
  const aborted = a.waitForPeer('nobody', { signal: ctl.signal }).catch((e: unknown) => e);
  const closed = a.waitForSubscribers(1).catch((e: unknown) => e);
  ctl.abort();
  assert.ok(isPeerpostError(await aborted, 'ERR_ABORTED'));
  const closing = n.close();
  assert.ok(isPeerpostError(await closed, 'ERR_CLOSED'));
  await closing;
  assert.ok(isPeerpostError(await a.waitForPeer('x').catch((e: unknown) => e), 'ERR_CLOSED'));
});
