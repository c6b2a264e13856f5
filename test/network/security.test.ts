import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { type Credentials, certificateHash } from '../../src/identity/credentials.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import {
  assertBalanced,
  closeAll,
  enc,
  makeCredentials,
  outcomesByAddress,
  outcomesOf,
  startWatchedNode,
  type TestNode,
  topologyOf,
  until,
  type WatchedNode,
} from './helpers.js';

/** A short backoff deadline, so refused connects end within the test. */
const LIMITS = {
  writeTimeoutMs: 2000,
  idleTimeoutMs: 2000,
  backoff: { initialMs: 50, deadlineMs: 500, jitter: 0 },
};

/**
 * Virtual time that fires a subscription's next retry: its first delays are 100 ms
 * (+20% jitter), and a connect in progress is not timed out by it (the handshake
 * timeout is 5 s).
 */
const SUBSCRIPTION_RETRY_MS = 1000;

/** Nodes of one test; closed (and checked balanced) when it ends, whatever the outcome. */
function nodesOf(t: TestContext): (TestNode | undefined)[] {
  const nodes: (TestNode | undefined)[] = [];
  t.after(() => closeAll(nodes));
  return nodes;
}

const trustOf = (creds: readonly Credentials[]) => ({
  certHashes: creds.map((c) => certificateHash(c.certPem)),
});

/** Handshakes `at`'s listener refused because `from`'s certificate is not trusted (the coded warning). */
const untrustedRefusals = (at: WatchedNode, from: TestNode): number =>
  at.log.find(
    'inbound connection refused',
    (f) => f.code === 'ERR_UNTRUSTED_PEER' && String(f.err).includes(from.certHash),
  ).length;

/** Connect attempts of `from`'s peer senders to `address` that failed. */
const failedConnects = (from: WatchedNode, address: string): number =>
  from.log.find('connect failed', (f) => f.address === address).length;

/** Connect attempts of `from`'s subscriptions that failed (with `code`, if given). */
const failedSubscribes = (from: WatchedNode, code?: string): number =>
  from.log.find('subscription connect failed', (f) => code === undefined || f.code === code).length;

/** Inbound connections `at`'s hub admitted (any kind), from the opened counter. */
const admitted = (at: WatchedNode, kind?: string): number =>
  (['direct', 'subscribe-node', 'subscribe-proxy'] as const)
    .filter((k) => kind === undefined || k === kind)
    .reduce(
      (sum, k) =>
        sum + at.metrics.get('peerpost_connections_opened_total', { kind: k, direction: 'inbound' }),
      0,
    );

/** The state of `node`'s only subscription. */
function subscription(node: TestNode) {
  const subs = node.network.stats().hub.subscriptions;
  assert.equal(subs.length, 1, `${node.id}: one subscription`);
  return subs[0]!;
}

describe('untrusted and impostor nodes get nothing (mutual TLS on 127.0.0.1)', () => {
  test('an untrusted node cannot send', async (t) => {
    const nodes = nodesOf(t);
    const [ca, cb, cu] = (await makeCredentials(3)) as [Credentials, Credentials, Credentials];
    // a and b trust each other; nobody trusts u. u itself trusts everyone.
    const trust = trustOf([ca, cb]);
    const a = await startWatchedNode(nodes, 'a', ca, { trust, limits: LIMITS });
    const b = await startWatchedNode(nodes, 'b', cb, { trust, limits: LIMITS });
    const u = await startWatchedNode(nodes, 'u', cu, { limits: LIMITS });
    b.network.updateTopology(topologyOf([a]));
    u.network.updateTopology({ a: [a.network.address], b: [b.network.address] });

    const ids = [
      ...Array.from({ length: 10 }, (_, i) => u.network.send('a', 'Evil', enc(`to a ${i}`))),
      ...Array.from({ length: 10 }, (_, i) => u.network.send('b', 'Evil', enc(`to b ${i}`))),
    ];
    await until(() => outcomesOf(u, ids).size === ids.length, 'an outcome for every message');
    // refused at admission: connect() fails, so nothing is reported as written
    assert.deepEqual(new Set(outcomesOf(u, ids).values()), new Set(['dropped:connect_failed']));
    // The decision behind those outcomes, seen from the receiving side: every connect u made
    // was refused by the listener for u's untrusted certificate (a logs the refusal before it
    // drops the socket, so before u's connect fails), and no connection from u was ever
    // admitted. u never had a connection to write a frame into: nothing of it is in flight.
    for (const n of [a, b]) {
      const attempts = failedConnects(u, n.network.address);
      assert.ok(attempts >= 1, `u tried ${n.id}`);
      assert.equal(untrustedRefusals(n, u), attempts, `${n.id} refused every connect of u as untrusted`);
      assert.equal(admitted(n), 0, `${n.id} admitted a connection`);
      assert.equal(n.received.filter((m) => m.label === 'Evil').length, 0, `${n.id} got u's message`);
    }
    assert.equal(
      a.network.stats().hub.connections.filter((c) => c.shortId === u.certHash.slice(0, 4)).length,
      0,
    );
    // a control message from a trusted node arrives
    const ok = b.network.send('a', 'Fine', enc('trusted'));
    await until(() => a.received.some((m) => m.id === ok), 'the trusted message');
    assert.equal(a.received.filter((m) => m.label === 'Evil').length, 0);
    assertBalanced(u, 0);
  });

  test('an untrusted node cannot subscribe', async (t) => {
    const nodes = nodesOf(t);
    const [ca, cb, cu] = (await makeCredentials(3)) as [Credentials, Credentials, Credentials];
    const trust = trustOf([ca, cb]);
    // u's subscription retries in virtual time: each retry happens when the test lets it.
    const uClock = new FakeClock();
    const a = await startWatchedNode(nodes, 'a', ca, { trust, limits: LIMITS });
    const b = await startWatchedNode(nodes, 'b', cb, { trust, limits: LIMITS });
    const u = await startWatchedNode(nodes, 'u', cu, { limits: LIMITS, clock: uClock });
    b.network.updateTopology(topologyOf([a]));
    u.network.updateTopology({ a: [a.network.address] });

    const subB = b.network.subscribe('a');
    await until(() => a.network.stats().hub.inbound['subscribe-node'] === 1, "b's subscription at a");
    const subU = u.network.subscribe('a');
    // u's subscription keeps retrying and keeps being refused: three attempts, each
    // waited out until a has refused it for the untrusted certificate and u is back in
    // backoff (no attempt pending).
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (attempt > 1) uClock.advance(SUBSCRIPTION_RETRY_MS); // fires the retry timer
      await until(() => subscription(u).state !== 'connecting', `u's subscribe attempt ${attempt} ended`);
      assert.equal(subscription(u).state, 'backoff', `u's subscribe attempt ${attempt} failed`);
      assert.equal(failedSubscribes(u), attempt);
      assert.equal(untrustedRefusals(a, u), attempt, 'a refused each attempt as untrusted');
    }
    assert.equal(subscription(u).connects, 0, "u's subscription connected");
    assert.equal(a.network.stats().hub.inbound['subscribe-node'], 1);
    assert.equal(admitted(a, 'subscribe-node'), 1, "a admitted a subscriber besides b's");

    const id = a.network.broadcast('News', enc('for trusted subscribers'));
    await until(() => b.received.some((m) => m.id === id), 'broadcast at b');
    // One outcome: at b's subscriber connection, the only one a has.
    await until(() => outcomesOf(a, [id]).has(id), 'the outcome of the broadcast');
    const [bSub] = a.network.stats().hub.connections.filter((c) => c.kind === 'subscribe-node');
    assert.deepEqual(outcomesByAddress(a, [id]).get(id), new Map([[bSub!.remoteAddress, 'written']]));
    // u has had no connection to a (none admitted, none connected, its next retry not
    // due): the broadcast was written to b's subscription only and cannot reach u.
    assert.equal(subscription(u).state, 'backoff');
    assert.equal(
      u.received.some((m) => m.id === id),
      false,
      'u got the broadcast',
    );
    await subU.close();
    await subB.close();
  });

  test("an untrusted node cannot receive: a refuses u's server certificate", async (t) => {
    const nodes = nodesOf(t);
    const [ca, cu] = (await makeCredentials(2)) as [Credentials, Credentials];
    const a = await startWatchedNode(nodes, 'a', ca, { trust: trustOf([ca]), limits: LIMITS });
    const u = await startWatchedNode(nodes, 'u', cu, { limits: LIMITS });
    a.network.updateTopology({ u: [u.network.address] });

    const ids = Array.from({ length: 5 }, (_, i) => a.network.send('u', 'Secret', enc(`s${i}`)));
    await until(() => outcomesOf(a, ids).size === ids.length, 'an outcome for every message');
    assert.deepEqual(new Set(outcomesOf(a, ids).values()), new Set(['dropped:connect_failed']));
    // every connect a made failed at a's own check of u's certificate, before a wrote anything
    const attempts = a.log.find('connect failed', (f) => f.address === u.network.address);
    assert.ok(attempts.length >= 1, 'a tried u');
    for (const e of attempts) {
      assert.equal((e.obj.err as { code?: string }).code, 'ERR_UNTRUSTED_PEER');
    }
    assert.equal(u.received.filter((m) => m.label === 'Secret').length, 0);
    assertBalanced(a, 0);
  });

  test("a node at b's address without b's pinned identity gets nothing", async (t) => {
    const nodes = nodesOf(t);
    const [ca, cb, ci] = (await makeCredentials(3)) as [Credentials, Credentials, Credentials];
    // a, b and the impostor trust each other; b itself is not running.
    const trust = trustOf([ca, cb, ci]);
    // a's subscription retries in virtual time: each retry happens when the test lets it.
    const aClock = new FakeClock();
    const a = await startWatchedNode(nodes, 'a', ca, { trust, limits: LIMITS, clock: aClock });
    const imp = await startWatchedNode(nodes, 'impostor', ci, { trust, limits: LIMITS });
    // a's topology pins b's certificate at the address where the impostor (trusted, another identity) listens.
    a.network.updateTopology({
      b: [{ address: imp.network.address, certHash: certificateHash(cb.certPem) }],
    });

    /** a's connects to the impostor's address, each failed at a's identity check. */
    const mismatches = () =>
      a.log.find('peer at address is not the expected identity').length +
      failedSubscribes(a, 'ERR_IDENTITY_MISMATCH');
    /**
     * The impostor saw every one of a's connections end: each was refused in the
     * handshake or admitted and then closed by a, and none is open. Nothing a wrote can
     * be on its way any more.
     */
    const impostorSawAll = () =>
      imp.metrics.get('peerpost_errors_total', { kind: 'fail_accept_in_con' }) + admitted(imp) ===
        mismatches() && imp.network.stats().hub.connections.length === 0;

    const ids = Array.from({ length: 5 }, (_, i) => a.network.send('b', 'ForB', enc(`f${i}`)));
    await until(() => outcomesOf(a, ids).size === ids.length, 'an outcome for every message');
    assert.deepEqual(new Set(outcomesOf(a, ids).values()), new Set(['dropped:identity_mismatch']));
    assert.ok(mismatches() >= 1);
    await until(impostorSawAll, "the impostor saw a's connections end");

    // nor does a take the impostor's broadcasts as b's: a's subscription to b fails at the
    // same check on every attempt, so the impostor never has a subscriber to write to.
    const sub = a.network.subscribe('b');
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (attempt > 1) aClock.advance(SUBSCRIPTION_RETRY_MS); // fires the retry timer
      await until(() => subscription(a).state !== 'connecting', `a's subscribe attempt ${attempt} ended`);
      assert.equal(subscription(a).state, 'backoff', `a's subscribe attempt ${attempt} failed`);
      assert.equal(failedSubscribes(a, 'ERR_IDENTITY_MISMATCH'), attempt, 'failed on the identity');
      await until(impostorSawAll, `the impostor saw a's subscribe attempt ${attempt} end`);
      const news = imp.network.broadcast('Fake', enc(`i am b (${attempt})`));
      assert.equal(outcomesOf(imp, [news]).get(news), 'dropped:no_subscriber');
    }
    assert.equal(failedSubscribes(a), 3, 'every subscribe attempt failed on the identity');
    assert.equal(subscription(a).connects, 0, "a's subscription connected");
    await sub.close();
    assert.equal(imp.received.length, 0, 'the impostor received something');
    assert.equal(a.received.filter((m) => m.label === 'Fake').length, 0);
    assertBalanced(a, 0);
  });
});
