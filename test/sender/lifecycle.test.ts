/**
 * Regression tests of issue 14's directed cases 1, 2 and 4 (sender lifecycle under
 * topology churn). Each asserts what the receiving node got and the exact outcomes per
 * (message, address), which the outcome events carry independently of the counters.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatOutcome } from '../../src/sender/outcome.js';
import { peer } from '../../src/sender/receiver.js';
import { env, Harness } from './harness.js';

/** Every (message, address) pair has at most one outcome. */
function assertOneOutcomePerTarget(h: Harness): void {
  const seen = new Map<string, string>();
  for (const o of h.outcomes) {
    const key = `${o.messageId} @ ${o.address ?? '-'}`;
    const kind = formatOutcome(o.outcome);
    assert.equal(seen.get(key), undefined, `${key}: second outcome ${kind} after ${seen.get(key)}`);
    seen.set(key, kind);
  }
}

test('case 1: a peer that loses every address and returns at one gets a waiting message once', async () => {
  const h = new Harness();
  const b = await h.node('b');
  // Two addresses where nothing listens: the message waits in both senders.
  h.setTopology({ A: ['dead:1', 'dead:2'] });
  h.sender.send(peer('A'), env('u1'));
  await h.clock.tick(50);
  h.setTopology({});
  assert.equal(h.sender.stats().unresolvedDepth, 1, 'the message waits once, not once per removed address');
  h.setTopology({ A: [b.address] });
  await h.clock.tick(50);
  assert.deepEqual(b.received, ['u1']);
  assert.deepEqual(h.outcomesOf('u1'), [
    'dead:1:skipped:address_removed',
    'dead:2:skipped:address_removed',
    `${b.address}:written`,
  ]);
  assertOneOutcomePerTarget(h);
  await h.close();
  assertOneOutcomePerTarget(h);
});

test('case 1: dropping the dead address and pinning the live one in one change does not resend', async () => {
  const h = new Harness();
  const b = await h.node('b');
  h.setTopology({ A: ['dead:1', b.address] });
  h.sender.send(peer('A'), env('p1'));
  await h.clock.tick(50);
  assert.deepEqual(b.received, ['p1']);
  // The live address is now pinned (its identity "changed"), the dead one is gone.
  h.setTopology({ A: [{ address: b.address, expectedIdentity: { certHash: b.certHash } }] });
  await h.clock.tick(500);
  assert.deepEqual(b.received, ['p1'], 'delivered once');
  assert.deepEqual(
    h.outcomesOf('p1').sort(),
    [`${b.address}:written`, 'dead:1:skipped:address_removed'].sort(),
  );
  h.sender.send(peer('A'), env('p2'));
  await h.clock.tick(50);
  assert.deepEqual(b.received, ['p1', 'p2'], 'the pinned sender carries later traffic');
  assertOneOutcomePerTarget(h);
  await h.close();
});

test('case 1: a message waiting when a pinned address changes identity moves to the new connection without a second outcome', async () => {
  const h = new Harness();
  const b = await h.node('b');
  h.setTopology({ A: ['dead:1', b.address] });
  h.net.pauseReading(b.connections[0] ?? (await connectAndGet(h, b)));
  // Fill the connection until the sender queues.
  for (let i = 0; i < 3; i++) h.sender.send(peer('A'), env(`q${i}`));
  h.setTopology({ A: [{ address: b.address, expectedIdentity: { certHash: b.certHash } }] });
  await h.clock.tick(500);
  for (const id of ['q0', 'q1', 'q2']) {
    const outcomes = h.outcomesOf(id).filter((o) => o.startsWith(b.address));
    assert.equal(outcomes.length, 1, `${id}: one outcome at ${b.address}: ${outcomes.join(', ')}`);
  }
  assertOneOutcomePerTarget(h);
  await h.close();
  assertOneOutcomePerTarget(h);
});

async function connectAndGet(h: Harness, b: Awaited<ReturnType<Harness['node']>>) {
  h.sender.send(peer('A'), env('warm'));
  await h.clock.tick(10);
  const c = b.connections[0];
  assert.ok(c, 'connected');
  return c;
}

test('case 2: the address whose idle connection was reset gets the next message', async () => {
  const h = new Harness();
  const b = await h.node('b');
  const c = await h.node('c');
  h.setTopology({ A: [b.address, c.address] });
  h.sender.send(peer('A'), env('i1'));
  await h.clock.tick(10);
  assert.deepEqual(b.received, ['i1']);
  assert.deepEqual(c.received, ['i1']);
  h.net.reset(b.connections[0]!);
  await h.clock.tick(10);
  h.sender.send(peer('A'), env('i2'));
  assert.deepEqual(
    h.sender
      .stats()
      .senders.map((s) => s.address)
      .sort(),
    [b.address, c.address].sort(),
    'a new sender for the reset address',
  );
  await h.clock.tick(1000);
  assert.deepEqual(b.received, ['i1', 'i2']);
  assert.deepEqual(c.received, ['i1', 'i2']);
  assert.deepEqual(h.outcomesOf('i2').sort(), [`${b.address}:written`, `${c.address}:written`].sort());
  assertOneOutcomePerTarget(h);
  await h.close();
});

test('case 2: an address whose sender gave up (connect_failed) gets an outcome for every later message', async () => {
  const h = new Harness({ config: { backoff: { jitter: 0 } } });
  const c = await h.node('c');
  h.setTopology({ A: ['dead:1', c.address] });
  h.sender.send(peer('A'), env('g1'));
  await h.clock.tick(6000);
  assert.deepEqual(
    h.outcomesOf('g1').sort(),
    [`${c.address}:written`, 'dead:1:dropped:connect_failed'].sort(),
  );
  h.sender.send(peer('A'), env('g2'));
  await h.clock.tick(12_000);
  assert.deepEqual(c.received, ['g1', 'g2']);
  assert.deepEqual(
    h.outcomesOf('g2').sort(),
    [`${c.address}:written`, 'dead:1:dropped:connect_failed'].sort(),
  );
  assertOneOutcomePerTarget(h);
  await h.close();
});

test('case 4: a message that waited at two removed addresses ends once at its new address on close', async () => {
  const h = new Harness();
  h.setTopology({ A: ['dead:1', 'dead:2'] });
  h.sender.send(peer('A'), env('s1'));
  await h.clock.tick(50);
  h.setTopology({});
  // The peer returns at an address where nothing listens either: the message waits there.
  h.setTopology({ A: ['dead:3'] });
  await h.clock.tick(50);
  await h.close();
  assert.deepEqual(h.outcomesOf('s1'), [
    'dead:1:skipped:address_removed',
    'dead:2:skipped:address_removed',
    'dead:3:dropped:shutdown',
  ]);
  assertOneOutcomePerTarget(h);
});

test('a message whose copy went out does not follow a removed address to a new one (no second copy to a moved node)', async () => {
  const h = new Harness();
  const b = await h.node('b');
  const moved = await h.node('moved');
  h.setTopology({ A: ['dead:1', b.address] });
  h.sender.send(peer('A'), env('w1'));
  await h.clock.tick(10);
  assert.deepEqual(b.received, ['w1']);
  // The node at b moves to a new address; the dead one goes too.
  h.setTopology({ A: [moved.address] });
  await h.clock.tick(50);
  assert.deepEqual(moved.received, []);
  assert.deepEqual(
    h.outcomesOf('w1').sort(),
    [`${b.address}:written`, 'dead:1:skipped:address_removed'].sort(),
  );
  assertOneOutcomePerTarget(h);
  await h.close();
});

test('a removed address that comes back never gets a message a second time', async () => {
  const h = new Harness();
  h.setTopology({ A: ['dead:1', 'dead:2'] });
  h.sender.send(peer('A'), env('r1'));
  await h.clock.tick(50);
  h.setTopology({ A: ['dead:2'] }); // dead:1 removed: r1 still waits at dead:2
  h.setTopology({ A: ['dead:2', 'dead:1'] }); // dead:1 back: r1 is not given to it again
  h.setTopology({ A: ['dead:1'] }); // dead:2 removed: r1 has had dead:1 already
  await h.clock.tick(50);
  await h.close();
  assert.deepEqual(h.outcomesOf('r1'), ['dead:1:skipped:address_removed', 'dead:2:skipped:address_removed']);
  assertOneOutcomePerTarget(h);
});
