import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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

/** A short backoff deadline, so refused connects end within the test. */
const LIMITS = {
  writeTimeoutMs: 2000,
  idleTimeoutMs: 2000,
  backoff: { initialMs: 50, deadlineMs: 500, jitter: 0 },
};

describe('untrusted and impostor nodes get nothing (mutual TLS on 127.0.0.1)', () => {
  let a: TestNode;
  let b: TestNode;
  let u: TestNode;
  let imp: TestNode;
  const nodes: (TestNode | undefined)[] = [];

  before(async () => {
    const [ca, cb, cu, ci] = (await makeCredentials(4)) as [
      Credentials,
      Credentials,
      Credentials,
      Credentials,
    ];
    const { certificateHash } = await import('../../src/identity/credentials.js');
    // a, b and the impostor trust each other; nobody trusts u. u itself trusts everyone.
    const trust = { certHashes: [ca, cb, ci].map((c) => certificateHash(c.certPem)) };
    a = await startNode('a', ca, { trust, limits: LIMITS });
    b = await startNode('b', cb, { trust, limits: LIMITS });
    imp = await startNode('impostor', ci, { trust, limits: LIMITS });
    u = await startNode('u', cu, { limits: LIMITS });
    nodes.push(a, b, imp, u);
    a.network.updateTopology({ ...topologyOf([b]), u: [u.network.address] });
    b.network.updateTopology(topologyOf([a]));
    u.network.updateTopology({ a: [a.network.address], b: [b.network.address] });
  });

  after(() => closeAll(nodes));

  test('an untrusted node cannot send', async () => {
    const ids = [
      ...Array.from({ length: 10 }, (_, i) => u.network.send('a', 'Evil', enc(`to a ${i}`))),
      ...Array.from({ length: 10 }, (_, i) => u.network.send('b', 'Evil', enc(`to b ${i}`))),
    ];
    await until(() => outcomesOf(u, ids).size === ids.length, 'an outcome for every message');
    const outcomes = new Set(outcomesOf(u, ids).values());
    for (const o of outcomes) {
      assert.ok(
        // refused at admission: connect() fails, so nothing is reported as written
        o === 'dropped:connect_failed',
        `unexpected outcome ${o}`,
      );
    }
    // a control message from a trusted node arrives; nothing from u ever does
    const ok = b.network.send('a', 'Fine', enc('trusted'));
    await until(() => a.received.some((m) => m.id === ok), 'the trusted message');
    await sleep(100);
    assert.equal(a.received.filter((m) => m.label === 'Evil').length, 0);
    assert.equal(b.received.filter((m) => m.label === 'Evil').length, 0);
    assert.equal(
      a.network.stats().hub.connections.filter((c) => c.shortId === u.certHash.slice(0, 4)).length,
      0,
    );
    assertBalanced(u, 0);
  });

  test('an untrusted node cannot subscribe', async () => {
    const subU = u.network.subscribe('a');
    const subB = b.network.subscribe('a');
    await until(() => a.network.stats().hub.inbound['subscribe-node'] === 1, "b's subscription at a");
    await sleep(300); // u's subscription keeps retrying and keeps being refused
    assert.equal(a.network.stats().hub.inbound['subscribe-node'], 1);
    const id = a.network.broadcast('News', enc('for trusted subscribers'));
    await until(() => b.received.some((m) => m.id === id), 'broadcast at b');
    await sleep(100);
    assert.equal(
      u.received.some((m) => m.id === id),
      false,
      'u got the broadcast',
    );
    await subU.close();
    await subB.close();
  });

  test("an untrusted node cannot receive: a refuses u's server certificate", async () => {
    const ids = Array.from({ length: 5 }, (_, i) => a.network.send('u', 'Secret', enc(`s${i}`)));
    await until(() => outcomesOf(a, ids).size === ids.length, 'an outcome for every message');
    assert.deepEqual(new Set(outcomesOf(a, ids).values()), new Set(['dropped:connect_failed']));
    assert.equal(u.received.filter((m) => m.label === 'Secret').length, 0);
    assertBalanced(a, 0);
  });

  test("a node at b's address without b's pinned identity gets nothing", async () => {
    // a's topology pins b's certificate at the address where the impostor (trusted, another identity) listens.
    a.network.updateTopology({ b: [{ address: imp.network.address, certHash: b.certHash }] });
    const ids = Array.from({ length: 5 }, (_, i) => a.network.send('b', 'ForB', enc(`f${i}`)));
    await until(() => outcomesOf(a, ids).size === ids.length, 'an outcome for every message');
    assert.deepEqual(new Set(outcomesOf(a, ids).values()), new Set(['dropped:identity_mismatch']));
    // nor does a take the impostor's broadcasts as b's
    const sub = a.network.subscribe('b');
    await sleep(300);
    const news = imp.network.broadcast('Fake', enc('i am b'));
    await sleep(200);
    assert.equal(imp.outcomes.find((o) => o.messageId === news)?.outcome.kind, 'dropped');
    await sub.close();
    await sleep(50);
    assert.equal(imp.received.length, 0, 'the impostor received something');
    assert.equal(a.received.filter((m) => m.label === 'Fake').length, 0);
    assertBalanced(a, 0);
  });
});
