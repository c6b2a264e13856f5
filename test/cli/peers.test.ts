import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { stringify } from 'yaml';
import { main } from '../../src/cli/main.js';
import { type NodeService, startNodeService } from '../../src/node/service.js';
import { until } from '../network/helpers.js';
import { makeCredentials, tempDir } from '../node/cli-harness.js';
import { type EtcdServer, freePort } from '../registry/etcd-server.js';
import { useEtcd } from '../registry/shared.js';

/** `peerpost peers --config node.yaml` against a real etcd (the CLI's `main`, in process). */

let etcd: EtcdServer;
let admin: Etcd3;
const tmp = tempDir('peers');

useEtcd((e, a) => {
  etcd = e;
  admin = a;
});

after(() => tmp.remove());

async function run(args: string[]) {
  let out = '';
  let err = '';
  const code = await main(args, {
    stdin: Readable.from([]),
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: {},
  });
  return { code, out, err };
}

const quiet = () =>
  new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });

test('peerpost peers lists the registry: peer ids, addresses, identities, leases and TTLs, revisions; bad entries named', async () => {
  const prefix = `/peerpost-peers-test/${process.pid}/`;
  const services: NodeService[] = [];
  try {
    const hashes: Record<string, string> = {};
    for (const id of ['p1', 'p2']) {
      hashes[id] = await makeCredentials(tmp.dir, id);
      writeFileSync(
        join(tmp.dir, `${id}.yaml`),
        stringify({
          nodeId: id,
          listen: '127.0.0.1:0',
          credentials: { key: `${id}/key.pem`, cert: `${id}/cert.pem` },
          limits: { drainTimeoutMs: 100 },
          registry: { etcd: { endpoints: [etcd.endpoint], prefix, leaseTtlSeconds: 7 } },
        }),
      );
      services.push(
        await startNodeService({ configPath: join(tmp.dir, `${id}.yaml`), logDestination: quiet() }),
      );
    }
    const [p1, p2] = services as [NodeService, NodeService];
    await until(() => p1.registry!.stats().entries === 2, 'p1 sees both');
    // An entry without a lease, written by hand, and one that nodes ignore.
    await admin.put(`${prefix}gw`).value(JSON.stringify({ v: 1, addresses: [{ address: '10.0.0.9:7000' }] }));
    const last = await admin.put(`${prefix}broken`).value('not json');

    const json = await run(['peers', '--config', join(tmp.dir, 'p1.yaml'), '--json']);
    assert.equal(json.code, 0, json.err);
    const listing = JSON.parse(json.out);
    assert.equal(listing.prefix, prefix);
    assert.deepEqual(listing.endpoints, [etcd.endpoint]);
    assert.ok(listing.revision >= Number(last.header.revision));
    assert.deepEqual(
      listing.entries.map((e: { peerId: string }) => e.peerId),
      ['gw', 'p1', 'p2'],
    );
    const byId = new Map(listing.entries.map((e: { peerId: string }) => [e.peerId, e]));
    const e1 = byId.get('p1') as {
      addresses: unknown;
      lease: string;
      ttlSeconds: number;
      modRevision: number;
      createRevision: number;
    };
    assert.deepEqual(e1.addresses, [{ address: p1.address, expectedIdentity: { certHash: hashes['p1'] } }]);
    const kv = (await admin.kv.range({ key: Buffer.from(`${prefix}p1`) })).kvs[0]!;
    assert.equal(e1.lease, BigInt(kv.lease).toString(16), 'the lease, in hex');
    assert.notEqual(e1.lease, '0');
    assert.ok(e1.ttlSeconds >= 1 && e1.ttlSeconds <= 7, `TTL left ${e1.ttlSeconds}`);
    assert.equal(e1.modRevision, Number(kv.mod_revision));
    assert.equal(e1.createRevision, Number(kv.create_revision));
    const gw = byId.get('gw') as { lease: string; ttlSeconds?: number };
    assert.equal(gw.lease, '0');
    assert.equal(gw.ttlSeconds, undefined);
    assert.deepEqual(listing.ignored, [{ key: `${prefix}broken`, problem: 'value is not JSON' }]);

    const text = await run(['peers', '--config', join(tmp.dir, 'p1.yaml')]);
    assert.equal(text.code, 0, text.err);
    const lines = text.out.trimEnd().split('\n');
    assert.match(lines[0]!, new RegExp(`^registry ${prefix} on ${etcd.endpoint}, revision \\d+: 3 entries$`));
    assert.match(lines[1]!, /^PEER\s+ADDRESS\s+IDENTITY\s+LEASE\s+TTL\s+REVISION$/);
    assert.match(lines[2]!, /^gw\s+10\.0\.0\.9:7000\s+-\s+0\s+none\s+\d+$/);
    assert.match(
      lines[3]!,
      new RegExp(
        `^p1 \\(this node\\)\\s+${p1.address}\\s+cert:${hashes['p1']!.slice(0, 16)}\\s+${e1.lease}\\s+[1-7]s\\s+\\d+$`,
      ),
    );
    assert.match(lines[4]!, new RegExp(`^p2\\s+${p2.address}\\s+cert:${hashes['p2']!.slice(0, 16)}\\s`));
    assert.equal(lines[5], `ignored ${prefix}broken: value is not JSON`);

    // p2 stops: its lease is revoked, and the next listing no longer has it.
    await p2.close();
    const afterClose = JSON.parse((await run(['peers', '--config', join(tmp.dir, 'p1.yaml'), '--json'])).out);
    assert.deepEqual(
      afterClose.entries.map((e: { peerId: string }) => e.peerId),
      ['gw', 'p1'],
    );
  } finally {
    await Promise.all(services.map((s) => s.close()));
  }
});

test('peerpost peers: a config without registry.etcd, and an etcd that does not answer, are errors', async () => {
  await makeCredentials(tmp.dir, 'q');
  const base = {
    nodeId: 'q',
    listen: '127.0.0.1:0',
    credentials: { key: 'q/key.pem', cert: 'q/cert.pem' },
  };
  writeFileSync(join(tmp.dir, 'plain.yaml'), stringify(base));
  const plain = await run(['peers', '--config', join(tmp.dir, 'plain.yaml')]);
  assert.equal(plain.code, 1);
  assert.match(plain.err, /^error ERR_INVALID_CONFIG: .*plain\.yaml has no registry\.etcd\n$/);

  const port = await freePort(); // nothing listens there
  writeFileSync(
    join(tmp.dir, 'down.yaml'),
    stringify({ ...base, registry: { etcd: { endpoints: [`http://127.0.0.1:${port}`] } } }),
  );
  const started = Date.now();
  const down = await run(['peers', '--config', join(tmp.dir, 'down.yaml'), '--timeout', '500']);
  assert.equal(down.code, 1);
  assert.match(
    down.err,
    new RegExp(`^error ERR_CONNECT_FAILED: cannot read the registry from http://127\\.0\\.0\\.1:${port}: `),
  );
  assert.ok(Date.now() - started < 10_000, 'bounded by the timeout');
  assert.equal(down.out, '');
});
