import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, type TestContext, test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import { createNetwork } from '../../src/network/network.js';
import { addr } from '../../src/sender/receiver.js';
import {
  closeAll,
  enc,
  makeCredentials,
  outcomesOf,
  startNode,
  type TestNode,
  topologyOf,
  until,
} from './helpers.js';

const text = (d: Uint8Array) => Buffer.from(d).toString();

/** The ids of `ids` that `node` received, in arrival order (repeats kept). */
const receivedIds = (node: TestNode, ids: readonly string[]) => {
  const wanted = new Set(ids);
  return node.received.filter((m) => wanted.has(m.id)).map((m) => m.id);
};

/**
 * Starts nodes `ids` over mutual TLS, each with every node (pinned) in its topology, for
 * one test: they close (and are checked balanced) when it ends, whatever the outcome.
 */
async function cluster(t: TestContext, ids: readonly string[]): Promise<TestNode[]> {
  const creds = await makeCredentials(ids.length);
  const trust = { certHashes: [] as string[] };
  const nodes: TestNode[] = [];
  t.after(() => closeAll(nodes));
  nodes.push(...(await Promise.all(ids.map((id, i) => startNode(id, creds[i]!, { trust })))));
  for (const n of nodes) n.network.updateTopology(topologyOf(nodes));
  return nodes;
}

describe('Network over mutual TLS (each test starts its own nodes)', () => {
  test('direct messages both ways, with the sender identified by its pinned identity', async (t) => {
    const [a, b] = (await cluster(t, ['a', 'b'])) as [TestNode, TestNode];
    const id1 = a.network.send('b', 'Ping', enc('from a'));
    const id2 = b.network.send('a', 'Ping', enc('from b'));
    await until(
      () => b.received.some((m) => m.id === id1) && a.received.some((m) => m.id === id2),
      'both delivered',
    );
    const atB = b.received.find((m) => m.id === id1)!;
    assert.equal(text(atB.data), 'from a');
    assert.equal(atB.label, 'Ping');
    assert.equal(atB.from.peerId, 'a');
    assert.equal(atB.from.identity.certHash, a.certHash);
    assert.ok(a.outcomes.some((o) => o.messageId === id1 && o.outcome.kind === 'written'));
  });

  test('send() copies the payload at once: the caller may reuse its buffer right away', async (t) => {
    const [a, b] = (await cluster(t, ['a', 'b'])) as [TestNode, TestNode];
    const buf = Buffer.alloc(100);
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      buf.fill(i);
      ids.push(a.network.send('b', 'Reuse', buf));
    }
    buf.fill(0xff);
    await until(() => ids.every((id) => b.received.some((m) => m.id === id)), 'all delivered');
    ids.forEach((id, i) => {
      const m = b.received.find((x) => x.id === id)!;
      assert.deepEqual(Buffer.from(m.data), Buffer.alloc(100, i), `message ${i} kept its bytes`);
    });
  });

  test('request/reply by address goes back on the same connection', async (t) => {
    const [a, c] = (await cluster(t, ['a', 'c'])) as [TestNode, TestNode];
    const off = c.network.onMessage((m) => {
      if (m.label === 'Question') m.reply('Answer', enc(`echo ${text(m.data)}`));
    });
    const q = a.network.send('c', 'Question', enc('42'));
    await until(() => a.received.some((m) => m.label === 'Answer'), 'answer');
    off();
    const answer = a.received.find((m) => m.label === 'Answer')!;
    assert.equal(text(answer.data), 'echo 42');
    assert.equal(answer.from.peerId, 'c');
    assert.ok(
      c.outcomes.some((o) => o.mode === 'direct' && o.outcome.kind === 'written' && o.receiver !== 'a'),
    );
    assert.ok(a.outcomes.some((o) => o.messageId === q && o.outcome.kind === 'written'));
  });

  test('addr() to an address with no open connection is dropped:no_connection', async (t) => {
    const [a] = (await cluster(t, ['a'])) as [TestNode];
    const id = a.network.send(addr('127.0.0.1:9'), 'X', enc('x'));
    const o = a.outcomes.find((e) => e.messageId === id)!;
    assert.deepEqual(o.outcome, { kind: 'dropped', reason: 'no_connection' });
  });

  test('send(addr(...)) to something that is not host:port throws ERR_INVALID_ADDRESS at the call', async (t) => {
    const [a] = (await cluster(t, ['a'])) as [TestNode];
    for (const bad of ['not-an-address', '127.0.0.1', '127.0.0.1:0', 'host:70000', '::1:7000', '']) {
      assert.throws(
        () => a.network.send(addr(bad), 'X', enc('x')),
        (err) => isPeerpostError(err, 'ERR_INVALID_ADDRESS') && err.message.includes(JSON.stringify(bad)),
        bad,
      );
    }
    assert.deepEqual(a.outcomes, [], 'nothing was sent, so nothing has an outcome');
    assert.equal(a.network.stats().sender.counters.accepted, 0);
    for (const good of ['127.0.0.1:9', '[::1]:9', 'example.org:7000']) {
      assert.deepEqual(addr(good), { kind: 'addr', address: good });
    }
  });

  test('a message above maxFrameBytes is dropped:too_large and the connection keeps working', async (t) => {
    const [b] = (await cluster(t, ['b'])) as [TestNode];
    const [creds] = await makeCredentials(1);
    const small = await startNode('small', creds!, { limits: { maxFrameBytes: 4096 } });
    try {
      small.network.updateTopology(topologyOf([b]));
      // Random bytes do not compress: the frame stays above the limit.
      const big = small.network.send('b', 'Big', randomBytes(10_000));
      assert.deepEqual(small.outcomes.find((o) => o.messageId === big)?.outcome, {
        kind: 'dropped',
        reason: 'too_large',
      });
      const ok = small.network.send('b', 'Ok', Buffer.alloc(100, 2));
      await until(() => b.received.some((m) => m.id === ok), 'the next message still arrives');
      assert.equal(
        b.received.some((m) => m.id === big),
        false,
      );
      assert.equal(small.network.broadcast('BigNews', randomBytes(10_000)), small.outcomes.at(-1)?.messageId);
      assert.deepEqual(small.outcomes.at(-1)?.outcome, { kind: 'dropped', reason: 'too_large' });
    } finally {
      await small.network.close();
    }
  });

  test('a message to itself is skipped:self', async (t) => {
    const [a] = (await cluster(t, ['a'])) as [TestNode];
    const id = a.network.send('a', 'X', enc('x'));
    assert.deepEqual(a.outcomes.find((e) => e.messageId === id)?.outcome, {
      kind: 'skipped',
      reason: 'self',
    });
  });

  test('large payloads are compressed on the wire and arrive intact', async (t) => {
    const [a, b] = (await cluster(t, ['a', 'b'])) as [TestNode, TestNode];
    const big = Buffer.alloc(200_000, 'peerpost ');
    const id = a.network.send('b', 'Bulk', big);
    await until(() => b.received.some((m) => m.id === id), 'bulk delivered');
    const m = b.received.find((x) => x.id === id)!;
    assert.equal(m.envelope.compressed, true);
    assert.ok(m.envelope.data.byteLength < big.length / 10);
    assert.deepEqual(Buffer.from(m.data), big);
  });

  test('broadcast reaches subscribers; directReceiver filtering; both mode delivers one copy', async (t) => {
    const [a, b, c] = (await cluster(t, ['a', 'b', 'c'])) as [TestNode, TestNode, TestNode];
    const subB = b.network.subscribe('a');
    const subC = c.network.subscribe('a');
    await until(() => a.network.stats().hub.inbound['subscribe-node'] >= 2, 'two subscribers at a');
    const all = a.network.broadcast('News', enc('to everyone'));
    await until(
      () => b.received.some((m) => m.id === all) && c.received.some((m) => m.id === all),
      'broadcast at b and c',
    );

    a.network.updateConfig({ directSendMode: 'broadcast' });
    const onlyB = a.network.send('b', 'ForB', enc('via broadcast'));
    await until(() => b.received.some((m) => m.id === onlyB), 'broadcast-mode message at b');
    assert.equal(b.received.find((m) => m.id === onlyB)?.envelope.directReceiver, 'b');

    a.network.updateConfig({ directSendMode: 'both' });
    const twice = a.network.send('c', 'ForC', enc('both ways'));
    await until(() => c.network.stats().incoming.deduplicated >= 1, 'second copy deduplicated at c');
    assert.equal(c.network.stats().incoming.deduplicated, 1);
    assert.equal(c.received.filter((m) => m.id === twice).length, 1);
    // the broadcast-mode message for b never reached c
    assert.equal(
      c.received.some((m) => m.id === onlyB),
      false,
    );
    const outcomesOfTwice = a.outcomes.filter((o) => o.messageId === twice);
    assert.deepEqual(outcomesOfTwice.map((o) => o.mode).sort(), ['broadcast', 'direct']);
    await subB.close();
    await subC.close();
  });

  test('only messages that can arrive twice (they carry directReceiver) enter the dedup window', async (t) => {
    const [a, b] = (await cluster(t, ['a', 'b'])) as [TestNode, TestNode];
    // both-mode messages (direct and broadcast copy) first: these are remembered
    const sub = b.network.subscribe('a');
    await until(() => a.network.stats().hub.inbound['subscribe-node'] === 1, "b's subscription at a");
    a.network.updateConfig({ directSendMode: 'both' });
    const twice = Array.from({ length: 5 }, (_, i) => a.network.send('b', 'Both', enc(`b${i}`)));
    await until(
      () => b.network.stats().incoming.deduplicated === twice.length,
      'every second copy deduplicated at b',
    );
    assert.deepEqual(receivedIds(b, twice), twice, 'each both-mode message delivered once');
    const before = b.network.stats().incoming.dedupWindow;
    assert.equal(before, twice.length, 'the both-mode messages were remembered');

    a.network.updateConfig({ directSendMode: 'direct' });
    const ids = Array.from({ length: 20 }, (_, i) => a.network.send('b', 'Plain', enc(`p${i}`)));
    await until(() => ids.every((id) => b.received.some((m) => m.id === id)), 'plain messages delivered');
    assert.equal(b.network.stats().incoming.dedupWindow, before, 'direct-mode traffic is not remembered');
    await sub.close();
  });

  test('stats() reports peers, connections and outcome counters', async (t) => {
    const [a] = (await cluster(t, ['a', 'b', 'c'])) as [TestNode, TestNode, TestNode];
    const ids = [
      a.network.send('b', 'S', enc('1')),
      a.network.send('c', 'S', enc('2')),
      a.network.send('b', 'S', enc('3')),
    ];
    await until(() => outcomesOf(a, ids).size === ids.length, 'an outcome for every message');
    const s = a.network.stats();
    assert.equal(s.nodeId, 'a');
    assert.ok(s.sender.peers >= 2);
    assert.equal(s.outcomes['written'], 3);
    assert.equal(s.sender.counters.inFlight, s.sender.counters.held);
  });
});

describe('Network options', () => {
  test('subscribe() to something that is neither a peer nor an address is a coded error', async () => {
    const [creds] = await makeCredentials(1);
    const net = await createNetwork({ nodeId: 'x', credentials: creds! });
    try {
      assert.throws(
        () => net.subscribe('nobody'),
        (err: unknown) => isPeerpostError(err, 'ERR_INVALID_OPTION') && /nobody/.test(err.message),
      );
      assert.equal(net.stats().hub.subscriptions.length, 0);
    } finally {
      await net.close();
    }
  });

  test('a bad option throws a coded error naming the option', async () => {
    const [creds] = await makeCredentials(1);
    await assert.rejects(
      createNetwork({ nodeId: 'x', credentials: creds!, limits: { peerQueueCapacity: -5 } }),
      (err: unknown) =>
        isPeerpostError(err, 'ERR_INVALID_OPTION') && /limits\.peerQueueCapacity/.test(err.message),
    );
    await assert.rejects(
      createNetwork({ nodeId: '', credentials: creds! }),
      (err: unknown) => isPeerpostError(err, 'ERR_INVALID_OPTION') && /nodeId/.test(err.message),
    );
    await assert.rejects(
      createNetwork({ nodeId: 'x' }),
      (err: unknown) => isPeerpostError(err, 'ERR_INVALID_OPTION') && /credentials/.test(err.message),
    );
    await assert.rejects(
      // @ts-expect-error: wrong mode on purpose
      createNetwork({ nodeId: 'x', credentials: creds!, directSendMode: 'sideways' }),
      (err: unknown) => isPeerpostError(err, 'ERR_INVALID_OPTION') && /directSendMode/.test(err.message),
    );
  });

  test('an unknown option key is named, with the nearest known key suggested, at every depth', async () => {
    const [creds] = await makeCredentials(1);
    const cases: [Record<string, unknown>, string][] = [
      [{ lisen: '127.0.0.1:0' }, 'invalid option `lisen`: unknown key; did you mean `listen`?'],
      [{ limits: { backof: {} } }, 'invalid option `limits.backof`: unknown key; did you mean `backoff`?'],
      [
        { limits: { backoff: { initalMs: 5 } } },
        'invalid option `limits.backoff.initalMs`: unknown key; did you mean `initialMs`?',
      ],
      [
        { limits: { dedup: { windowsize: 5 } } },
        'invalid option `limits.dedup.windowsize`: unknown key; did you mean `windowSize`?',
      ],
      [
        { topology: { p: [{ adress: '127.0.0.1:1' }] } },
        'invalid option `topology.p.0.adress`: unknown key; did you mean `address`?',
      ],
      [{ zzzzzzzz: 1 }, 'invalid option `zzzzzzzz`: unknown key'],
      [
        { lisen: 'x', logr: {} },
        'invalid option `lisen`: unknown key; did you mean `listen`? Also unknown: `logr` (did you mean `logger`?)',
      ],
    ];
    for (const [extra, message] of cases) {
      await assert.rejects(
        createNetwork({ nodeId: 'x', credentials: creds!, ...extra } as never),
        (err: unknown) => isPeerpostError(err, 'ERR_INVALID_OPTION') && err.message === message,
        message,
      );
    }
  });

  test('a process that only creates and closes a network exits by itself', async () => {
    const { spawnSync } = await import('node:child_process');
    const script = `
      import { createNetwork } from './src/network/network.ts';
      import { generateCredentials } from './src/identity/credentials.ts';
      const n = await createNetwork({ nodeId: 'solo', credentials: await generateCredentials() });
      await n.close();
      console.log('closed');
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /closed/);
  });
});

describe('Network over mutual TLS, a burst larger than the connection buffer', () => {
  test('messages that wait while the connection is backed up arrive intact, in order, each written once', async () => {
    const creds = await makeCredentials(2);
    const trust = { certHashes: [] as string[] };
    const limits = { peerQueueCapacity: 10_000 };
    const compressThresholdBytes = Number.MAX_SAFE_INTEGER; // keep the frames 1 KiB
    const nodes = await Promise.all(
      ['a', 'b'].map((id, i) => startNode(id, creds[i]!, { trust, limits, compressThresholdBytes })),
    );
    try {
      const [a, b] = nodes as [TestNode, TestNode];
      for (const n of nodes) n.network.updateTopology(topologyOf(nodes));
      // 3 MiB in one tick: well past the transport's 1 MiB high-water mark, so most of
      // these wait in the peer sender's queue (stored frames, written as runs on drain).
      const buf = Buffer.alloc(1024);
      const ids: string[] = [];
      for (let i = 0; i < 3000; i++) {
        buf.fill(i & 0xff);
        buf.writeUInt32BE(i);
        ids.push(a.network.send('b', 'Burst', buf));
      }
      buf.fill(0xee);
      await until(() => b.received.length >= 3000, 'all delivered', 30_000);
      assert.deepEqual(
        b.received.map((m) => m.id),
        ids,
        'in send order, none lost or repeated',
      );
      b.received.forEach((m, i) => {
        const want = Buffer.alloc(1024, i & 0xff);
        want.writeUInt32BE(i);
        assert.ok(Buffer.from(m.data).equals(want), `message ${i} kept its bytes`);
      });
      await until(() => a.outcomes.length >= 3000, 'every outcome', 10_000);
      assert.equal(a.outcomes.filter((o) => o.outcome.kind === 'written').length, 3000);
      assert.ok(a.network.stats().sender.counters.written >= 3000);
    } finally {
      await Promise.all(nodes.map((n) => n.network.close()));
    }
  });
});
