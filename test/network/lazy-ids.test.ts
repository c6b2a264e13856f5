// A message sent while nobody wants its outcome keeps no id string while it waits
// (src/sender/message.ts, issue 16): the id is read back from its envelope or its encoded
// frame when an outcome needs it after all. These tests add the listener only after the
// messages are queued, on every path a message can wait on, and check that each outcome
// names exactly the message it belongs to.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Network } from '../../src/network/network.js';
import type { OutcomeEvent } from '../../src/sender/outcome.js';
import { memoryNodes } from './helpers.js';

test('outcomes name their message when the listener comes after the sends (fast path, peer queue, unresolved queue, custom UTF-8 ids)', async () => {
  const { clock, nets, close } = await memoryNodes(['a', 'b', 'c']);
  const a = nets.get('a') as Network;
  const b = nets.get('b') as Network;
  const c = nets.get('c') as Network;
  a.updateTopology({ b: [b.address] });
  const received = new Map<string, string>();
  for (const net of [b, c]) net.onMessage((m) => received.set(m.id, m.label));

  const sent = new Map<string, string>(); // id -> receiver
  const payload = new Uint8Array(64).fill(7);
  // Open the connection first, so that the burst's first frames go straight into the
  // connection's write batch and wait for their flush with their envelope (the fast path).
  const warmUp = a.send('b', 'WarmUp', payload);
  for (let t = 0; t < 100 && !received.has(warmUp); t++) await clock.tick(5);
  assert.ok(received.delete(warmUp), 'the warm-up message did not arrive');
  for (let i = 0; i < 500; i++) sent.set(a.send('b', `L${i % 3}`, payload), 'b');
  // Ids of the caller's own, not ASCII: read back from the frame as UTF-8.
  for (const id of ['ünï-çødé-1', 'ключ-2', '鍵-3']) sent.set(a.send('b', 'Custom', payload, { id }), 'b');
  // c is not in the topology yet: these wait in the unresolved queue, each frame in a buffer of its own.
  for (let i = 0; i < 50; i++) sent.set(a.send('c', 'Later', payload), 'c');

  const events: OutcomeEvent[] = [];
  a.onOutcome((e) => events.push(e));
  a.updateTopology({ b: [b.address], c: [c.address] });
  for (let t = 0; t < 200 && events.length < sent.size; t++) await clock.tick(5);

  assert.equal(events.length, sent.size);
  const seen = new Set<string>();
  for (const e of events) {
    assert.equal(e.outcome.kind, 'written', `${e.messageId}: ${JSON.stringify(e.outcome)}`);
    assert.equal(sent.get(e.messageId), e.receiver, `outcome for an unknown id ${e.messageId}`);
    assert.ok(!seen.has(e.messageId), `two outcomes for ${e.messageId}`);
    seen.add(e.messageId);
  }
  for (let t = 0; t < 200 && received.size < sent.size; t++) await clock.tick(5);
  assert.deepEqual(new Set(received.keys()), new Set(sent.keys()));
  await close();
});

test('a watched message among unwatched ones settles with its own id; the others stay silent', async () => {
  const { clock, nets, close } = await memoryNodes(['a', 'b']);
  const a = nets.get('a') as Network;
  const b = nets.get('b') as Network;
  a.updateTopology({ b: [b.address] });
  const payload = new Uint8Array(64).fill(1);
  for (let i = 0; i < 300; i++) a.send('b', 'Bulk', payload);
  let settled: readonly OutcomeEvent[] | undefined;
  const id = a.send('b', 'Watched', payload, { onSettled: (all) => (settled = all) });
  for (let i = 0; i < 300; i++) a.send('b', 'Bulk', payload);
  for (let t = 0; t < 200 && settled === undefined; t++) await clock.tick(5);
  assert.ok(settled !== undefined, 'the watched message never settled');
  assert.equal(settled.length, 1);
  assert.equal(settled[0]?.messageId, id);
  assert.equal(settled[0]?.label, 'Watched');
  assert.equal(settled[0]?.outcome.kind, 'written');
  await close();
});
