import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffConfig } from '../../src/config/diff.js';
import { ConfigError } from '../../src/config/issues.js';
import { parseNodeConfig, parseTopology } from '../../src/config/parse.js';
import type { TopologyInput } from '../../src/network/options.js';
import { applyConfig } from '../../src/node/apply.js';

/** Topology entries that name a peer by identity, without an address (issue 17 item 9). */

const HEAD = `nodeId: server
listen: 127.0.0.1:7000
credentials: { key: k.pem, cert: c.pem }
`;
const H1 = 'a1'.repeat(32);
const K1 = 'b2'.repeat(32);

function issuesOf(text: string): string[] {
  try {
    parseNodeConfig(text, { path: 'node.yaml' });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues.map((i) => `${i.line}:${i.column}: ${i.path}: ${i.message}`);
  }
  assert.fail('expected ERR_INVALID_CONFIG');
}

test('an entry with certHash or ownerKey and no address names the peer by identity', () => {
  const topology = parseTopology(`client: [{ certHash: ${H1.toUpperCase()} }]
fleet:
  - ownerKey: ${K1}
bob:
  - 10.0.0.2:7000
  - certHash: ${H1}
dave: []
`);
  assert.deepEqual([...topology.keys()], ['client', 'fleet', 'bob', 'dave']);
  assert.deepEqual(topology.get('client'), [], 'no address: messages to it wait as unresolved');
  assert.deepEqual(topology.get('bob'), [{ address: '10.0.0.2:7000' }]);
  assert.deepEqual(
    [...(topology.identities ?? [])],
    [
      ['client', [{ certHash: H1 }]],
      ['fleet', [{ ownerKey: K1 }]],
      ['bob', [{ certHash: H1 }]],
    ],
  );
  // A topology without such entries is a plain map, as before.
  assert.equal(parseTopology('bob: ["h:1"]\n').identities, undefined);
});

test('an entry needs an address or an identity, and at most one identity', () => {
  assert.deepEqual(
    issuesOf(`${HEAD}topology:
  a: [{}]
  b: [{ certHash: ${H1}, ownerKey: ${K1} }]
  c: [7]
  d: [{ certHash: nope }]
`),
    [
      '5:7: topology.a[0]: give an address, a certHash or an ownerKey',
      '6:7: topology.b[0]: give either certHash or ownerKey, not both',
      '7:7: topology.c[0]: expected host:port, { address, certHash | ownerKey } or { certHash | ownerKey }, got 7',
      '8:9: topology.d[0].certHash: expected a certificate SHA-256 (64 hex characters), got "nope"',
    ],
  );
});

test('a reload that changes only identities is a topology change, and is applied', () => {
  const old = parseNodeConfig(`${HEAD}topology: { client: [] }\n`, { path: '/cfg/node.yaml' });
  const next = parseNodeConfig(
    `${HEAD}topology: { client: [{ certHash: ${H1} }], bob: ["h:1", { ownerKey: ${K1} }] }\n`,
    {
      path: '/cfg/node.yaml',
    },
  );
  const changes = diffConfig(old, next);
  assert.deepEqual(
    changes.map((c) => c.description),
    ['topology: peer client [] -> [cert:a1a1a1a1]', 'topology: peer bob added [h:1, owner:b2b2b2b2]'],
  );
  const applied: TopologyInput[] = [];
  applyConfig(
    {
      network: {
        updateConfig: () => {},
        updateTopology: (t) => applied.push(t),
        updateTrust: () => {},
        updateCredentials: () => {},
      },
      setLogLevel: () => {},
    },
    { ...next, pem: { key: '', cert: '' } },
    changes,
  );
  assert.equal(applied.length, 1);
  assert.deepEqual((applied[0] as typeof next.topology).identities?.get('client'), [{ certHash: H1 }]);
});
