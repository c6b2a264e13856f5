import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import type { Labels, MetricName, Metrics } from '../../src/metrics/types.js';
import { type EtcdRegistry, startEtcdRegistry } from '../../src/registry/etcd.js';
import type { Topology } from '../../src/topology/types.js';
import { closeAll, enc, makeCredentials, startNode, type TestNode, until } from '../network/helpers.js';
import { type EtcdCluster, startEtcdCluster } from './etcd-server.js';
import { FakeNetwork } from './shared.js';

/**
 * The etcd registry against a real 3-member etcd cluster (Debian's etcd-server): a member
 * killed while nodes join and leave, and the whole cluster killed and restarted on its data.
 */

let cluster: EtcdCluster;
/** A plain client on every member, to look at etcd directly. */
let admin: Etcd3;
let prefixes = 0;
const freshPrefix = () => `/peerpost-cluster-test/${process.pid}-${++prefixes}/`;

before(async () => {
  cluster = await startEtcdCluster(3);
  admin = new Etcd3({ hosts: [...cluster.endpoints] });
});

after(async () => {
  admin?.close();
  await cluster?.remove();
});

/** Metrics that keep each gauge's last value and each counter's sum, by name and labels. */
class RecordingMetrics implements Metrics {
  readonly values = new Map<string, number>();
  inc(name: MetricName, labels: Labels = {}, value = 1): void {
    const key = `${name}${JSON.stringify(labels)}`;
    this.values.set(key, (this.values.get(key) ?? 0) + value);
  }
  set(name: MetricName, value: number, labels: Labels = {}): void {
    this.values.set(`${name}${JSON.stringify(labels)}`, value);
  }
  observe(): void {}
  get(name: MetricName, labels: Labels = {}): number | undefined {
    return this.values.get(`${name}${JSON.stringify(labels)}`);
  }
  /** The sum of a counter over all its label sets. */
  total(name: MetricName): number {
    let sum = 0;
    for (const [key, v] of this.values) if (key.startsWith(`${name}{`)) sum += v;
    return sum;
  }
}

const ids = (topology: Topology) => [...topology.keys()].sort();

/** The index of the member that leads `c` now (asked of each member on its own). */
async function leaderOf(c: EtcdCluster): Promise<number> {
  for (const [i, member] of c.members.entries()) {
    const client = new Etcd3({ hosts: [member.endpoint] });
    try {
      const status = await client.maintenance.status();
      if (status.leader === status.header.member_id) return i;
    } finally {
      client.close();
    }
  }
  throw new Error('no member leads');
}

/** The keys under `prefix`, read through every member (retried: a member may be down or electing). */
async function keysUnder(prefix: string): Promise<string[]> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await admin.getAll().prefix(prefix).keys()).map((k) => k.slice(prefix.length)).sort();
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test('3 members, one killed (the leader, then a follower) while nodes join and leave: membership keeps working', async () => {
  const prefix = freshPrefix();
  // Every registry is given all three endpoints.
  const options = { endpoints: cluster.endpoints, prefix, maxBackoffMs: 300 };
  const nets = Object.fromEntries(
    ['a', 'b', 'c', 'd'].map((id, i) => [id, new FakeNetwork(id, `127.0.0.1:${7401 + i}`)]),
  ) as Record<'a' | 'b' | 'c' | 'd', FakeNetwork>;
  const { a, b, c, d } = nets;
  const registries: EtcdRegistry[] = [];
  const start = async (network: FakeNetwork) => {
    const r = await startEtcdRegistry({ ...options, network });
    registries.push(r);
    return r;
  };
  try {
    const ra = await start(a);
    const rb = await start(b);
    await until(() => a.topology.has('b') && b.topology.has('a'), 'a and b find each other');

    // The leader dies: the cluster elects another one and keeps a quorum of two. A write
    // sent just then can wait for etcd's request timeout (about 5 s), as c's lease may.
    const leader = await leaderOf(cluster);
    await cluster.members[leader]!.kill();
    const rc = await start(c); // joins
    await rb.close(); // leaves (its lease is revoked through a live member)
    await until(
      () => ids(a.topology).join() === 'a,c' && ids(c.topology).join() === 'a,c',
      `a and c see each other and not b (a: ${ids(a.topology)}, c: ${ids(c.topology)})`,
    );
    assert.deepEqual(await keysUnder(prefix), ['a', 'c']);
    assert.equal(rc.stats().registered, true);

    // It comes back and catches up; then a follower dies (no election this time).
    await cluster.members[leader]!.restart();
    const leaderNow = await leaderOf(cluster);
    const other = [0, 1, 2].find((i) => i !== leaderNow)!;
    await cluster.members[other]!.kill();
    const rd = await start(d); // joins
    await rc.close(); // leaves
    await until(
      () => ids(a.topology).join() === 'a,d' && ids(d.topology).join() === 'a,d',
      `a and d see each other and not c (a: ${ids(a.topology)}, d: ${ids(d.topology)})`,
    );
    assert.deepEqual(await keysUnder(prefix), ['a', 'd']);

    await cluster.members[other]!.restart();
    await until(
      () => [ra, rd].every((r) => r.stats().state === 'synced' && r.stats().registered),
      'a and d are synced and registered',
    );
    // A change written now reaches both.
    await admin.put(`${prefix}e`).value(JSON.stringify({ v: 1, addresses: [{ address: '127.0.0.1:7499' }] }));
    await until(() => a.topology.has('e') && d.topology.has('e'), 'a and d see e');
    for (const r of [ra, rd]) assert.equal(r.stats().ignoredEntries, 0);
  } finally {
    await Promise.all(registries.map((r) => r.close()));
  }
});

test('the whole cluster killed and restarted: nodes keep their tables and keep sending, then re-register under a new lease and discover again', async () => {
  const prefix = freshPrefix();
  const [ca, cb, cc] = await makeCredentials(3);
  const nodes: TestNode[] = [await startNode('a', ca!), await startNode('b', cb!)];
  const [a, b] = nodes as [TestNode, TestNode];
  const registries: EtcdRegistry[] = [];
  // A short lease: the outage outlasts it, so the nodes must register again.
  const options = { endpoints: cluster.endpoints, prefix, leaseTtlSeconds: 2, maxBackoffMs: 300 };
  const metrics = new RecordingMetrics(); // a's
  const start = async (node: TestNode) => {
    const r = await startEtcdRegistry({
      ...options,
      network: node.network,
      identity: { certHash: node.certHash },
      ...(node === a ? { metrics } : {}),
    });
    registries.push(r);
    return r;
  };
  const leaseOf = async (id: string) => (await admin.get(`${prefix}${id}`).exec()).kvs[0]?.lease;
  try {
    const ra = await start(a);
    const rb = await start(b);
    await until(
      () => registries.every((r) => r.stats().entries === 2 && r.stats().registered),
      'a and b registered and found each other',
    );
    const gauges = () => ({
      connected: metrics.get('peerpost_registry_connected'),
      registered: metrics.get('peerpost_registry_registered'),
      entries: metrics.get('peerpost_registry_entries'),
    });
    assert.deepEqual(gauges(), { connected: 1, registered: 1, entries: 2 });
    assert.equal(metrics.get('peerpost_registry_revision'), ra.stats().revision);
    const tableOfA = a.network.topology;
    const leaseBefore = await leaseOf('a');
    assert.ok(leaseBefore !== undefined && leaseBefore !== '0');

    await cluster.kill();
    await until(
      () => registries.every((r) => r.stats().state === 'reconnecting' && !r.stats().registered),
      'both notice the outage and lose their leases',
    );
    assert.deepEqual(gauges(), { connected: 0, registered: 0, entries: 2 });
    // The tables are kept, and a message to a known peer is written meanwhile.
    assert.deepEqual(a.network.topology, tableOfA);
    assert.deepEqual(b.network.topology.get('a'), [
      { address: a.network.address, expectedIdentity: { certHash: a.certHash } },
    ]);
    const id = a.network.send('b', 'Hello', enc('during the outage'));
    await until(() => b.received.length === 1, 'b gets the message sent during the outage');
    assert.equal(Buffer.from(b.received[0]!.data).toString(), 'during the outage');
    assert.deepEqual(
      a.outcomes.filter((o) => o.messageId === id).map((o) => o.outcome.kind),
      ['written'],
    );

    await cluster.restart();
    await until(
      () => registries.every((r) => r.stats().state === 'synced' && r.stats().registered),
      'both register again and watch again',
    );
    for (const r of registries) {
      assert.ok(r.stats().reRegistrations >= 1, 'a new lease was granted');
      assert.ok(r.stats().errors >= 1);
    }
    // a's metrics say the same as its stats.
    const stats = ra.stats();
    assert.equal(gauges().connected, 1);
    assert.equal(gauges().registered, 1);
    assert.equal(metrics.get('peerpost_registry_reregistrations_total'), stats.reRegistrations);
    assert.equal(metrics.get('peerpost_registry_watch_restarts_total'), stats.watchRestarts);
    assert.ok(stats.watchRestarts >= 1);
    assert.equal(metrics.total('peerpost_registry_errors_total'), stats.errors);
    assert.ok((metrics.get('peerpost_registry_errors_total', { operation: 'lease' }) ?? 0) >= 1);
    const leaseAfter = await leaseOf('a');
    assert.ok(leaseAfter !== undefined && leaseAfter !== leaseBefore, `new lease ${leaseAfter}`);
    // The old leases expire on the restarted cluster without taking the entries along.
    await until(() => a.network.topology.has('b') && b.network.topology.has('a'), 'a and b still listed');

    // Discovery works again: c joins, b leaves.
    const c = await startNode('c', cc!);
    nodes.push(c);
    await start(c);
    await until(
      () => ids(a.network.topology).join() === 'a,b,c' && ids(c.network.topology).join() === 'a,b,c',
      'a and c find each other',
    );
    await rb.close();
    await until(
      () => ids(a.network.topology).join() === 'a,c' && ids(c.network.topology).join() === 'a,c',
      'a and c see b leave',
    );
    assert.deepEqual(await keysUnder(prefix), ['a', 'c']);
    a.network.send('c', 'Hello', enc('after the restart'));
    await until(() => c.received.length === 1, 'c gets a message from a');
    assert.equal(ra.stats().ignoredEntries, 0);
    assert.equal(metrics.get('peerpost_registry_ignored_entries_total'), undefined);
    assert.equal(metrics.get('peerpost_registry_revision'), ra.stats().revision);
    await ra.close();
    assert.deepEqual(gauges(), { connected: 0, registered: 0, entries: 2 });
  } finally {
    await Promise.all(registries.map((r) => r.close()));
    await closeAll(nodes);
  }
});
