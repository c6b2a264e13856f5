import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import type { Credentials } from '../../src/identity/credentials.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import {
  assertBalanced,
  closeAll,
  enc,
  makeCredentials,
  outcomesOf,
  senderTo,
  startNode,
  startWatchedNode,
  type TestNode,
  topologyOf,
  until,
  type WatchedNode,
} from './helpers.js';

const LIMITS = { peerQueueCapacity: 1000, writeTimeoutMs: 2000, idleTimeoutMs: 2000 };

function receivedOf(node: TestNode, ids: readonly string[]): string[] {
  const wanted = new Set(ids);
  return node.received.filter((m) => wanted.has(m.id)).map((m) => m.id);
}

/** Nodes and pumps of one test: when it ends, whatever the outcome, the pumps stop, then the nodes close (and are checked balanced). */
interface Harness {
  readonly nodes: (TestNode | undefined)[];
  readonly pumps: { stop(): void }[];
}

function harness(t: TestContext): Harness {
  const h: Harness = { nodes: [], pumps: [] };
  t.after(async () => {
    for (const p of h.pumps) p.stop();
    await closeAll(h.nodes);
  });
  return h;
}

/** Sends 5 messages to `to` every 5 ms until stopped; returns the ids sent so far. */
function pump(h: Harness, from: TestNode, to: string, label: string) {
  const ids: string[] = [];
  let n = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < 5; i++) ids.push(from.network.send(to, label, enc(`${label}${n++}`)));
  }, 5);
  const p = { ids, stop: () => clearInterval(timer) };
  h.pumps.push(p);
  return p;
}

const notConnected = (n: TestNode) =>
  n.network.stats().sender.senders.every((s) => s.peerId !== 'b' || s.state !== 'connected');

/** Connect attempts of `n`'s peer senders that failed (the `fail_create_out_con` counter). */
const failedConnects = (n: WatchedNode) =>
  n.metrics.get('peerpost_errors_total', { kind: 'fail_create_out_con' });

/** How long b stays down, in virtual time: well inside the 5 s deadline. */
const DOWN_MS = 400;
/**
 * The default schedule is Fibonacci from 100 ms with 20% jitter: retries about 100, 200,
 * 400 and 700 ms after the close (delays 100, 100, 200, 300 ms). Wherever in it the
 * restart falls 400 ms after the close, the next retry is at most one 300 ms delay
 * (+20%) away.
 */
const NEXT_RETRY_BOUND_MS = 360;

/**
 * Moves `clock` on to `end` with b down: each retry due before it fires in turn and fails
 * (nothing listens at b's address). Time moves only while every sender to b waits in
 * backoff, i.e. once the attempts it started have failed.
 */
async function stayDown(clock: FakeClock, senders: readonly TestNode[], end: number): Promise<void> {
  for (;;) {
    await until(
      () => senders.every((n) => senderTo(n, 'b')?.state === 'backoff'),
      'every sender to b waiting in backoff',
    );
    const next = Math.min(...senders.map((n) => senderTo(n, 'b')!.retryAt!));
    if (next > end) break;
    clock.advance(next - clock.now()); // fires the retries due then: connects to a closed port
  }
  clock.advance(end - clock.now());
}

describe('a node restarts mid-stream (mutual TLS on 127.0.0.1)', () => {
  test('senders reconnect within the backoff schedule; messages sent while b was down arrive after the restart', async (t) => {
    const h = harness(t);
    const nodes = h.nodes;
    const [ca, cb, cc] = (await makeCredentials(3)) as [Credentials, Credentials, Credentials];
    // a's and c's retries run on a virtual clock: one happens when the test moves it there.
    const clock = new FakeClock();
    const a = await startWatchedNode(nodes, 'a', ca, { limits: LIMITS, clock });
    const c = await startWatchedNode(nodes, 'c', cc, { limits: LIMITS, clock });
    const b1 = await startNode('b', cb, { limits: LIMITS });
    nodes.push(b1);
    const port = b1.network.address;
    for (const n of [a, c]) n.network.updateTopology(topologyOf([b1]));

    const fromA = pump(h, a, 'b', 'A');
    const fromC = pump(h, c, 'b', 'C');
    await until(() => b1.received.length >= 100, 'traffic flowing to b');
    await b1.network.close(); // graceful, while a and c keep sending
    await until(() => notConnected(a) && notConnected(c), "a and c saw b's connections close");
    const downFrom = { a: fromA.ids.length, c: fromC.ids.length };
    await stayDown(clock, [a, c], clock.now() + DOWN_MS); // the senders keep retrying
    for (const n of [a, c]) assert.ok(failedConnects(n) >= 2, `${n.id} retried while b was down`);
    const failedBefore = [failedConnects(a), failedConnects(c)];
    const restartedAt = clock.now();
    const b2 = await startNode('b', cb, { limits: LIMITS, listen: port });
    nodes.push(b2);
    const pending = [a, c].map((n) => senderTo(n, 'b')!);
    for (const s of pending) {
      assert.equal(s.state, 'backoff');
      assert.ok(
        s.retryAt! - restartedAt <= NEXT_RETRY_BOUND_MS,
        `next retry ${s.retryAt! - restartedAt} ms after the restart`,
      );
    }
    clock.advance(Math.max(...pending.map((s) => s.retryAt!)) - clock.now()); // both retries fire
    await until(
      () => b2.received.some((m) => m.label === 'A') && b2.received.some((m) => m.label === 'C'),
      'both senders reconnected',
    );
    // The clock stood still since: both reconnected at their first retry after the restart.
    const reconnectMs = clock.now() - restartedAt;
    assert.ok(reconnectMs <= NEXT_RETRY_BOUND_MS, `reconnected after ${reconnectMs} ms (virtual)`);
    assert.deepEqual(
      [failedConnects(a), failedConnects(c)],
      failedBefore,
      'a connect failed after the restart',
    );
    // some traffic after the reconnect, then stop
    const mark = { a: fromA.ids.length, c: fromC.ids.length };
    await until(
      () => fromA.ids.length >= mark.a + 25 && fromC.ids.length >= mark.c + 25,
      'more traffic after the reconnect',
    );
    fromA.stop();
    fromC.stop();

    for (const [sender, sent, downIdx, label] of [
      [a, fromA.ids, downFrom.a, 'A'],
      [c, fromC.ids, downFrom.c, 'C'],
    ] as const) {
      await until(
        () => outcomesOf(sender, sent).size === sent.length,
        `${label}: an outcome for every message`,
      );
      const outcomes = outcomesOf(sender, sent);
      const whileDown = sent.slice(downIdx);
      await until(
        () => receivedOf(b2, whileDown).length === whileDown.length,
        `${label}: messages sent while b was down delivered after the restart`,
      );
      assert.deepEqual(receivedOf(b2, whileDown), whileDown, `${label}: in send order`);
      for (const id of whileDown) assert.equal(outcomes.get(id), 'written', `${label}: ${id}`);
      // Before the restart: delivered to b1, or a named outcome (written into the closing connection, or lost with it).
      const delivered = new Set([...receivedOf(b1, sent), ...receivedOf(b2, sent)]);
      for (const id of sent) {
        const o = outcomes.get(id)!;
        assert.ok(o === 'written' || o === 'dropped:connection_lost', `${label}: ${id} ended ${o}`);
        if (delivered.has(id)) assert.equal(o, 'written', `${label}: delivered ${id} ended ${o}`);
      }
      const lost = sent.filter((id) => !delivered.has(id)).length;
      assert.ok(lost < downIdx, `${label}: only the close window may lose messages (${lost})`);
      assertBalanced(sender, 0);
    }
  });

  test('past the backoff deadline the queued messages end as dropped:connect_failed and never arrive', async (t) => {
    const h = harness(t);
    const nodes = h.nodes;
    const [ca, cb] = (await makeCredentials(2)) as [Credentials, Credentials];
    const limits = { ...LIMITS, backoff: { initialMs: 50, deadlineMs: 400, jitter: 0 } };
    // a's retries run on a virtual clock: one happens when the test moves it there.
    const clock = new FakeClock();
    const a = await startWatchedNode(nodes, 'a', ca, { limits, clock });
    const b1 = await startNode('b', cb, { limits });
    nodes.push(b1);
    const port = b1.network.address;
    a.network.updateTopology(topologyOf([b1]));
    const first = a.network.send('b', 'First', enc('1'));
    await until(() => b1.received.some((m) => m.id === first), 'first delivered');
    await b1.network.close();
    await until(() => notConnected(a), "a saw b's connection close");
    const ids = Array.from({ length: 30 }, (_, i) => a.network.send('b', 'Late', enc(`l${i}`)));
    const decided = () => outcomesOf(a, ids).size === ids.length;
    // Every retry fires in virtual time and fails; until the sender gives up, the messages are held.
    let firstAttemptAt: number | undefined;
    for (;;) {
      await until(() => decided() || senderTo(a, 'b')?.state === 'backoff', 'a retry failed, or the end');
      if (decided()) break;
      assert.equal(outcomesOf(a, ids).size, 0, 'a message ended while retries were still due');
      const retryAt = senderTo(a, 'b')!.retryAt!;
      firstAttemptAt ??= retryAt;
      clock.advance(retryAt - clock.now());
    }
    assert.deepEqual(new Set(outcomesOf(a, ids).values()), new Set(['dropped:connect_failed']));
    assert.ok(failedConnects(a) >= 2, 'a retried before giving up');
    assert.ok(
      clock.now() - firstAttemptAt! <= limits.backoff.deadlineMs,
      `gave up ${clock.now() - firstAttemptAt!} ms after the first attempt (virtual)`,
    );
    assertBalanced(a, 0);
    const b2 = await startNode('b', cb, { limits, listen: port });
    nodes.push(b2);
    const next = a.network.send('b', 'Next', enc('n'));
    const delivered = () => b2.received.some((m) => m.id === next);
    // the new sender may first wait out the backoff left from the failed attempts
    for (;;) {
      await until(
        () => delivered() || senderTo(a, 'b')?.state === 'backoff',
        'delivered, or waiting to retry',
      );
      if (delivered()) break;
      clock.advance(senderTo(a, 'b')!.retryAt! - clock.now());
    }
    assert.equal(receivedOf(b2, ids).length, 0, 'dropped messages never arrive');
    assertBalanced(a, 0);
  });
});
