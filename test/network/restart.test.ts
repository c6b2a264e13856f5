import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Credentials } from '../../src/identity/credentials.js';
import {
  assertBalanced,
  closeAll,
  enc,
  makeCredentials,
  outcomesOf,
  sleep,
  startNode,
  type TestNode,
  topologyOf,
  until,
} from './helpers.js';

const LIMITS = { peerQueueCapacity: 1000, writeTimeoutMs: 2000, idleTimeoutMs: 2000 };

function receivedOf(node: TestNode, ids: readonly string[]): string[] {
  const wanted = new Set(ids);
  return node.received.filter((m) => wanted.has(m.id)).map((m) => m.id);
}

/** Sends 5 messages to `to` every 5 ms until stopped; returns the ids sent so far. */
function pump(from: TestNode, to: string, label: string) {
  const ids: string[] = [];
  let n = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < 5; i++) ids.push(from.network.send(to, label, enc(`${label}${n++}`)));
  }, 5);
  return { ids, stop: () => clearInterval(timer) };
}

const notConnected = (n: TestNode) =>
  n.network.stats().sender.senders.every((s) => s.peerId !== 'b' || s.state !== 'connected');

describe('a node restarts mid-stream (mutual TLS on 127.0.0.1)', () => {
  const nodes: (TestNode | undefined)[] = [];
  after(() => closeAll(nodes));

  test('senders reconnect within the backoff schedule; messages sent while b was down arrive after the restart', async () => {
    const [ca, cb, cc] = (await makeCredentials(3)) as [Credentials, Credentials, Credentials];
    const a = await startNode('a', ca, { limits: LIMITS });
    const c = await startNode('c', cc, { limits: LIMITS });
    const b1 = await startNode('b', cb, { limits: LIMITS });
    nodes.push(a, c, b1);
    const port = b1.network.address;
    for (const n of [a, c]) n.network.updateTopology(topologyOf([b1]));

    const fromA = pump(a, 'b', 'A');
    const fromC = pump(c, 'b', 'C');
    await until(() => b1.received.length >= 100, 'traffic flowing to b');
    await b1.network.close(); // graceful, while a and c keep sending
    await until(() => notConnected(a) && notConnected(c), "a and c saw b's connections close");
    const downFrom = { a: fromA.ids.length, c: fromC.ids.length };
    await sleep(400); // well inside the 5 s deadline: the senders keep retrying
    const restartedAt = Date.now();
    const b2 = await startNode('b', cb, { limits: LIMITS, listen: port });
    nodes.push(b2);
    await until(
      () => b2.received.some((m) => m.label === 'A') && b2.received.some((m) => m.label === 'C'),
      'both senders reconnected',
    );
    const reconnectMs = Date.now() - restartedAt;
    // Fibonacci from 100 ms (+20% jitter): after ~0.5 s down the next retry is <= 360 ms away.
    assert.ok(reconnectMs < 1500, `reconnected after ${reconnectMs} ms`);
    await sleep(50);
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

  test('past the backoff deadline the queued messages end as dropped:connect_failed and never arrive', async () => {
    const [ca, cb] = (await makeCredentials(2)) as [Credentials, Credentials];
    const limits = { ...LIMITS, backoff: { initialMs: 50, deadlineMs: 400, jitter: 0 } };
    const a = await startNode('a', ca, { limits });
    const b1 = await startNode('b', cb, { limits });
    nodes.push(a, b1);
    const port = b1.network.address;
    a.network.updateTopology(topologyOf([b1]));
    const first = a.network.send('b', 'First', enc('1'));
    await until(() => b1.received.some((m) => m.id === first), 'first delivered');
    await b1.network.close();
    await until(() => notConnected(a), "a saw b's connection close");
    const ids = Array.from({ length: 30 }, (_, i) => a.network.send('b', 'Late', enc(`l${i}`)));
    await until(() => outcomesOf(a, ids).size === ids.length, 'an outcome for every message', 5000);
    assert.deepEqual(new Set(outcomesOf(a, ids).values()), new Set(['dropped:connect_failed']));
    assertBalanced(a, 0);
    const b2 = await startNode('b', cb, { limits, listen: port });
    nodes.push(b2);
    const next = a.network.send('b', 'Next', enc('n'));
    await until(() => b2.received.some((m) => m.id === next), 'new traffic after the restart delivered');
    assert.equal(receivedOf(b2, ids).length, 0, 'dropped messages never arrive');
    assertBalanced(a, 0);
  });
});
