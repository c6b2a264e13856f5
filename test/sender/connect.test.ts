import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fibonacciDelay } from '../../src/sender/backoff.js';
import { peer } from '../../src/sender/receiver.js';
import { CountingMetrics, env, Harness } from './harness.js';

test('rule 4: a full peer queue drops for that address; a stopped sender is replaced by the next message', async () => {
  const metrics = new CountingMetrics();
  const h = new Harness({ config: { peerQueueCapacity: 3, backoff: { jitter: 0 } }, sender: { metrics } });
  h.setTopology({ A: ['dead:1'] });
  for (let i = 1; i <= 5; i++) h.sender.send(peer('A'), env(`f${i}`));
  assert.deepEqual(h.outcomesOf('f4'), ['dead:1:dropped:queue_full']);
  assert.deepEqual(h.outcomesOf('f5'), ['dead:1:dropped:queue_full']);
  assert.equal(metrics.error('fwd_to_peer_lagged'), 2);
  h.checkInvariant();
  await h.clock.tick(6000);
  assert.deepEqual(h.outcomesOf('f1'), ['dead:1:dropped:connect_failed']);
  assert.equal(h.sender.stats().senders.length, 0, 'the stopped sender is removed');
  assert.equal(metrics.error('fwd_to_peer_closed'), 1);
  const before = h.attempts.length;
  h.sender.send(peer('A'), env('f6'));
  assert.equal(h.sender.stats().senders.length, 1, 'the next message starts a new sender');
  await h.clock.tick(6000);
  assert.ok(h.attempts.length > before);
  await h.close();
});

test('rule 5: connect delays follow Fibonacci from 100 ms and the sender gives up at the 5 s deadline', async () => {
  const metrics = new CountingMetrics();
  const h = new Harness({ config: { backoff: { jitter: 0 } }, sender: { metrics } });
  h.setTopology({ A: ['dead:1'] });
  const t0 = h.clock.now();
  h.sender.send(peer('A'), env('b1'));
  await h.clock.tick(10_000);
  assert.deepEqual(
    h.attempts.map((a) => a.at - t0),
    [0, 100, 200, 400, 700, 1200, 2000, 3300],
  );
  // The next delay (2100) would end at 5400 > 5000: give up after the 8th attempt.
  assert.deepEqual(h.outcomesOf('b1'), ['dead:1:dropped:connect_failed']);
  assert.equal(metrics.error('fail_create_out_con'), 8);
  assert.equal(metrics.error('fail_conn_to_peer'), 1);
  await h.close();
});

test('rule 5: with jitter every delay is within ±20% of the Fibonacci delay, seeded and reproducible', async () => {
  const runs: number[][] = [];
  for (const seed of [1, 1, 2]) {
    const h = new Harness({ seed });
    h.setTopology({ A: ['dead:1'] });
    h.sender.send(peer('A'), env('j1'));
    await h.clock.tick(10_000);
    const gaps = h.attempts.slice(1).map((a, i) => a.at - h.attempts[i]!.at);
    gaps.forEach((gap, i) => {
      const base = fibonacciDelay(i, 100);
      assert.ok(gap >= Math.floor(base * 0.8) && gap <= Math.ceil(base * 1.2), `gap ${i}: ${gap} vs ${base}`);
    });
    const elapsed = h.attempts.at(-1)!.at - h.attempts[0]!.at;
    assert.ok(elapsed <= 5000, 'never attempts past the deadline');
    assert.ok(
      elapsed + fibonacciDelay(gaps.length, 100) * 0.8 > 5000 - 1,
      'gives up only when the next delay passes it',
    );
    assert.deepEqual(h.outcomesOf('j1'), ['dead:1:dropped:connect_failed']);
    runs.push(gaps);
    await h.close();
  }
  assert.deepEqual(runs[0], runs[1], 'same seed, same delays');
  assert.notDeepEqual(runs[0], runs[2], 'another seed, other delays');
});

test('rule 5: backoff is kept per (peer, address) across sender restarts', async () => {
  const h = new Harness({ config: { backoff: { jitter: 0 } } });
  h.setTopology({ A: ['dead:1'] });
  h.sender.send(peer('A'), env('k1'));
  await h.clock.tick(3400);
  assert.equal(h.sender.stats().senders.length, 0, 'gave up at 3300');
  const n = h.attempts.length;
  // New traffic right after giving up does not hammer the dead address.
  h.sender.send(peer('A'), env('k2'));
  assert.equal(h.attempts.length, n, 'no immediate attempt');
  assert.equal(h.sender.stats().senders[0]!.state, 'backoff');
  await h.clock.tick(1999);
  assert.equal(h.attempts.length, n, 'waits out the remembered delay (2100 after 3300)');
  await h.clock.tick(10);
  assert.equal(h.attempts.length, n + 1);
  await h.close();
});

test('rule 5: no reconnect storm when 50 senders restart at once', async () => {
  const h = new Harness();
  const hosts: string[] = [];
  const topo: Record<string, string[]> = {};
  const far = h.net.transport({ host: 'far' });
  for (let i = 0; i < 50; i++) {
    const l = await far.listen('far:0', { onConnection: (c) => c.attach({ onFrame() {} }) });
    topo[`P${i}`] = [l.address];
    hosts.push(l.address);
  }
  h.setTopology(topo);
  for (let i = 0; i < 50; i++) h.sender.send(peer(`P${i}`), env(`a${i}`));
  await h.clock.tick(10);
  assert.equal(h.attempts.length, 50);
  assert.ok(h.sender.stats().senders.every((s) => s.state === 'connected'));
  h.net.crash('far');
  await h.clock.tick(1);
  assert.equal(h.sender.stats().senders.length, 0, 'every sender stopped');
  const crashAt = h.clock.now();
  h.attempts.length = 0;
  // Heavy traffic to every peer while the far side is down.
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 50; i++) h.sender.send(peer(`P${i}`), env(`b${round}-${i}`));
    await h.clock.tick(250);
  }
  const inFirstSecond = h.attempts.filter((a) => a.at - crashAt < 1000);
  assert.equal(
    h.attempts.filter((a) => a.at === crashAt).length,
    0,
    'restarted senders wait a jittered delay instead of reconnecting at once',
  );
  assert.ok(
    inFirstSecond.length <= 50 * 5,
    `at most 5 attempts per address in the first second, got ${inFirstSecond.length}`,
  );
  const firstTimes = new Set(inFirstSecond.map((a) => a.at));
  assert.ok(
    firstTimes.size >= 20,
    `attempts are spread out, not in lockstep (${firstTimes.size} distinct times)`,
  );
  assert.ok(h.attempts.length <= 50 * 10, `bounded by the backoff, not by the traffic: ${h.attempts.length}`);
  h.checkInvariant();
  await h.close();
});

test('rule 6: frames written to a connection that fails are dropped:connection_lost; the sender restarts', async () => {
  const metrics = new CountingMetrics();
  const h = new Harness({ sender: { metrics } });
  const a = await h.node('a');
  h.setTopology({ A: [a.address] });
  h.sender.send(peer('A'), env('c0'));
  await h.clock.tick(10);
  assert.deepEqual(a.received, ['c0']);
  h.sender.send(peer('A'), env('c1'));
  h.sender.send(peer('A'), env('c2'));
  // Reset before the transport's next pass flushes them.
  h.net.reset(a.connections[0]!);
  await h.clock.tick(1);
  assert.deepEqual(h.outcomesOf('c1'), [`${a.address}:dropped:connection_lost`]);
  assert.deepEqual(h.outcomesOf('c2'), [`${a.address}:dropped:connection_lost`]);
  assert.equal(h.sender.stats().senders.length, 0);
  h.checkInvariant();
  h.sender.send(peer('A'), env('c3'));
  await h.clock.tick(200);
  assert.deepEqual(a.received, ['c0', 'c3']);
  await h.close();
});

test('rule 11: a pinned identity that does not answer is dropped:identity_mismatch and logged as a security event', async () => {
  const metrics = new CountingMetrics();
  const h = new Harness({ sender: { metrics } });
  const a = await h.node('a');
  const b = await h.node('b');
  h.setTopology({
    A: [{ address: a.address, expectedIdentity: { certHash: b.certHash } }],
    B: [{ address: b.address, expectedIdentity: { certHash: b.certHash } }],
  });
  h.sender.send(peer('A'), env('i1'));
  h.sender.send(peer('B'), env('i2'));
  await h.clock.tick(10);
  assert.deepEqual(h.outcomesOf('i1'), [`${a.address}:dropped:identity_mismatch`]);
  assert.deepEqual(a.received, []);
  assert.deepEqual(b.received, ['i2']);
  assert.equal(metrics.error('identity_mismatch'), 1);
  const security = h.logs.filter((l) => (l.obj as { event?: string }).event === 'security');
  assert.equal(security.length, 1);
  assert.equal((security[0]!.obj as { address: string }).address, a.address);
  await h.close();
});
