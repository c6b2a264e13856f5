import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createPrometheusMetrics, type PrometheusMetrics } from '../../src/metrics/prometheus.js';
import { METRICS, type MetricName } from '../../src/metrics/types.js';
import { createNetwork, type Network } from '../../src/network/network.js';
import type { OutcomeEvent } from '../../src/sender/outcome.js';
import { memoryIdentity } from '../../src/transport/memory/fabric.js';
import { MemoryNetwork } from '../../src/transport/memory/network.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { closeAll, makeCredentials, startNode, type TestNode, topologyOf, until } from './helpers.js';

/**
 * Two real nodes, traffic on every path, and each node's sent counters checked against
 * the other's received counters, per label and send mode (issue 18, "Counters that
 * agree"): a direct send on a peer sender's connection, a reply by address on an inbound
 * connection (`msg.reply`, read on the asker's outbound connection), a reply to that
 * reply (to the peer, from a message read on an outbound connection), a broadcast to a
 * subscriber, and sends in modes `broadcast` and `both`. Labels not in `knownLabels`
 * count as `other` on both sides.
 */

const KNOWN = ['Ping', 'Pong', 'Ack', 'News', 'ModeB', 'ModeBoth'];
const N = 7;

interface Node {
  readonly id: string;
  readonly network: Network;
  readonly metrics: PrometheusMetrics;
  readonly outcomes: OutcomeEvent[];
  received: number;
}

function watch(id: string, network: Network, metrics: PrometheusMetrics): Node {
  const node: Node = { id, network, metrics, outcomes: [], received: 0 };
  network.onOutcome((o) => node.outcomes.push(o));
  network.onMessage((m) => {
    node.received++;
    // Ping (read on an inbound connection) is answered by address; Pong (read on this
    // node's own outbound connection) is answered to the peer, on that connection.
    if (m.label === 'Ping') m.reply('Pong', Buffer.from(`pong for ${m.id}`));
    else if (m.label === 'Pong') m.reply('Ack', Buffer.from('ack'));
  });
  return node;
}

/** `name{k="v",...} value` lines of one metric, as label maps with their values. */
async function series(
  metrics: PrometheusMetrics,
  name: string,
): Promise<{ labels: Record<string, string>; value: number }[]> {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of (await metrics.metricsText()).split('\n')) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] as string).matchAll(/([a-z_]+)="([^"]*)"/g))
      labels[l[1] as string] = l[2] as string;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** Sums of `name` by `label` and `mode`, keeping only series whose other labels match `where`. */
async function byLabelAndMode(
  metrics: PrometheusMetrics,
  name: MetricName,
  where: Record<string, string> = {},
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const s of await series(metrics, name)) {
    if (Object.entries(where).some(([k, v]) => s.labels[k] !== v)) continue;
    if (s.value === 0) continue;
    const key = `${s.labels['label']}/${s.labels['mode']}`;
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

/** Outcomes `written` of `node` by metric label and mode. */
function writtenByLabelAndMode(node: Node, known: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const o of node.outcomes) {
    if (o.outcome.kind !== 'written') continue;
    const key = `${known.includes(o.label) ? o.label : 'other'}/${o.mode}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

/**
 * Gives both nodes the topology with pinned identities: a subscriber connection is known
 * by its peer id only then (modes `broadcast` and `both` route by it).
 */
function pinBoth(a: Network, b: Network): void {
  const entry = (n: Network) => [{ address: n.address, certHash: memoryIdentity(n.nodeId).certHash }];
  const topology = { a: entry(a), b: entry(b) };
  a.updateTopology(topology);
  b.updateTopology(topology);
}

const sorted = (m: Map<string, number>) => [...m].sort(([a], [b]) => a.localeCompare(b));

/** Checks what `from` sent against what `to` received, per label and mode. */
async function assertAgree(from: Node, to: Node, expectedKeys: readonly string[]): Promise<void> {
  const what = `${from.id} -> ${to.id}`;
  const sent = await byLabelAndMode(from.metrics, 'peerpost_sent_bytes_total');
  const received = await byLabelAndMode(to.metrics, 'peerpost_received_bytes_total');
  assert.deepEqual(
    sorted(received),
    sorted(sent),
    `${what}: bytes sent = bytes received, per label and mode`,
  );
  for (const key of expectedKeys) assert.ok((sent.get(key) ?? 0) > 0, `${what}: traffic on ${key}`);

  const written = writtenByLabelAndMode(from, KNOWN);
  const transferred = await byLabelAndMode(from.metrics, 'peerpost_phase_finished_total', {
    phase: 'OutgoingTransfer',
  });
  assert.deepEqual(sorted(transferred), sorted(written), `${what}: OutgoingTransfer finished = written`);
  for (const [phase, counter] of [
    ['IncomingTransfer', 'peerpost_phase_started_total'],
    ['IncomingTransfer', 'peerpost_phase_finished_total'],
    ['IncomingBuffer', 'peerpost_phase_started_total'],
    ['IncomingBuffer', 'peerpost_phase_finished_total'],
  ] as const) {
    const incoming = await byLabelAndMode(to.metrics, counter, { phase });
    assert.deepEqual(sorted(incoming), sorted(written), `${what}: ${phase} ${counter} = messages written`);
  }
}

/**
 * Every path, both ways: direct pings (answered by address, the answer answered to the
 * peer), a label nobody knows, broadcasts, and sends in modes `broadcast` and `both`.
 * `settle` waits until what was sent has arrived.
 */
async function exercise(a: Node, b: Node, settle: (expected: number) => Promise<void>): Promise<void> {
  let expectedAtEach = 0;
  const both = (f: (from: Node, to: Node) => void) => {
    f(a, b);
    f(b, a);
  };
  both((from, to) => {
    for (let i = 0; i < N; i++) from.network.send(to.id, 'Ping', Buffer.from(`ping ${i}`));
    from.network.send(to.id, 'not-a-known-label', Buffer.from('x'));
  });
  expectedAtEach += 3 * N + 1; // pings, their pongs, the acks of the pongs, and one unknown
  await settle(expectedAtEach);
  both((from) => {
    for (let i = 0; i < N; i++) from.network.broadcast('News', Buffer.from(`news ${i}`));
  });
  expectedAtEach += N;
  await settle(expectedAtEach);
  both((from) => from.network.updateConfig({ directSendMode: 'broadcast' }));
  both((from, to) => {
    for (let i = 0; i < N; i++) from.network.send(to.id, 'ModeB', Buffer.from(`b ${i}`));
  });
  expectedAtEach += N;
  await settle(expectedAtEach);
  both((from) => from.network.updateConfig({ directSendMode: 'both' }));
  both((from, to) => {
    for (let i = 0; i < N; i++) from.network.send(to.id, 'ModeBoth', Buffer.from(`both ${i}`));
  });
  expectedAtEach += N; // each arrives twice; the second copy is deduplicated
  await settle(expectedAtEach);

  const keys = [
    'Ping/direct',
    'Pong/direct',
    'Ack/direct',
    'other/direct',
    'News/broadcast',
    'ModeB/broadcast',
    'ModeBoth/direct',
    'ModeBoth/broadcast',
  ];
  await assertAgree(a, b, keys);
  await assertAgree(b, a, keys);
  for (const node of [a, b]) {
    const dedup = await series(node.metrics, 'peerpost_deduplicated_total');
    assert.equal(node.network.stats().incoming.deduplicated, N, `${node.id}: the second copies in mode both`);
    assert.equal(dedup.length, 0, 'peerpost_deduplicated_total has no labels');
  }
}

describe('sent counters of one node equal the received counters of the other, per label and mode', () => {
  test('in memory, on a fake clock', async () => {
    const clock = new FakeClock();
    const memory = new MemoryNetwork({ clock });
    const start = async (id: string) => {
      const metrics = createPrometheusMetrics();
      const network = await createNetwork({
        nodeId: id,
        transport: memory.transport({ host: id }),
        listen: `${id}:0`,
        clock,
        metrics,
        knownLabels: KNOWN,
      });
      return watch(id, network, metrics);
    };
    const a = await start('a');
    const b = await start('b');
    pinBoth(a.network, b.network);
    a.network.subscribe('b');
    b.network.subscribe('a');
    await clock.tick(100);
    assert.equal(a.network.stats().hub.inbound['subscribe-node'], 1);
    assert.equal(b.network.stats().hub.inbound['subscribe-node'], 1);
    await exercise(a, b, async (expected) => {
      await clock.tick(100);
      assert.equal(a.received, expected, 'a received everything');
      assert.equal(b.received, expected, 'b received everything');
    });
    await Promise.all([a.network.close(), b.network.close()]);
    await memory.close();
  });

  describe('over mutual TLS', () => {
    const nodes: TestNode[] = [];
    after(() => closeAll(nodes));

    test('the same traffic, the same agreement', async () => {
      const [ca, cb] = await makeCredentials(2);
      const ma = createPrometheusMetrics();
      const mb = createPrometheusMetrics();
      const ta = await startNode('a', ca!, { metrics: ma, knownLabels: KNOWN });
      const tb = await startNode('b', cb!, { metrics: mb, knownLabels: KNOWN });
      nodes.push(ta, tb);
      const topology = topologyOf([ta, tb]);
      ta.network.updateTopology(topology);
      tb.network.updateTopology(topology);
      const a = watch('a', ta.network, ma);
      const b = watch('b', tb.network, mb);
      ta.network.subscribe('b');
      tb.network.subscribe('a');
      await Promise.all([ta.network.waitForSubscribers(1), tb.network.waitForSubscribers(1)]);
      await exercise(a, b, async (expected) => {
        await until(() => a.received >= expected && b.received >= expected, `${expected} messages at each`);
        // Let the last outcomes (flushes) arrive, and make sure nothing more does.
        await until(
          () => [ta, tb].every((n) => n.network.stats().sender.counters.inFlight === 0),
          'nothing in flight',
        );
        assert.equal(a.received, expected);
        assert.equal(b.received, expected);
      });
    });
  });
});

describe('label cardinality is bounded on every metric with a `label` label', () => {
  test('300 distinct labels on every path give at most known + 1 values of `label`', async () => {
    const clock = new FakeClock();
    const memory = new MemoryNetwork({ clock });
    const known = ['k1', 'k2'];
    const start = async (id: string) => {
      const metrics = createPrometheusMetrics();
      const network = await createNetwork({
        nodeId: id,
        transport: memory.transport({ host: id }),
        listen: `${id}:0`,
        clock,
        metrics,
        knownLabels: known,
      });
      return { network, metrics };
    };
    const a = await start('a');
    const b = await start('b');
    pinBoth(a.network, b.network);
    a.network.subscribe('b');
    b.network.subscribe('a');
    // b answers by address on its inbound connection; a answers those answers (read on its
    // outbound connection) to the peer.
    b.network.onMessage((m) => {
      if (m.from.direction === 'inbound' && m.label.startsWith('d')) m.reply(`r${m.label}`, Buffer.from('r'));
    });
    a.network.onMessage((m) => {
      if (m.label.startsWith('rd')) m.reply(`q${m.label}`, Buffer.from('q'));
    });
    await clock.tick(100);
    /** The known labels and 300 others, sent in batches that fit the queues. */
    const each = async (prefix: string, send: (label: string) => void) => {
      const labels = [...known, ...Array.from({ length: 300 }, (_, i) => `${prefix}${i}`)];
      for (let i = 0; i < labels.length; i++) {
        send(labels[i] as string);
        if (i % 50 === 49) await clock.tick(10);
      }
      await clock.tick(100);
    };
    await each('d', (label) => a.network.send('b', label, Buffer.from('d')));
    await each('n', (label) => {
      a.network.broadcast(label, Buffer.from('n'));
      b.network.broadcast(label, Buffer.from('n'));
    });
    for (const mode of ['broadcast', 'both'] as const) {
      a.network.updateConfig({ directSendMode: mode });
      await each(mode, (label) => a.network.send('b', label, Buffer.from('m')));
    }
    // Every path carried 300 unknown labels: d (direct), rd (replies by address), qrd
    // (replies to those), n (broadcasts both ways), broadcast and both (send modes).
    // (k1 and k2 are sent on every path too, but not answered.)
    assert.equal(
      b.network.stats().incoming.delivered,
      4 * 302 + 300,
      'd, n, broadcast, both (deduplicated), qrd',
    );
    assert.equal(a.network.stats().incoming.delivered, 302 + 300, 'n, rd');

    const labelled = (Object.keys(METRICS) as MetricName[]).filter((name) =>
      (METRICS[name].labels as readonly string[]).includes('label'),
    );
    assert.ok(labelled.length >= 5);
    for (const [id, node] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const text = await node.metrics.metricsText();
      for (const name of labelled) {
        const values = new Set<string>();
        for (const m of text.matchAll(
          new RegExp(`^${name}(?:_bucket|_sum|_count)?\\{[^}]*label="([^"]*)"`, 'gm'),
        ))
          values.add(m[1] as string);
        assert.ok(
          values.size <= known.length + 1,
          `${id} ${name}: ${values.size} label values: ${[...values].slice(0, 5)}`,
        );
        for (const v of values) assert.ok([...known, 'other'].includes(v), `${id} ${name}: label ${v}`);
      }
      // One series per label and mode for sent bytes: the issue saw 301 of them.
      const sent = await series(node.metrics, 'peerpost_sent_bytes_total');
      assert.ok(sent.length <= 2 * (known.length + 1), `${id}: ${sent.length} sent-bytes series`);
    }

    // knownLabels is live: a label made known later gets its own series on both sides.
    for (const n of [a, b]) n.network.updateConfig({ knownLabels: [...known, 'late'] });
    a.network.updateConfig({ directSendMode: 'direct' });
    a.network.send('b', 'late', Buffer.from('late'));
    b.network.broadcast('late', Buffer.from('late'));
    await clock.tick(100);
    const late = { label: 'late', mode: 'direct' };
    const has = async (m: PrometheusMetrics, name: MetricName, labels: Record<string, string>) =>
      (await series(m, name)).some(
        (s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v) && s.value > 0,
      );
    assert.ok(await has(a.metrics, 'peerpost_sent_bytes_total', late));
    assert.ok(await has(b.metrics, 'peerpost_received_bytes_total', late));
    assert.ok(await has(b.metrics, 'peerpost_sent_bytes_total', { label: 'late', mode: 'broadcast' }));
    assert.ok(await has(a.metrics, 'peerpost_received_bytes_total', { label: 'late', mode: 'broadcast' }));
    await Promise.all([a.network.close(), b.network.close()]);
    await memory.close();
  });
});
