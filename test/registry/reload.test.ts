import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { stringify } from 'yaml';
import { type NodeService, startNodeService } from '../../src/node/service.js';
import { startEtcdRegistry } from '../../src/registry/etcd.js';
import type { Topology } from '../../src/topology/types.js';
import { until } from '../network/helpers.js';
import { makeCredentials, tempDir } from '../node/cli-harness.js';
import { CuttableProxy, type EtcdServer } from './etcd-server.js';
import { FakeNetwork, useEtcd } from './shared.js';

/**
 * Live reload of `registry.etcd` in `peerpost node` (NodeService) against a real etcd: the
 * registry is replaced (the old lease revoked, the new source's peers taken up), removed
 * (back to the static table), added again; an invalid new setting keeps the running one.
 */

let etcd: EtcdServer;
let admin: Etcd3;

useEtcd((e, a) => {
  etcd = e;
  admin = a;
});

/** Log lines of the node, parsed. */
function logSink(): { stream: Writable; lines: { msg?: string; [k: string]: unknown }[] } {
  const lines: { msg?: string }[] = [];
  let rest = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      rest += chunk.toString();
      const parts = rest.split('\n');
      rest = parts.pop() ?? '';
      for (const part of parts) if (part.trim() !== '') lines.push(JSON.parse(part));
      done();
    },
  });
  return { stream, lines };
}

const ids = (topology: Topology) => [...topology.keys()].sort();
const entry = (port: number) => JSON.stringify({ v: 1, addresses: [{ address: `127.0.0.1:${port}` }] });

/** The lease of `key` and its granted TTL, or undefined when the key is absent. */
async function leaseOf(key: string): Promise<{ id: string; grantedTtl: number } | undefined> {
  const res = await admin.kv.range({ key: Buffer.from(key) });
  const kv = res.kvs[0];
  if (kv === undefined) return undefined;
  const ttl = await admin.leaseClient.leaseTimeToLive({ ID: kv.lease });
  return { id: kv.lease, grantedTtl: Number(ttl.grantedTTL) };
}

test('registry.etcd reloaded live: new TTL without a gap, another prefix, invalid kept, removed, added back', async () => {
  const base = `/peerpost-reload-test/${process.pid}`;
  const A = `${base}/a/`;
  const B = `${base}/b/`;
  await admin.put(`${A}x`).value(entry(7101));
  await admin.put(`${B}y`).value(entry(7102));
  // Another member of cluster A, to see what the node's entry does during each reload.
  const watcherNet = new FakeNetwork('w', '127.0.0.1:7199');
  const watcher = await startEtcdRegistry({
    network: watcherNet,
    endpoints: [etcd.endpoint],
    prefix: A,
    register: false,
  });

  const tmp = tempDir('registry-reload');
  const logs = logSink();
  let node: NodeService | undefined;
  const path = join(tmp.dir, 'n.yaml');
  // Replaced whole (written beside it, then renamed), as deploy tools and most editors do:
  // the node's own file watcher may be reading the file at any moment, and a file being
  // rewritten in place can be read half-written (a CI run read `ca: missing-ca.` that way;
  // the node then rightly kept its configuration, but the test counted that reload's
  // failure as the one it caused).
  const write = (registry: object | undefined) => {
    writeFileSync(
      `${path}.new`,
      stringify({
        nodeId: 'n',
        listen: '127.0.0.1:0',
        credentials: { key: 'n/key.pem', cert: 'n/cert.pem' },
        topology: { static: ['127.0.0.1:9'] },
        limits: { drainTimeoutMs: 100 },
        ...(registry === undefined ? {} : { registry }),
      }),
    );
    renameSync(`${path}.new`, path);
  };
  try {
    const hash = await makeCredentials(tmp.dir, 'n');
    write({ etcd: { endpoints: [etcd.endpoint], prefix: A, leaseTtlSeconds: 10 } });
    node = await startNodeService({ configPath: path, logDestination: logs.stream });
    const n = node;
    /**
     * Reloads after a write and returns the descriptions of the changes applied. The file
     * watcher reloads on its own too: a reload it started before this one (for an earlier
     * write's late events) may read the new file first; then this one finds nothing left
     * to change, and the change is in that reload's "configuration reloaded" log line
     * (after the failed reload of step 3, "configuration reloaded: repaired after a failed
     * reload": the first good reload says it repaired the failure).
     * Either way the file's change must have been applied exactly once since `mark`.
     */
    const applied = new Set([
      'configuration reloaded',
      'configuration reloaded: repaired after a failed reload',
    ]);
    const reloaded = async (mark: number): Promise<readonly string[]> => {
      const r = await n.reload();
      const byWatcher = logs.lines.slice(mark).filter((l) => applied.has(String(l.msg)));
      if (r.kind === 'changed') return r.changes.map((c) => c.description);
      assert.equal(r.kind, 'unchanged', `reload: ${JSON.stringify(r)}`);
      assert.equal(byWatcher.length, 1, 'the watcher applied the change');
      return byWatcher[0]?.changes as string[];
    };
    await until(() => ids(n.network.topology).join() === 'n,static,x', 'n learns x from cluster A');
    await until(() => watcherNet.topology.has('n'), 'cluster A sees n');
    assert.deepEqual(watcherNet.topology.get('n'), [
      { address: n.address, expectedIdentity: { certHash: hash } },
    ]);
    const first = n.registry!;
    const firstLease = (await leaseOf(`${A}n`))!;
    assert.equal(firstLease.grantedTtl, 10);

    // 1. Same prefix, another TTL: a new registry under a new lease; the entry never leaves.
    const tablesBefore = watcherNet.tables.length;
    let mark = logs.lines.length;
    write({ etcd: { endpoints: [etcd.endpoint], prefix: A, leaseTtlSeconds: 5 } });
    assert.deepEqual(await reloaded(mark), ['registry.etcd: leaseTtlSeconds changed']);
    assert.notEqual(n.registry, first, 'the registry was replaced');
    assert.equal(first.stats().state, 'closed');
    assert.equal(n.registry!.stats().state, 'synced');
    const secondLease = (await leaseOf(`${A}n`))!;
    assert.equal(secondLease.grantedTtl, 5, 'the entry is under a lease of the new TTL');
    assert.notEqual(secondLease.id, firstLease.id);
    const old = await admin.leaseClient.leaseTimeToLive({ ID: firstLease.id });
    assert.equal(old.TTL, '-1', 'the old lease is revoked');
    assert.ok(
      watcherNet.tables.slice(tablesBefore).every((t) => t.has('n')),
      'the other members never lost n',
    );
    assert.ok(watcherNet.topology.has('n'));
    assert.deepEqual(ids(n.network.topology), ['n', 'static', 'x']);

    // 2. Another prefix (cluster B): the table follows B; n leaves A.
    mark = logs.lines.length;
    write({ etcd: { endpoints: [etcd.endpoint], prefix: B, leaseTtlSeconds: 5 } });
    assert.ok((await reloaded(mark)).length > 0, 'the prefix change was applied');
    // At once when the reload resolves: B's peers in, A's out (its own entry follows by the watch).
    assert.deepEqual(
      ids(n.network.topology).filter((id) => id !== 'n'),
      ['static', 'y'],
      'the table is cluster B + static',
    );
    await until(() => n.network.topology.has('n'), "n's own entry in B");
    assert.deepEqual(n.network.topology.get('y'), [{ address: '127.0.0.1:7102' }]);
    assert.equal(await admin.get(`${A}n`).string(), null, 'n left cluster A (lease revoked)');
    assert.notEqual(await admin.get(`${B}n`).string(), null, 'n is registered in cluster B');
    await until(() => !watcherNet.topology.has('n'), 'cluster A drops n');
    const status = n.status().registry!;
    assert.equal(status.state, 'synced');
    assert.equal(status.registered, true);
    assert.equal(status.entries, 2);
    // Later changes in B reach the node; changes in A do not.
    await admin.put(`${B}z`).value(entry(7103));
    await admin.put(`${A}x2`).value(entry(7104));
    await until(() => n.network.topology.has('z'), 'n follows cluster B');
    assert.ok(!n.network.topology.has('x2'));
    assert.match(await n.metrics.metricsText(), /^peerpost_registry_connected 1$/m);
    assert.match(await n.metrics.metricsText(), /^peerpost_registry_entries 3$/m);

    // 3. An invalid setting (an unreadable TLS file) keeps the running registry and says why.
    const running = n.registry!;
    write({
      etcd: { endpoints: [etcd.endpoint.replace('http://', '')], prefix: A, tls: { ca: 'missing-ca.pem' } },
    });
    const r3 = await n.reload();
    assert.equal(r3.kind, 'invalid');
    assert.match(
      r3.kind === 'invalid' ? r3.error.message : '',
      /registry\.etcd\.tls\.ca: cannot read .*missing-ca\.pem: ENOENT/,
    );
    const failure = logs.lines.find(
      (l) => l.msg === 'configuration reload failed: keeping the running configuration',
    );
    assert.match(String(failure?.['problem']), /missing-ca\.pem: ENOENT/);
    assert.equal(n.registry, running, 'the running registry is kept');
    assert.equal(running.stats().state, 'synced');
    assert.deepEqual(ids(n.network.topology), ['n', 'static', 'y', 'z']);
    assert.notEqual(await admin.get(`${B}n`).string(), null);

    // 4. Registry removed: the static table, and n leaves cluster B.
    mark = logs.lines.length;
    write(undefined);
    assert.deepEqual(await reloaded(mark), ['registry.etcd: removed']);
    assert.equal(n.registry, undefined);
    assert.equal(n.status().registry, undefined);
    assert.equal(running.stats().state, 'closed');
    assert.deepEqual(ids(n.network.topology), ['static']);
    assert.equal(await admin.get(`${B}n`).string(), null, 'its lease was revoked');
    assert.match(await n.metrics.metricsText(), /^peerpost_registry_connected 0$/m);
    assert.match(await n.metrics.metricsText(), /^peerpost_registry_entries 0$/m);

    // 5. Added back (cluster A): registered and discovering again.
    mark = logs.lines.length;
    write({ etcd: { endpoints: [etcd.endpoint], prefix: A } });
    assert.deepEqual(await reloaded(mark), ['registry.etcd: added']);
    assert.deepEqual(
      ids(n.network.topology).filter((id) => id !== 'n'),
      ['static', 'x', 'x2'],
    );
    assert.equal((await leaseOf(`${A}n`))?.grantedTtl, 10, 'the default TTL');
    await until(() => watcherNet.topology.has('n'), 'cluster A sees n again');
    assert.ok(
      logs.lines.some((l) => l.msg === 'registry: removed; the topology is the static table') &&
        logs.lines.some((l) => l.msg === 'registry: replaced by the new settings') &&
        logs.lines.some((l) => l.msg === 'registry: started'),
      'each switch is logged',
    );
    assert.ok(
      !JSON.stringify(logs.lines).includes('another writer'),
      'a handover is not reported as a duplicate node id',
    );

    // 6. New credentials: the entry follows the new certificate, and n is never missing.
    const rotated = await makeCredentials(tmp.dir, 'n-rotated');
    const tablesBeforeRotation = watcherNet.tables.length;
    mark = logs.lines.length;
    writeFileSync(
      path,
      stringify({
        nodeId: 'n',
        listen: '127.0.0.1:0',
        credentials: { key: 'n-rotated/key.pem', cert: 'n-rotated/cert.pem' },
        topology: { static: ['127.0.0.1:9'] },
        limits: { drainTimeoutMs: 100 },
        registry: { etcd: { endpoints: [etcd.endpoint], prefix: A } },
      }),
    );
    assert.ok((await reloaded(mark)).length > 0, 'the new credentials were applied');
    assert.equal(n.status().identity.certHash, rotated);
    assert.deepEqual(JSON.parse((await admin.get(`${A}n`).string())!).addresses, [
      { address: n.address, certHash: rotated },
    ]);
    await until(() => {
      const pinned = watcherNet.topology.get('n')?.[0]?.expectedIdentity;
      return pinned !== undefined && 'certHash' in pinned && pinned.certHash === rotated;
    }, 'cluster A pins the new certificate');
    assert.ok(
      watcherNet.tables.slice(tablesBeforeRotation).every((t) => t.has('n')),
      'the other members never lost n',
    );

    // Closing the node revokes the lease of the registry it uses now.
    await n.close();
    assert.equal(await admin.get(`${A}n`).string(), null);
  } finally {
    await node?.close();
    await watcher.close();
    tmp.remove();
  }
});

test('registry.etcd reloaded to an etcd that does not answer: the node keeps its table, then follows when it answers', async () => {
  const prefix = `/peerpost-reload-test/${process.pid}/down/`;
  await admin.put(`${prefix}x`).value(entry(7201));
  const { proxy, endpoint } = await CuttableProxy.start(etcd.endpoint);
  proxy.cut(); // the new endpoint refuses connections for now
  const tmp = tempDir('registry-reload-down');
  const logs = logSink();
  let node: NodeService | undefined;
  const path = join(tmp.dir, 'm.yaml');
  const write = (endpoints: string[]) =>
    writeFileSync(
      path,
      stringify({
        nodeId: 'm',
        listen: '127.0.0.1:0',
        credentials: { key: 'm/key.pem', cert: 'm/cert.pem' },
        limits: { drainTimeoutMs: 100 },
        registry: { etcd: { endpoints, prefix } },
      }),
    );
  try {
    await makeCredentials(tmp.dir, 'm');
    write([etcd.endpoint]);
    node = await startNodeService({ configPath: path, logDestination: logs.stream });
    const m = node;
    await until(() => m.network.topology.has('x'), 'm learns x');

    write([endpoint]);
    const started = Date.now();
    const r = await m.reload();
    assert.equal(r.kind, 'changed', 'valid settings are applied even while etcd does not answer');
    const took = Date.now() - started;
    assert.ok(took >= 4000 && took < 15_000, `the reload waited for the new etcd for ${took} ms`);
    assert.equal(m.registry!.stats().state === 'synced', false);
    assert.ok(m.network.topology.has('x'), 'the last table is kept');
    assert.equal(await admin.get(`${prefix}m`).string(), null, 'the old lease was revoked');
    assert.ok(
      logs.lines.some(
        (l) => l.msg === 'registry: etcd not reachable yet; keeping the current table and retrying',
      ),
    );

    await admin.delete().key(`${prefix}x`);
    await admin.put(`${prefix}y`).value(entry(7202));
    proxy.restore();
    await until(() => m.registry!.stats().state === 'synced', 'the new registry connects', 20_000);
    await until(() => m.network.topology.has('y') && !m.network.topology.has('x'), 'm follows etcd again');
    await until(() => m.registry!.stats().registered, 'm registers');
    assert.notEqual(await admin.get(`${prefix}m`).string(), null);
  } finally {
    await node?.close();
    await proxy.close();
    tmp.remove();
  }
});
