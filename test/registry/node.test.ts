import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { diffConfig, liveConfig } from '../../src/config/diff.js';
import { ConfigError } from '../../src/config/issues.js';
import { parseNodeConfig } from '../../src/config/parse.js';
import { type NodeService, startNodeService } from '../../src/node/service.js';
import { until } from '../network/helpers.js';
import { makeCredentials, tempDir } from '../node/cli-harness.js';
import { type EtcdServer, startEtcd } from './etcd-server.js';

/** `registry.etcd` in the node config, and `peerpost node` (NodeService) with a real etcd. */

const BASE = 'nodeId: a\nlisten: 127.0.0.1:0\ncredentials: { key: k.pem, cert: c.pem }\n';

function messages(yaml: string): string[] {
  try {
    parseNodeConfig(BASE + yaml, { path: '/etc/peerpost/node.yaml' });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

test('registry.etcd: defaults, resolved paths, and located errors', () => {
  const config = parseNodeConfig(
    `${BASE}registry:\n  etcd:\n    endpoints: [http://127.0.0.1:2379, "etcd-2:2379"]\n    tls: { ca: ca.pem, cert: c.pem, key: k.pem }\n    username: peerpost\n    password: secret\n`,
    { path: '/etc/peerpost/node.yaml' },
  );
  assert.deepEqual(config.registry, {
    etcd: {
      endpoints: ['http://127.0.0.1:2379', 'etcd-2:2379'],
      prefix: '/peerpost/default/',
      leaseTtlSeconds: 10,
      advertise: undefined,
      tls: {
        caFile: '/etc/peerpost/ca.pem',
        certFile: '/etc/peerpost/c.pem',
        keyFile: '/etc/peerpost/k.pem',
      },
      username: 'peerpost',
      password: 'secret',
    },
  });
  assert.equal(parseNodeConfig(BASE).registry, undefined, 'no registry by default');

  assert.deepEqual(messages('registry:\n  etcd:\n    endpoints: []\n'), [
    'registry.etcd.endpoints: expected 1 to 16 entries',
  ]);
  assert.match(
    messages('registry:\n  etcd:\n    endpoints: ["ftp://x"]\n')[0]!,
    /^registry\.etcd\.endpoints\[0\]: /,
  );
  assert.match(
    messages('registry:\n  etcd:\n    endpoints: [h:1]\n    prefix: /no-slash\n')[0]!,
    /^registry\.etcd\.prefix: expected a key prefix ending with "\/"/,
  );
  assert.deepEqual(messages('registry:\n  etcd:\n    endpoints: [h:1]\n    username: u\n'), [
    'registry.etcd: give username and password together',
  ]);
  assert.match(
    messages('registry:\n  etcd:\n    endpoints: [h:1]\n    advertise: ["h:0"]\n')[0]!,
    /registry\.etcd\.advertise\[0\]/,
  );
  assert.match(messages('registry:\n  etcd:\n    endpoints: [h:1]\n    leaseTtl: 5\n')[0]!, /leaseTtl/);
  assert.match(messages('registry:\n  consul: {}\n')[0]!, /^registry/);
});

test('a registry change is applied live and described without its values', () => {
  const old = parseNodeConfig(
    `${BASE}registry: { etcd: { endpoints: [h:1], username: u, password: old-secret } }\n`,
  );
  const next = parseNodeConfig(
    `${BASE}registry: { etcd: { endpoints: [h:2], username: u, password: new-secret } }\n`,
  );
  const changes = diffConfig(old, next);
  assert.deepEqual(changes, [
    {
      key: 'registry.etcd',
      description: 'registry.etcd: endpoints, password changed',
      needsRestart: false,
    },
  ]);
  assert.ok(!JSON.stringify(changes).includes('secret'), 'no credential in the description');
  assert.deepEqual(liveConfig(old, next).registry, next.registry, 'the new settings are adopted');
  assert.deepEqual(diffConfig(old, parseNodeConfig(BASE)), [
    { key: 'registry.etcd', description: 'registry.etcd: removed', needsRestart: false },
  ]);
  assert.deepEqual(diffConfig(parseNodeConfig(BASE), old), [
    { key: 'registry.etcd', description: 'registry.etcd: added', needsRestart: false },
  ]);
  assert.deepEqual(
    diffConfig(
      old,
      parseNodeConfig(`${BASE}registry: { etcd: { endpoints: [h:1], username: u, password: old-secret } }\n`),
    ),
    [],
  );
});

let etcd: EtcdServer;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.remove();
});

const quiet = () =>
  new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });

test('peerpost node with registry.etcd: nodes find each other pinned, heartbeats flow, reload keeps registry peers', async () => {
  const tmp = tempDir('registry');
  const services: NodeService[] = [];
  try {
    const hashes: Record<string, string> = {};
    for (const id of ['a', 'b']) {
      hashes[id] = await makeCredentials(tmp.dir, id);
      const config = {
        nodeId: id,
        listen: '127.0.0.1:0',
        credentials: { key: `${id}/key.pem`, cert: `${id}/cert.pem` },
        topology: { static: ['127.0.0.1:9'] },
        limits: { drainTimeoutMs: 100 },
        registry: { etcd: { endpoints: [etcd.endpoint], prefix: '/peerpost/node-test/' } },
      };
      writeFileSync(join(tmp.dir, `${id}.yaml`), stringify(config));
      services.push(
        await startNodeService({
          configPath: join(tmp.dir, `${id}.yaml`),
          heartbeatMs: 50,
          logDestination: quiet(),
        }),
      );
    }
    const [a, b] = services as [NodeService, NodeService];
    await until(() => a.network.topology.has('b') && b.network.topology.has('a'), 'each finds the other');
    assert.deepEqual(a.network.topology.get('b'), [
      { address: b.address, expectedIdentity: { certHash: hashes['b'] } },
    ]);
    assert.deepEqual(a.network.topology.get('static'), [{ address: '127.0.0.1:9' }], 'static peers are kept');
    // The registry's state is in /status and in the node's metrics.
    await until(() => a.status().registry?.registered === true, 'a is registered');
    const registry = a.status().registry!;
    assert.equal(registry.state, 'synced');
    assert.equal(registry.entries, 2);
    assert.ok(registry.revision > 0);
    const text = await a.metrics.metricsText();
    assert.match(text, /^peerpost_registry_connected 1$/m);
    assert.match(text, /^peerpost_registry_registered 1$/m);
    assert.match(text, /^peerpost_registry_entries 2$/m);
    assert.match(text, new RegExp(`^peerpost_registry_revision ${a.registry!.stats().revision}$`, 'm'));
    await until(
      () =>
        (b.network.stats().incoming.delivered ?? 0) > 0 && (a.network.stats().incoming.delivered ?? 0) > 0,
      'heartbeats arrive over the pinned connections',
    );

    // A reload of the topology replaces the static part only.
    writeFileSync(
      join(tmp.dir, 'a.yaml'),
      stringify({
        nodeId: 'a',
        listen: '127.0.0.1:0',
        credentials: { key: 'a/key.pem', cert: 'a/cert.pem' },
        topology: { other: ['127.0.0.1:10'] },
        limits: { drainTimeoutMs: 100 },
        registry: { etcd: { endpoints: [etcd.endpoint], prefix: '/peerpost/node-test/' } },
      }),
    );
    await a.reload();
    assert.deepEqual([...a.network.topology.keys()].sort(), ['a', 'b', 'other']);

    // Closing b revokes its lease: a drops it at once.
    await b.close();
    await until(() => !a.network.topology.has('b'), 'a drops b', 5000);
    assert.equal(a.registry?.stats().state, 'synced');
  } finally {
    await Promise.all(services.map((s) => s.close()));
    tmp.remove();
  }
});
