import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffConfig, liveConfig } from '../../src/config/diff.js';
import type { LoadedNodeConfig } from '../../src/config/load.js';
import { parseNodeConfig } from '../../src/config/parse.js';

const BASE = `nodeId: alice
listen: 127.0.0.1:7000
credentials: { key: k.pem, cert: c.pem }
`;
const H1 = 'a1'.repeat(32);
const H2 = 'b2'.repeat(32);

function parse(extra: string, head = BASE) {
  return parseNodeConfig(head + extra, { path: '/cfg/node.yaml' });
}

test('identical configs have no changes', () => {
  assert.deepEqual(
    diffConfig(parse('topology: { bob: ["h:1"] }\n'), parse('topology: { bob: ["h:1"] }\n')),
    [],
  );
});

test('every live key is described, old -> new', () => {
  const old = parse(`trust: { certHashes: [${H1}] }
limits: { peerQueueCapacity: 10, backoff: { jitter: 0.1 } }
logLevel: info
topology:
  bob: ["h:1"]
  carol: ["h:2"]
`);
  const next = parse(
    `trust: { certHashes: [${H2}], ownerKeys: [${H1}] }
limits: { peerQueueCapacity: 20, backoff: { jitter: 0.3 } }
directSendMode: both
logLevel: warn
topology:
  bob: ["h:1", { address: "h:3", certHash: ${H2} }]
  dave: ["h:4"]
`,
    BASE.replace('k.pem', 'k2.pem'),
  );
  const changes = diffConfig(old, next);
  assert.deepEqual(
    changes.map((c) => c.description),
    [
      'directSendMode: direct -> both',
      'logLevel: info -> warn',
      'credentials.keyFile: /cfg/k.pem -> /cfg/k2.pem',
      'trust.certHashes: added b2b2b2b2; removed a1a1a1a1',
      'trust.ownerKeys: added a1a1a1a1',
      'limits.peerQueueCapacity: 10 -> 20',
      'limits.backoff.jitter: 0.1 -> 0.3',
      'topology: peer bob [h:1] -> [h:1, h:3#cert:b2b2b2b2]',
      'topology: peer dave added [h:4]',
      'topology: peer carol removed (was [h:2])',
    ],
  );
  assert.ok(changes.every((c) => !c.needsRestart));
});

test('node id, listen and admin changes need a restart and are not applied live', () => {
  const old = parse('admin: 127.0.0.1:9000\n');
  const next = parse(
    'admin: 127.0.0.1:9001\ndirectSendMode: broadcast\n',
    'nodeId: bob\nlisten: 127.0.0.1:7001\ncredentials: { key: k.pem, cert: c.pem }\n',
  );
  const changes = diffConfig(old, next);
  assert.deepEqual(
    changes.filter((c) => c.needsRestart).map((c) => c.description),
    [
      'nodeId: alice -> bob (needs restart, not applied)',
      'listen: 127.0.0.1:7000 -> 127.0.0.1:7001 (needs restart, not applied)',
      'admin: 127.0.0.1:9000 -> 127.0.0.1:9001 (needs restart, not applied)',
    ],
  );
  const live = liveConfig(old, next);
  assert.equal(live.nodeId, 'alice');
  assert.equal(live.listen, '127.0.0.1:7000');
  assert.equal(live.admin, '127.0.0.1:9000');
  assert.equal(live.directSendMode, 'broadcast');
});

test('credential content changes are reported without the key material', () => {
  const base = parse('');
  const old: LoadedNodeConfig = { ...base, pem: { key: 'SECRET-KEY-1', cert: 'CERT-1' } };
  const next: LoadedNodeConfig = { ...base, pem: { key: 'SECRET-KEY-2', cert: 'CERT-2' } };
  const text = diffConfig(old, next).map((c) => c.description);
  assert.deepEqual(text, [
    'credentials.cert: certificate content changed',
    'credentials.key: key content changed',
  ]);
  assert.ok(!text.join().includes('SECRET'));
});

test('large topology changes are summarised after 20 peers', () => {
  const peers = Array.from({ length: 25 }, (_, i) => `  p${i}: ["h:${i + 1}"]`).join('\n');
  const changes = diffConfig(parse(''), parse(`topology:\n${peers}\n`));
  assert.equal(changes.length, 21);
  assert.equal(changes.at(-1)!.description, 'topology: 5 more peers changed');
});

test('acks: the sending side applies live, what the listener started with needs a restart', () => {
  const changes = diffConfig(
    parse('acks: { enabled: false }\n'),
    parse('acks: { enabled: true, peers: [bob], window: 128, accept: false, streams: 10 }\n'),
  );
  assert.deepEqual(
    changes.map((c) => [c.key, c.needsRestart]),
    [
      ['acks.enabled', false],
      ['acks.peers', false],
      ['acks.window', false],
      ['acks.accept', true],
      ['acks.streams', true],
    ],
  );
  assert.equal(changes[1]!.description, 'acks.peers: [] -> ["bob"]');
  assert.throws(() => parse('acks: { enabled: yes-please }\n'), /acks\.enabled/);
});
