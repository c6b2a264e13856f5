import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { PeerpostError } from '../../src/errors.js';
import { type EtcdRegistry, startEtcdRegistry } from '../../src/registry/etcd.js';
import type { Topology } from '../../src/topology/types.js';
import {
  CountingMetrics,
  closeAll,
  enc,
  makeCredentials,
  startNode,
  type TestNode,
  until,
} from '../network/helpers.js';
import { RecordingLogger } from '../transport/tls-helpers.js';
import { CuttableProxy, type EtcdServer, startEtcd } from './etcd-server.js';
import { FakeNetwork, useEtcd } from './shared.js';

/**
 * The etcd registry against real etcd processes (Debian's etcd-server): registration under
 * a lease, discovery by list + watch, removal on close and on lease expiry, bad entries,
 * and an etcd restart under a live watch.
 */

let etcd: EtcdServer;
/** A plain client to look at and write to etcd directly. */
let admin: Etcd3;
let prefixes = 0;
/** A prefix of its own for each test, so that the tests share one etcd. */
const freshPrefix = () => `/peerpost-test/${process.pid}-${++prefixes}/`;

useEtcd((e, a) => {
  etcd = e;
  admin = a;
});

const addressesOf = (topology: Topology, id: string) => topology.get(id)?.map((a) => a.address);

test('two nodes register, learn each other with the pinned certificate hash, and exchange messages', async () => {
  const prefix = freshPrefix();
  const [ca, cb] = await makeCredentials(2);
  const nodes: TestNode[] = [await startNode('a', ca!), await startNode('b', cb!)];
  const registries: EtcdRegistry[] = [];
  try {
    for (const node of nodes) {
      registries.push(
        await startEtcdRegistry({
          network: node.network,
          endpoints: [etcd.endpoint],
          prefix,
          identity: { certHash: node.certHash },
        }),
      );
    }
    const [a, b] = nodes as [TestNode, TestNode];
    await until(
      () => registries.every((r) => r.stats().entries === 2 && r.stats().registered),
      'each node learns both entries from etcd',
    );
    assert.deepEqual(a.network.topology.get('b'), [
      { address: b.network.address, expectedIdentity: { certHash: b.certHash } },
    ]);
    assert.deepEqual(b.network.topology.get('a'), [
      { address: a.network.address, expectedIdentity: { certHash: a.certHash } },
    ]);
    // The entries in etcd are what the nodes advertised.
    const stored = JSON.parse((await admin.get(`${prefix}a`).string()) ?? 'null');
    assert.deepEqual(stored, { v: 1, addresses: [{ address: a.network.address, certHash: a.certHash }] });

    a.network.send('b', 'Hello', enc('from a'));
    b.network.send('a', 'Hello', enc('from b'));
    await until(() => a.received.length === 1 && b.received.length === 1, 'both messages arrive');
    assert.equal(Buffer.from(b.received[0]!.data).toString(), 'from a');
    assert.equal(b.received[0]!.from.peerId, 'a');
    assert.equal(Buffer.from(a.received[0]!.data).toString(), 'from b');
    for (const r of registries) {
      const stats = r.stats();
      assert.equal(stats.state, 'synced');
      assert.equal(stats.registered, true);
      assert.equal(stats.entries, 2);
      assert.equal(stats.ignoredEntries, 0);
    }
  } finally {
    await Promise.all(registries.map((r) => r.close()));
    await closeAll(nodes);
  }
});

test('a clean close revokes the lease: the entry leaves etcd and the other node at once', async () => {
  const prefix = freshPrefix();
  const a = new FakeNetwork('a', '127.0.0.1:7001');
  const b = new FakeNetwork('b', '127.0.0.1:7002');
  // A long TTL: only the revocation can make the entry go within the wait below.
  const options = { endpoints: [etcd.endpoint], prefix, leaseTtlSeconds: 600 };
  const ra = await startEtcdRegistry({ ...options, network: a });
  const rb = await startEtcdRegistry({ ...options, network: b });
  try {
    await until(() => b.topology.has('a') && a.topology.has('b'), 'both registered');
    const started = Date.now();
    await ra.close();
    assert.equal(
      await admin.get(`${prefix}a`).string(),
      null,
      'the entry is gone from etcd when close() resolves',
    );
    await until(() => !b.topology.has('a'), 'b drops a', 5000);
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(addressesOf(b.topology, 'b'), ['127.0.0.1:7002']);
    assert.equal(ra.stats().state, 'closed');
    assert.equal(ra.stats().registered, false);
  } finally {
    await Promise.all([ra.close(), rb.close()]);
  }
});

test('a SIGKILLed node disappears from the others when its lease expires', async () => {
  const prefix = freshPrefix();
  const watcher = new FakeNetwork('watcher', '127.0.0.1:7003');
  const registry = await startEtcdRegistry({ network: watcher, endpoints: [etcd.endpoint], prefix });
  const script = fileURLToPath(new URL('./registered-node.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, etcd.endpoint, prefix, 'doomed', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
  });
  let gone = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      gone = true;
      resolve();
    }),
  );
  try {
    await until(() => stdout.includes('registered ') || gone, 'the child registers', 20_000).catch(
      (err: Error) => {
        throw new Error(`${err.message}; its output: ${output}`);
      },
    );
    assert.ok(!gone, `the child exited before registering: ${output}`);
    const address = /^registered (\S+)/m.exec(stdout)![1]!;
    await until(() => watcher.topology.has('doomed'), 'the watcher learns the child');
    assert.deepEqual(addressesOf(watcher.topology, 'doomed'), [address]);
    assert.ok(watcher.topology.get('doomed')![0]!.expectedIdentity, 'the entry carries the identity');

    const killedAt = Date.now();
    child.kill('SIGKILL');
    await exited;
    await until(() => !watcher.topology.has('doomed'), 'the entry expires with the lease', 10_000);
    const took = Date.now() - killedAt;
    // The lease (2 s) was renewed every ~0.7 s: it cannot expire much sooner than that.
    assert.ok(took >= 1000, `gone after ${took} ms, before the lease could expire`);
    assert.equal(await admin.get(`${prefix}doomed`).string(), null);
  } finally {
    child.kill('SIGKILL');
    await registry.close();
  }
});

test('a malformed or oversized entry is ignored with a warning and counted; the table is kept', async () => {
  const prefix = freshPrefix();
  const logger = new RecordingLogger();
  const a = new FakeNetwork('a', '127.0.0.1:7004');
  const b = new FakeNetwork('b', '127.0.0.1:7005');
  const options = { endpoints: [etcd.endpoint], prefix };
  const staticTopology = { carol: ['127.0.0.1:7100'] };
  const metrics = new CountingMetrics();
  const ra = await startEtcdRegistry({ ...options, network: a, logger, staticTopology, metrics });
  const rb = await startEtcdRegistry({ ...options, network: b });
  let late: EtcdRegistry | undefined;
  try {
    await until(() => a.topology.has('b'), 'a learns b');
    assert.deepEqual(addressesOf(a.topology, 'carol'), ['127.0.0.1:7100'], 'static entries are kept');
    const before = a.topology;

    const bad: [string, string][] = [
      ['mallory', 'not json'],
      ['big', JSON.stringify({ v: 1, addresses: [{ address: '127.0.0.1:1' }], pad: 'x'.repeat(20_000) })],
      ['bad-address', JSON.stringify({ v: 1, addresses: [{ address: 'nowhere' }] })],
      [
        'too-many',
        JSON.stringify({ v: 1, addresses: Array.from({ length: 17 }, (_, i) => `127.0.0.1:${i + 1}`) }),
      ],
      ['v2', JSON.stringify({ v: 2, addresses: [{ address: '127.0.0.1:1' }] })],
      ['bad-hash', JSON.stringify({ v: 1, addresses: [{ address: '127.0.0.1:1', certHash: 'abc' }] })],
      // A registry entry for a static peer id: the static entry wins.
      ['carol', JSON.stringify({ v: 1, addresses: [{ address: '127.0.0.1:6666' }] })],
      // b's entry overwritten with garbage: b keeps its last valid addresses.
      ['b', '{"v":1,"addresses":'],
    ];
    for (const [key, value] of bad) await admin.put(`${prefix}${key}`).value(value);
    await until(
      () => ra.stats().ignoredEntries >= 7,
      `the bad entries are counted (${ra.stats().ignoredEntries})`,
    );
    assert.equal(ra.stats().ignoredEntries, 7);
    assert.equal(metrics.get('peerpost_registry_ignored_entries_total'), 7);
    const warned = logger.lines.filter((l) => l.level === 'warn' && l.msg === 'registry: entry ignored');
    assert.deepEqual(warned.map((l) => String(l.obj['key']).slice(prefix.length)).sort(), [
      'b',
      'bad-address',
      'bad-hash',
      'big',
      'mallory',
      'too-many',
      'v2',
    ]);
    assert.ok(warned.every((l) => typeof l.obj['problem'] === 'string'));
    // A valid entry written after the bad ones is still taken up.
    await admin
      .put(`${prefix}dave`)
      .value(JSON.stringify({ v: 1, addresses: [{ address: '127.0.0.1:7200' }] }));
    await until(() => a.topology.has('dave'), 'a learns dave');
    assert.deepEqual(addressesOf(a.topology, 'b'), addressesOf(before, 'b'));
    assert.deepEqual(addressesOf(a.topology, 'carol'), ['127.0.0.1:7100']);
    assert.deepEqual(addressesOf(a.topology, 'a'), ['127.0.0.1:7004']);
    assert.deepEqual(ra.entries().get('carol')?.[0]?.address, '127.0.0.1:6666', 'held, but not used');
    assert.equal(ra.stats().state, 'synced');

    // A registry that starts now meets the bad entries in its first listing.
    const c = new FakeNetwork('c', '127.0.0.1:7006');
    late = await startEtcdRegistry({ ...options, network: c, register: false });
    assert.equal(late.stats().state, 'synced');
    assert.deepEqual([...c.topology.keys()].sort(), ['a', 'carol', 'dave']);
    assert.equal(late.stats().ignoredEntries, 7);
  } finally {
    await Promise.all([ra.close(), rb.close(), late?.close()]);
  }
});

test('the watch survives an etcd restart, catches up, and the lease is kept', async () => {
  // An etcd of its own: this test kills it.
  const own = await startEtcd();
  const client = new Etcd3({ hosts: [own.endpoint] });
  const prefix = freshPrefix();
  const logger = new RecordingLogger();
  const a = new FakeNetwork('a', '127.0.0.1:7007');
  const b = new FakeNetwork('b', '127.0.0.1:7008');
  const options = { endpoints: [own.endpoint], prefix, maxBackoffMs: 500 };
  const ra = await startEtcdRegistry({ ...options, network: a, logger });
  const rb = await startEtcdRegistry({ ...options, network: b });
  try {
    await until(() => a.topology.has('b') && b.topology.has('a'), 'both registered');
    await own.kill();
    await until(() => ra.stats().state === 'reconnecting', 'a notices that etcd is gone');
    assert.ok(a.topology.has('b'), 'the table is kept while etcd is down');

    await own.restart();
    await client
      .put(`${prefix}dave`)
      .value(JSON.stringify({ v: 1, addresses: [{ address: '127.0.0.1:7300' }] }));
    await until(() => a.topology.has('dave') && b.topology.has('dave'), 'both catch up', 20_000);
    await until(() => ra.stats().state === 'synced', 'a watches again', 20_000);
    assert.ok(ra.stats().watchRestarts >= 1);
    assert.ok(logger.lines.some((l) => l.msg === 'registry: watch lost; listing again'));
    assert.deepEqual(addressesOf(a.topology, 'b'), ['127.0.0.1:7008']);
    // The leases outlived the restart: the entries are still in etcd, and changes flow again.
    assert.deepEqual((await client.getAll().prefix(prefix).keys()).sort(), [
      `${prefix}a`,
      `${prefix}b`,
      `${prefix}dave`,
    ]);
    await client.delete().key(`${prefix}dave`);
    await until(() => !a.topology.has('dave'), 'a sees the delete');
    await rb.close();
    await until(() => !a.topology.has('b'), 'a sees b leave');
  } finally {
    await Promise.all([ra.close(), rb.close()]);
    client.close();
    await own.remove();
  }
});

test('own entry deleted by hand is written again while the lease lives', async () => {
  const prefix = freshPrefix();
  const a = new FakeNetwork('a', '127.0.0.1:7009');
  const registry = await startEtcdRegistry({ network: a, endpoints: [etcd.endpoint], prefix });
  try {
    await until(() => a.topology.has('a') && registry.stats().registered, 'a sees itself');
    const seen = a.tables.length;
    await admin.delete().key(`${prefix}a`);
    await until(() => a.tables.slice(seen).some((t) => !t.has('a')), 'a sees the delete');
    await until(() => a.topology.has('a'), 'the entry comes back');
    assert.notEqual(await admin.get(`${prefix}a`).string(), null);
  } finally {
    await registry.close();
  }
});

test('invalid options are rejected with ERR_INVALID_OPTION before anything starts', async () => {
  const network = new FakeNetwork('a', '127.0.0.1:7010');
  const base = { network, endpoints: [etcd.endpoint] };
  const cases: [object, RegExp][] = [
    [{ endpoints: [] }, /`endpoints`/],
    [{ endpoints: ['ftp://x'] }, /`endpoints.0`/],
    [{ prefix: '/no-slash' }, /`prefix`: must end with "\/"/],
    [{ leaseTtlSeconds: 0 }, /`leaseTtlSeconds`/],
    [{ advertise: ['0.0.0.0:7000'] }, /`advertise.0`: .*not reachable/],
    [{ advertise: ['nowhere'] }, /`advertise.0`/],
    [{ identity: { certHash: 'abc' } }, /`identity`/],
    [{ username: 'u' }, /`password`/],
    [{ network: new FakeNetwork('', 'x:1') }, /`network`/],
  ];
  for (const [change, message] of cases) {
    await assert.rejects(
      startEtcdRegistry({ ...base, ...change } as Parameters<typeof startEtcdRegistry>[0]),
      (err: unknown) =>
        err instanceof PeerpostError && err.code === 'ERR_INVALID_OPTION' && message.test(err.message),
      JSON.stringify(change),
    );
  }
  assert.equal(network.tables.length, 0);
});

test('a watch cut off from etcd lists again and applies what it missed (puts, deletes, a compaction)', async () => {
  const prefix = freshPrefix();
  const { proxy, endpoint } = await CuttableProxy.start(etcd.endpoint);
  const logger = new RecordingLogger();
  const a = new FakeNetwork('a', '127.0.0.1:7011');
  const ra = await startEtcdRegistry({
    network: a,
    endpoints: [endpoint],
    prefix,
    logger,
    leaseTtlSeconds: 30,
    maxBackoffMs: 200,
  });
  const entry = (port: number) => JSON.stringify({ v: 1, addresses: [{ address: `127.0.0.1:${port}` }] });
  try {
    await admin.put(`${prefix}b`).value(entry(7012));
    await admin.put(`${prefix}c`).value(entry(7013));
    await until(() => a.topology.has('b') && a.topology.has('c'), 'a learns b and c');

    proxy.cut();
    await until(() => ra.stats().state === 'reconnecting', 'a loses its watch');
    await admin.delete().key(`${prefix}b`);
    await admin.put(`${prefix}c`).value(entry(7014));
    const put = await admin.put(`${prefix}d`).value(entry(7015));
    // Compact away the history a resumed watch would need.
    await admin.kv.compact({ revision: put.header.revision, physical: true });
    assert.ok(a.topology.has('b'), 'the table is kept while cut off');
    const tablesBefore = a.tables.length;

    proxy.restore();
    await until(
      () =>
        !a.topology.has('b') && a.topology.has('d') && addressesOf(a.topology, 'c')?.[0] === '127.0.0.1:7014',
      'a catches up',
      20_000,
    );
    assert.deepEqual([...a.topology.keys()].sort(), ['a', 'c', 'd']);
    await until(() => ra.stats().state === 'synced', 'a watches again');
    // The missed changes arrive as one new table (the listing), none of them replayed after it.
    assert.equal(a.tables.length - tablesBefore, 1, 'one table applied on catching up');
    assert.ok(ra.stats().watchRestarts >= 1);
    // And the new watch works.
    await admin.delete().key(`${prefix}d`);
    await until(() => !a.topology.has('d'), 'a sees a delete after the restart of its watch');
  } finally {
    await ra.close();
    await proxy.close();
  }
});
