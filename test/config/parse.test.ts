import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { addressProblem, formatHostPort, parseHostPort } from '../../src/config/address.js';
import { ConfigError } from '../../src/config/issues.js';
import { parseNodeConfig, parseTopology } from '../../src/config/parse.js';
import { DEFAULT_LIMITS } from '../../src/config/schema.js';
import { isPeerpostError } from '../../src/errors.js';

const MINIMAL = `nodeId: alice
listen: 127.0.0.1:7000
credentials:
  key: keys/alice.key
  cert: keys/alice.crt
`;

const HASH = 'AB'.repeat(32);

function issuesOf(text: string): string[] {
  try {
    parseNodeConfig(text, { path: 'node.yaml' });
  } catch (err) {
    assert.ok(isPeerpostError(err, 'ERR_INVALID_CONFIG'));
    assert.ok(err instanceof ConfigError);
    assert.equal(
      err.message,
      err.issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path}: ${i.message}`).join('\n'),
    );
    return err.message.split('\n');
  }
  assert.fail('expected ERR_INVALID_CONFIG');
}

test('a minimal config gets every default and absolute credential paths', () => {
  const config = parseNodeConfig(MINIMAL, { path: '/etc/peerpost/node.yaml' });
  assert.equal(config.nodeId, 'alice');
  assert.equal(config.listen, '127.0.0.1:7000');
  assert.deepEqual(config.credentials, {
    keyFile: '/etc/peerpost/keys/alice.key',
    certFile: '/etc/peerpost/keys/alice.crt',
  });
  assert.deepEqual(config.trust, { certHashes: [], ownerKeys: [] });
  assert.deepEqual(config.limits, DEFAULT_LIMITS);
  assert.equal(config.limits.maxFrameBytes, 16 * 1024 * 1024);
  assert.equal(config.directSendMode, 'direct');
  assert.equal(config.admin, undefined);
  assert.equal(config.logLevel, 'info');
  assert.equal(config.topology.size, 0);
  assert.equal(config.topologyFile, undefined);
  assert.equal(config.path, '/etc/peerpost/node.yaml');
});

test('baseDir overrides where relative paths resolve', () => {
  const config = parseNodeConfig(`${MINIMAL}topologyFile: peers.yaml\n`, {
    path: 'x/node.yaml',
    baseDir: '/srv',
  });
  assert.equal(config.credentials.keyFile, '/srv/keys/alice.key');
  assert.equal(config.topologyFile, '/srv/peers.yaml');
  assert.equal(config.path, resolve('x/node.yaml'));
});

test('a full config: trust, limits with byte units, send mode, admin, inline topology', () => {
  const config = parseNodeConfig(
    `${MINIMAL}trust:
  certHashes: [${HASH}, ${HASH}]
  ownerKeys: ["${'cd'.repeat(32)}"]
limits:
  peerQueueCapacity: 5
  maxFrameBytes: 2MiB
  maxDecompressedBytes: "512 KiB"
  backoff: { initialMs: 50, jitter: 0 }
  dedup: { windowSize: 7 }
directSendMode: both
admin: "[::1]:0"
logLevel: debug
topology:
  bob: ["10.0.0.1:7000", "bob.example:7001"]
  carol:
    - address: "[2001:db8::1]:7000"
      certHash: ${HASH}
    - { address: "10.0.0.3:7000", ownerKey: "${'ef'.repeat(32)}" }
`,
  );
  assert.deepEqual(config.trust.certHashes, ['ab'.repeat(32)]);
  assert.deepEqual(config.trust.ownerKeys, ['cd'.repeat(32)]);
  assert.equal(config.limits.peerQueueCapacity, 5);
  assert.equal(config.limits.maxFrameBytes, 2 * 1024 * 1024);
  assert.equal(config.limits.maxDecompressedBytes, 512 * 1024);
  assert.deepEqual(config.limits.backoff, { initialMs: 50, deadlineMs: 5000, jitter: 0 });
  assert.deepEqual(config.limits.dedup, { windowSize: 7, ttlMs: DEFAULT_LIMITS.dedup.ttlMs });
  assert.equal(config.limits.unresolvedCapacity, 1000);
  assert.equal(config.directSendMode, 'both');
  assert.equal(config.admin, '[::1]:0');
  assert.equal(config.logLevel, 'debug');
  assert.deepEqual(
    [...config.topology],
    [
      ['bob', [{ address: '10.0.0.1:7000' }, { address: 'bob.example:7001' }]],
      [
        'carol',
        [
          { address: '[2001:db8::1]:7000', expectedIdentity: { certHash: 'ab'.repeat(32) } },
          { address: '10.0.0.3:7000', expectedIdentity: { ownerKey: 'ef'.repeat(32) } },
        ],
      ],
    ],
  );
});

test('errors name the file, line, column, key path and what is wrong', () => {
  const lines = issuesOf(`nodeId: alice
listen: 127.0.0.1:7000
credentials:
  key: k
  cert: c
limits:
  peerQueueCapacity: -5
  backof: {}
  backoff:
    jitter: 3
directSendMode: fast
admin: 9464
`);
  assert.deepEqual(lines, [
    'node.yaml:7:3: limits.peerQueueCapacity: expected a positive integer up to 1000000, got -5',
    'node.yaml:10:5: limits.backoff.jitter: expected a number from 0 to 1, got 3',
    'node.yaml:8:3: limits.backof: unknown key (did you mean backoff?)',
    'node.yaml:11:1: directSendMode: expected one of direct|broadcast|both, got "fast"',
    'node.yaml:12:1: admin: expected host:port, got 9464',
  ]);
});

test('missing required keys point at their parent', () => {
  const lines = issuesOf('nodeId: a\ncredentials:\n  key: k\n');
  assert.deepEqual(lines, [
    'node.yaml:1:1: listen: required key is missing',
    'node.yaml:2:1: credentials.cert: required key is missing',
  ]);
});

test('topology entries are validated one by one', () => {
  const lines = issuesOf(`${MINIMAL}topology:
  bob: ["10.0.0.1:70000", { address: "[::1]:7000", certHash: ab }]
  carol: nope
  dave: ["::1:7000"]
  erin: ["h:1", "h:1"]
  fay: [{ address: "h:2", certHash: ${HASH}, ownerKey: ${HASH} }]
`);
  assert.deepEqual(lines, [
    'node.yaml:7:9: topology.bob[0].address: port 70000 is out of range (1-65535), got "10.0.0.1:70000"',
    'node.yaml:7:52: topology.bob[1].certHash: expected a certificate SHA-256 (64 hex characters), got "ab"',
    'node.yaml:8:3: topology.carol: expected a list of addresses, got "nope"',
    'node.yaml:9:10: topology.dave[0].address: IPv6 hosts must be in brackets, e.g. [::1]:7000, got "::1:7000"',
    'node.yaml:10:17: topology.erin[1]: duplicate address h:1',
    'node.yaml:11:9: topology.fay[0]: give either certHash or ownerKey, not both',
  ]);
});

test('topology and topologyFile are exclusive; deadline must cover the initial backoff', () => {
  const lines = issuesOf(`${MINIMAL}topology: {}
topologyFile: t.yaml
limits:
  backoff: { initialMs: 500, deadlineMs: 100 }
`);
  assert.deepEqual(lines, [
    'node.yaml:7:1: topologyFile: give either topology or topologyFile, not both',
    'node.yaml:9:30: limits.backoff.deadlineMs: must be at least backoff.initialMs (500), got 100',
  ]);
});

test('YAML syntax errors, duplicate keys and non-mapping documents are reported with a line', () => {
  assert.match(issuesOrMessage('nodeId: a\nlisten: [1,\n'), /^node\.yaml:\d+:\d+: invalid YAML: /);
  assert.match(
    issuesOrMessage('nodeId: a\nnodeId: b\n'),
    /^node\.yaml:2:1: invalid YAML: Map keys must be unique/,
  );
  assert.equal(issuesOrMessage('- 1\n'), 'node.yaml:1:1: expected a mapping, got a list');
  assert.match(issuesOrMessage(''), /nodeId: required key is missing/);
});

function issuesOrMessage(text: string): string {
  try {
    parseNodeConfig(text, { path: 'node.yaml' });
  } catch (err) {
    assert.ok(isPeerpostError(err, 'ERR_INVALID_CONFIG'));
    return err.message;
  }
  assert.fail('expected ERR_INVALID_CONFIG');
}

test('byte sizes reject bad units and values over 1 GiB', () => {
  const lines = issuesOf(`${MINIMAL}limits:\n  maxFrameBytes: 2GiB\n  maxDecompressedBytes: 3 parsecs\n`);
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^node\.yaml:7:3: limits\.maxFrameBytes: expected a byte size .* got "2GiB"$/);
  assert.match(lines[1]!, /^node\.yaml:8:3: limits\.maxDecompressedBytes: expected a byte size/);
});

test('parseTopology reads a separate topology file', () => {
  const topology = parseTopology(`bob: ["127.0.0.1:1"]\n"node.1": []\n`);
  assert.deepEqual([...topology.keys()], ['bob', 'node.1']);
  assert.equal(parseTopology('').size, 0);
  assert.throws(
    () => parseTopology('bob: 1\n', { path: 'peers.yaml' }),
    (err: Error) => err.message === 'peers.yaml:1:1: bob: expected a list of addresses, got 1',
  );
});

test('host:port parsing', () => {
  assert.deepEqual(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
  assert.deepEqual(parseHostPort('example.com:0'), { host: 'example.com', port: 0 });
  assert.equal(formatHostPort('::1', 5), '[::1]:5');
  assert.equal(formatHostPort('10.0.0.1', 5), '10.0.0.1:5');
  for (const bad of [
    '',
    ':80',
    'host',
    'host:',
    'host:x',
    '[::1:80',
    '[nope]:80',
    'a b:1',
    'h:65536',
    '-h:1',
  ]) {
    assert.notEqual(addressProblem(bad, true), undefined, bad);
  }
  assert.equal(addressProblem('h:0', false), 'port 0 is out of range (1-65535)');
  assert.throws(
    () => parseHostPort('nope'),
    (err) => isPeerpostError(err, 'ERR_INVALID_ADDRESS'),
  );
});
