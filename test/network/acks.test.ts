/**
 * Acknowledged delivery (docs/acks.md) end to end on the in-memory transport: outcomes
 * are `delivered` only for what the receiving application got, what a lost connection
 * carried is sent again and reaches the application once, a receiver that lost its state
 * makes the unconfirmed messages end as `dropped:unacknowledged`, and a peer that does
 * not accept acks still gets plain sends.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Network } from '../../src/network/network.js';
import { formatOutcome, type OutcomeEvent } from '../../src/sender/outcome.js';
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

test('what a reset connection carried is sent again and reaches the application exactly once', async () => {
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
  assert.equal(new Set(got).size, got.length, 'no duplicates at the application');
  assert.deepEqual([...got].sort(), [...ids].sort(), 'every message reached the application');
  assert.deepEqual(tally(outcomes), { delivered: ids.length });
  await nodes.close();
});
