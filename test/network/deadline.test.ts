import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import type { Network } from '../../src/network/network.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import { memoryNodes } from './memory-nodes.js';

/** a sends to b over the in-memory transport in virtual time. */
async function pair() {
  const { clock, memory, nets, close } = await memoryNodes(['a', 'b']);
  const [a, b] = nets as [Network, Network];
  const outcomes = new Map<string, string>();
  a.onOutcome((o) => outcomes.set(o.messageId, formatOutcome(o.outcome)));
  const got: string[] = [];
  b.onMessage((m) => got.push(m.id));
  return { clock, memory, a, b, outcomes, got, close };
}

test('a message still queued when its deadline passes is never written: dropped:deadline', async () => {
  const p = await pair();
  // b unreachable for now: the sender backs off with the messages queued.
  p.memory.setLink('a', 'b', { refuse: true });
  p.a.updateTopology({ b: [p.b.address] });
  const soon = p.a.send('b', 'Put', new Uint8Array(1), { deadlineMs: 500 });
  const later = p.a.send('b', 'Put', new Uint8Array(1), { deadlineMs: 3_000 });
  const plain = p.a.send('b', 'Put', new Uint8Array(1));
  await p.clock.tick(1_000);
  p.memory.setLink('a', 'b', {});
  await p.clock.tick(2_000); // the next connect attempt succeeds before `later`'s deadline
  assert.equal(p.outcomes.get(soon), 'dropped:deadline');
  assert.equal(p.outcomes.get(later), 'written');
  assert.equal(p.outcomes.get(plain), 'written');
  assert.deepEqual(p.got, [later, plain], 'the late one never reached b');
  await p.close();
});

test('a message waiting for an address ends at its deadline, before the unresolved TTL', async () => {
  const p = await pair();
  const id = p.a.send('nobody-yet', 'Put', new Uint8Array(1), { deadlineMs: 1_500 });
  await p.clock.tick(1_000);
  assert.equal(p.outcomes.get(id), undefined);
  await p.clock.tick(1_500); // the next resolve retry after the deadline
  assert.equal(p.outcomes.get(id), 'dropped:deadline');
  p.a.updateTopology({ 'nobody-yet': [p.b.address] });
  await p.clock.tick(100);
  assert.deepEqual(p.got, []);
  await p.close();
});

test('an aborted signal: a queued message ends as dropped:aborted; an already aborted one at once', async () => {
  const p = await pair();
  p.memory.setLink('a', 'b', { refuse: true });
  p.a.updateTopology({ b: [p.b.address] });
  const ctl = new AbortController();
  const queued = p.a.send('b', 'Put', new Uint8Array(1), { signal: ctl.signal });
  const kept = p.a.send('b', 'Put', new Uint8Array(1));
  await p.clock.tick(100);
  ctl.abort();
  const late = p.a.send('b', 'Put', new Uint8Array(1), { signal: ctl.signal });
  await p.clock.tick(1);
  assert.equal(p.outcomes.get(late), 'dropped:aborted', 'aborted before send: decided at once');
  p.memory.setLink('a', 'b', {});
  await p.clock.tick(3_000);
  assert.equal(p.outcomes.get(queued), 'dropped:aborted');
  assert.equal(p.outcomes.get(kept), 'written');
  assert.deepEqual(p.got, [kept]);
  await p.close();
});

test('deadlineMs must be a positive number: ERR_INVALID_OPTION at the call, nothing sent', async () => {
  const p = await pair();
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => p.a.send('b', 'Put', new Uint8Array(1), { deadlineMs: bad }),
      (err: unknown) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
    );
  }
  assert.equal(p.a.stats().sender.counters.accepted, 0);
  await p.close();
});
