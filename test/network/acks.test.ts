/**
 * Acknowledged delivery (docs/acks.md) end to end on the in-memory transport: outcomes
 * are `delivered` only for what the receiving application got, what a lost connection
 * carried is sent again and reaches the application once, a receiver that lost its state
 * makes the unconfirmed messages end as `dropped:unacknowledged`, and a peer that does
 * not accept acks still gets plain sends.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createNetwork, type Network } from '../../src/network/network.js';
import { formatOutcome, type OutcomeEvent } from '../../src/sender/outcome.js';
import { spyOnLane } from './helpers.js';
import { memoryNodes } from './memory-nodes.js';

function record(net: Network): { outcomes: OutcomeEvent[]; got: string[] } {
  const outcomes: OutcomeEvent[] = [];
  net.onOutcome((o) => outcomes.push(o));
  return { outcomes, got: [] };
}

function tally(outcomes: readonly OutcomeEvent[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) {
    const k =
      o.outcome.kind === 'dropped' && o.outcome.detail
        ? `${formatOutcome(o.outcome)}/${o.outcome.detail}`
        : formatOutcome(o.outcome);
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
}

test('acked sends end as delivered once the receiving application has them', async () => {
  const nodes = await memoryNodes(['a', 'b'], (id) =>
    id === 'a' ? { acks: { enabled: true }, limits: { peerQueueCapacity: 1000 } } : {},
  );
  const [a, b] = nodes.nets as [Network, Network];
  a.updateTopology({ b: [b.address] });
  const { outcomes } = record(a);
  const got: string[] = [];
  b.onMessage((m) => got.push(m.id));
  const ids: string[] = [];
  for (let i = 0; i < 500; i++) ids.push(a.send('b', 'Put', new Uint8Array(32)));
  await nodes.clock.tick(1000);
  assert.deepEqual(tally(outcomes), { delivered: 500 });
  assert.deepEqual(got, ids);
  assert.deepEqual(
    outcomes.map((o) => o.messageId),
    ids,
    'delivered in send order',
  );
  await nodes.close();
});

test('what a reset connection carried is sent again and reaches the application exactly once', async (t) => {
  const lane = spyOnLane(t);
  const nodes = await memoryNodes(['a', 'b'], (id) =>
    id === 'a' ? { acks: { enabled: true }, limits: { peerQueueCapacity: 2000 } } : {},
  );
  const [a, b] = nodes.nets as [Network, Network];
  a.updateTopology({ b: [b.address] });
  const { outcomes } = record(a);
  const got: string[] = [];
  b.onMessage((m) => got.push(m.id));
  let connects = 0;
  a.onPeer((e) => {
    if (e.kind === 'connected') connects++;
  });
  const ids: string[] = [];
  // Connections are reset mid-stream, both ways: frames in flight and acks get lost.
  nodes.memory.setLink('a', 'b', { latency: { minMs: 1, maxMs: 5 }, resetRate: 0.2 });
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 25; i++) ids.push(a.send('b', 'Put', new Uint8Array(100)));
    await nodes.clock.tick(50);
  }
  nodes.memory.setLink('a', 'b', {});
  for (let i = 0; i < 100 && outcomes.length < ids.length; i++) await nodes.clock.tick(200);
  assert.ok(connects >= 5, `connections were reset and opened again (${connects} connects)`);
  assert.ok(a.stats().sender.counters.retransmits > 0, 'some messages were written again');
  // Messages of send()'s fast lane wait in the stream without a record, and are sent again from their frames.
  assert.ok(lane.taken > 100, `the fast lane took ${lane.taken} of ${ids.length} messages`);
  assert.equal(new Set(got).size, got.length, 'no duplicates at the application');
  assert.deepEqual([...got].sort(), [...ids].sort(), 'every message reached the application');
  assert.deepEqual(tally(outcomes), { delivered: ids.length });
  await nodes.close();
});

test('a receiver that restarted and lost its state: what it may have had ends as dropped:unacknowledged, never twice', async (t) => {
  const lane = spyOnLane(t);
  const nodes = await memoryNodes(['a', 'b'], (id) =>
    id === 'a' ? { acks: { enabled: true }, limits: { peerQueueCapacity: 5000 } } : {},
  );
  const [a, b] = nodes.nets as [Network, Network];
  const address = b.address;
  a.updateTopology({ b: [address] });
  const { outcomes } = record(a);
  const got: string[] = [];
  b.onMessage((m) => got.push(m.id));
  const ids: string[] = [];
  for (let i = 0; i < 200; i++) ids.push(a.send('b', 'Put', new Uint8Array(64)));
  await nodes.clock.tick(100);
  // b stops reading: a writes on (its window has room) but nothing is acknowledged.
  nodes.memory.setLink('a', 'b', { latency: { minMs: 2000, maxMs: 2000 } }, false);
  for (let i = 0; i < 300; i++) ids.push(a.send('b', 'Put', new Uint8Array(64)));
  await nodes.clock.tick(10);
  // b's process dies with frames in flight, and comes back on the same address, empty.
  nodes.memory.crash('b');
  const closing = b.close();
  await nodes.clock.tick(10);
  await closing;
  nodes.memory.restart('b');
  nodes.memory.setLink('a', 'b', {}, false);
  const b2 = await createNetwork({
    nodeId: 'b',
    transport: nodes.transports.get('b')!,
    listen: address,
    clock: nodes.clock,
  });
  nodes.nets.push(b2);
  const got2: string[] = [];
  b2.onMessage((m) => got2.push(m.id));
  for (let i = 0; i < 100; i++) ids.push(a.send('b', 'Put', new Uint8Array(64)));
  for (let i = 0; i < 100 && outcomes.length < ids.length; i++) await nodes.clock.tick(200);

  const outcomeOf = new Map(outcomes.map((o) => [o.messageId, o.outcome]));
  assert.equal(outcomes.length, ids.length, 'one outcome per message');
  const both = [...got, ...got2];
  assert.equal(new Set(both).size, both.length, 'no message reached the application twice');
  const lost: string[] = [];
  for (const id of ids) {
    const o = outcomeOf.get(id)!;
    if (o.kind === 'delivered') assert.ok(both.includes(id), `${id} delivered: an application has it`);
    else {
      assert.equal(formatOutcome(o), 'dropped:unacknowledged');
      assert.equal(o.kind === 'dropped' && o.detail, 'peer_lost_state');
      lost.push(id);
    }
  }
  assert.ok(lost.length > 0, 'the crash cost some messages, and they are named');
  assert.ok(got2.length >= 100, 'the restarted receiver got the later messages');
  assert.ok(lane.taken >= 300, `the fast lane took ${lane.taken} of ${ids.length} messages`);
  await nodes.close();
});

test('a receiver that does not accept acks gets plain sends (outcome written)', async () => {
  const nodes = await memoryNodes(['a', 'b'], (id) =>
    id === 'a' ? { acks: { enabled: true } } : { acks: { accept: false } },
  );
  const [a, b] = nodes.nets as [Network, Network];
  a.updateTopology({ b: [b.address] });
  const { outcomes } = record(a);
  const got: string[] = [];
  b.onMessage((m) => got.push(m.id));
  for (let i = 0; i < 50; i++) a.send('b', 'Put', new Uint8Array(16));
  await nodes.clock.tick(1000);
  assert.deepEqual(tally(outcomes), { written: 50 });
  assert.equal(got.length, 50);
  await nodes.close();
});

test('the window bounds what waits for acks: a receiver that stops reading stops the sender, not its memory', async () => {
  const nodes = await memoryNodes(['a', 'b'], (id) =>
    id === 'a' ? { acks: { enabled: true, window: 64 }, limits: { peerQueueCapacity: 100 } } : {},
  );
  const [a, b] = nodes.nets as [Network, Network];
  a.updateTopology({ b: [b.address] });
  const { outcomes } = record(a);
  const got: string[] = [];
  b.onMessage((m) => got.push(m.id));
  a.send('b', 'Put', new Uint8Array(16));
  await nodes.clock.tick(100);
  // The link stalls (b reads nothing): 64 go out unacknowledged, 100 wait, the rest are refused.
  nodes.memory.partition(['a'], ['b']);
  for (let i = 0; i < 300; i++) a.send('b', 'Put', new Uint8Array(16));
  await nodes.clock.tick(100);
  assert.equal(a.writable('b'), false, 'a full queue is not writable');
  const waiting = a.stats().sender.counters.inFlight;
  assert.equal(waiting, 164, 'window (64) + queue (100) in flight');
  assert.equal(a.stats().sender.counters.held, 164, 'what the senders hold is what is in flight');
  assert.deepEqual(
    a.stats().sender.senders.map((s) => [s.queueDepth, s.unacked]),
    [[100, 64]],
  );
  nodes.memory.heal();
  for (let i = 0; i < 100 && outcomes.length < 301; i++) await nodes.clock.tick(200);
  const t = tally(outcomes);
  assert.equal(t.delivered, 165);
  assert.equal(t['dropped:queue_full'], 136);
  assert.equal(got.length, 165);
  await nodes.close();
});

test('close() waits for acks within its drain timeout; what stays unacknowledged ends named', async () => {
  const nodes = await memoryNodes(['a', 'b'], (id) => (id === 'a' ? { acks: { enabled: true } } : {}));
  const [a, b] = nodes.nets as [Network, Network];
  a.updateTopology({ b: [b.address] });
  const { outcomes } = record(a);
  a.send('b', 'Put', new Uint8Array(16));
  await nodes.clock.tick(100);
  nodes.memory.setLink('a', 'b', { latency: { minMs: 300, maxMs: 300 } });
  for (let i = 0; i < 10; i++) a.send('b', 'Put', new Uint8Array(16));
  const closing = a.close({ drainTimeoutMs: 2000 });
  await nodes.clock.tick(3000);
  await closing;
  assert.deepEqual(tally(outcomes), { delivered: 11 }, 'acks that came within the drain');
  const c = await memoryNodes(['c', 'd'], (id) => (id === 'c' ? { acks: { enabled: true } } : {}));
  const [cn, dn] = c.nets as [Network, Network];
  cn.updateTopology({ d: [dn.address] });
  const late = record(cn);
  cn.send('d', 'Put', new Uint8Array(16));
  await c.clock.tick(100);
  c.memory.partition(['c'], ['d']);
  for (let i = 0; i < 10; i++) cn.send('d', 'Put', new Uint8Array(16));
  const closing2 = cn.close({ drainTimeoutMs: 500 });
  await c.clock.tick(3000);
  await closing2;
  assert.deepEqual(tally(late.outcomes), { delivered: 1, 'dropped:unacknowledged/shutdown': 10 });
  await nodes.close();
  await c.close();
});

test('a subscriber with acks: the publisher learns per subscriber what it was handed and what it missed', async () => {
  const nodes = await memoryNodes(['pub', 'sa', 'sp']);
  const [pub, sa, sp] = nodes.nets as [Network, Network, Network];
  const { outcomes } = record(pub);
  const gotA: string[] = [];
  const gotP: string[] = [];
  sa.onMessage((m) => gotA.push(m.id));
  sp.onMessage((m) => gotP.push(m.id));
  sa.subscribe(pub.address, { acks: true });
  sp.subscribe(pub.address);
  await pub.waitForSubscribers(2);
  const first: string[] = [];
  for (let i = 0; i < 20; i++) first.push(pub.broadcast('Block', new Uint8Array(64)));
  await nodes.clock.tick(100);
  const at = (id: string) => outcomes.filter((o) => o.messageId === id).map((o) => formatOutcome(o.outcome));
  for (const id of first) assert.deepEqual(at(id).sort(), ['delivered', 'written'], id);
  assert.equal(gotA.length, 20);
  assert.equal(gotP.length, 20);

  // The acking subscriber's link stalls and its connection dies with broadcasts in flight.
  nodes.memory.setLink('pub', 'sa', { latency: { minMs: 500, maxMs: 500 } });
  const second: string[] = [];
  for (let i = 0; i < 10; i++) second.push(pub.broadcast('Block', new Uint8Array(64)));
  await nodes.clock.tick(50);
  nodes.memory.crash('sa');
  await nodes.clock.tick(2000);
  const missed = second.filter((id) => at(id).includes('dropped:unacknowledged'));
  assert.equal(missed.length, 10, 'every broadcast in flight to sa is named as unacknowledged');
  for (const id of second) assert.ok(!gotA.includes(id), `${id} never reached sa`);
  for (const id of second) assert.ok(at(id).includes('written'), 'the plain subscriber still gets written');
  nodes.memory.restart('sa');
  await nodes.close();
});
