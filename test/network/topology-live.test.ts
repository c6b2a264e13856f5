import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { formatOutcome } from '../../src/sender/outcome.js';
import {
  assertBalanced,
  closeAll,
  enc,
  makeCredentials,
  outcomesOf,
  startNode,
  type TestNode,
  topologyOf,
  until,
} from './helpers.js';

const tick = () => new Promise((r) => setTimeout(r, 2));
const LIMITS = { peerQueueCapacity: 1000, writeTimeoutMs: 2000, idleTimeoutMs: 2000 };

/** The ids `node` received from `ids`, in arrival order. */
function receivedOf(node: TestNode, ids: readonly string[]): string[] {
  const wanted = new Set(ids);
  return node.received.filter((m) => wanted.has(m.id)).map((m) => m.id);
}

/** True when `seen` is in the order of `ids` (a subsequence of it). */
function inSendOrder(seen: readonly string[], ids: readonly string[]): boolean {
  const pos = new Map(ids.map((id, i) => [id, i]));
  for (let i = 1; i < seen.length; i++) if (pos.get(seen[i - 1]!)! >= pos.get(seen[i]!)!) return false;
  return true;
}

/** The outcomes of message `id` as `address:outcome`, checking one per (message, address). */
function targetOutcomesOf(node: TestNode, id: string): string[] {
  const out: string[] = [];
  for (const o of node.outcomes) {
    if (o.messageId !== id) continue;
    assert.ok(!out.some((x) => x.startsWith(`${o.address}:`)), `${id}: two outcomes at ${o.address}`);
    out.push(`${o.address}:${formatOutcome(o.outcome)}`);
  }
  return out;
}

describe('topology changes while traffic flows (mutual TLS on 127.0.0.1)', () => {
  const nodes: (TestNode | undefined)[] = [];
  after(() => closeAll(nodes));

  test('an address moves: every message reaches b (old or new address) once, in order, none dropped', async () => {
    const [ca, cb] = await makeCredentials(2);
    const a = await startNode('a', ca!, { limits: LIMITS });
    const b1 = await startNode('b', cb!, { limits: LIMITS });
    nodes.push(a, b1);
    a.network.updateTopology(topologyOf([b1]));

    const ids: string[] = [];
    let b2: TestNode | undefined;
    for (let i = 0; i < 400; i++) {
      ids.push(a.network.send('b', 'Move', enc(`m${i}`)));
      if (i % 20 !== 19) continue;
      await tick();
      if (i === 99) {
        // The same peer (same credentials) comes up at a second address.
        b2 = await startNode('b', cb!, { limits: LIMITS });
        nodes.push(b2);
      }
      if (i === 199) a.network.updateTopology(topologyOf([b2!]));
    }
    await until(() => outcomesOf(a, ids).size === ids.length, 'an outcome for every message');
    const outcomes = outcomesOf(a, ids);
    assert.deepEqual(
      [...outcomes.values()].filter((o) => o !== 'written'),
      [],
      'nothing dropped or skipped',
    );
    await until(
      () => receivedOf(b1, ids).length + receivedOf(b2!, ids).length === ids.length,
      'every message delivered',
    );
    const at1 = receivedOf(b1, ids);
    const at2 = receivedOf(b2!, ids);
    assert.deepEqual(new Set([...at1, ...at2]).size, ids.length, 'each message delivered once');
    assert.ok(inSendOrder(at1, ids), 'old address in send order');
    assert.ok(inSendOrder(at2, ids), 'new address in send order');
    assert.ok(at2.length >= 200, `the new address got the traffic after the move (${at2.length})`);
    assert.ok(at1.includes(ids[0]!), 'the old address got the traffic before the move');
    assertBalanced(a, 0);
    await b1.network.close();
  });

  test('b restarts on a new port: messages sent while it was down reach the new address', async () => {
    const [ca, cb] = await makeCredentials(2);
    const a = await startNode('a', ca!, { limits: LIMITS });
    const b1 = await startNode('b', cb!, { limits: LIMITS });
    nodes.push(a, b1);
    a.network.updateTopology(topologyOf([b1]));

    const before = Array.from({ length: 50 }, (_, i) => a.network.send('b', 'Before', enc(`b${i}`)));
    await until(() => receivedOf(b1, before).length === before.length, 'first batch delivered');
    await b1.network.close();
    await until(
      () => a.network.stats().sender.senders.every((s) => s.state !== 'connected'),
      "a saw b's connection close",
    );
    const during: string[] = [];
    for (let i = 0; i < 100; i++) {
      during.push(a.network.send('b', 'During', enc(`d${i}`)));
      if (i % 20 === 19) await tick();
    }
    const b2 = await startNode('b', cb!, { limits: LIMITS });
    nodes.push(b2);
    a.network.updateTopology(topologyOf([b2]));
    const afterMove = Array.from({ length: 50 }, (_, i) => a.network.send('b', 'After', enc(`a${i}`)));
    const all = [...before, ...during, ...afterMove];
    const b2Address = b2.network.address;
    await until(
      () =>
        all.every((id) => targetOutcomesOf(a, id).includes(`${b2Address}:written`) || before.includes(id)),
      'an outcome at the new address for every message sent since the restart',
    );
    for (const id of all) {
      const outcomes = targetOutcomesOf(a, id);
      const ended = outcomes.filter((o) => !o.endsWith(':skipped:address_removed'));
      assert.deepEqual(ended, [`${before.includes(id) ? b1.network.address : b2Address}:written`], id);
      // A message that waited at the old address ends there as removed, once, then moves on.
      for (const o of outcomes)
        if (o.endsWith('address_removed')) assert.ok(o.startsWith(`${b1.network.address}:`), o);
    }
    const rest = [...during, ...afterMove];
    await until(() => receivedOf(b2, rest).length === rest.length, 'queued and new messages delivered');
    assert.deepEqual(receivedOf(b2, rest), rest, 'in send order');
    assertBalanced(a, 0);
  });

  test('a peer appears after messages to it were queued: delivered in order once it is known', async () => {
    const [ca, cc] = await makeCredentials(2);
    const a = await startNode('a', ca!, { limits: LIMITS });
    nodes.push(a);
    const ids = Array.from({ length: 60 }, (_, i) => a.network.send('c', 'Early', enc(`e${i}`)));
    assert.equal(a.network.stats().sender.unresolvedDepth, ids.length, 'held as unresolved');
    assertBalanced(a, ids.length);
    assert.equal(outcomesOf(a, ids).size, 0, 'no outcome yet');

    const c = await startNode('c', cc!, { limits: LIMITS });
    nodes.push(c);
    a.network.updateTopology(topologyOf([c]));
    const later = Array.from({ length: 20 }, (_, i) => a.network.send('c', 'Later', enc(`l${i}`)));
    const all = [...ids, ...later];
    await until(() => receivedOf(c, all).length === all.length, 'every message delivered');
    assert.deepEqual(receivedOf(c, all), all, 'FIFO: queued messages first, in send order');
    await until(() => outcomesOf(a, all).size === all.length, 'an outcome for every message');
    assert.deepEqual(new Set(outcomesOf(a, all).values()), new Set(['written']));
    assertBalanced(a, 0);
  });
});
