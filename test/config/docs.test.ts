import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { LIVE_LIMITS, RESTART_KEYS } from '../../src/config/diff.js';
import { parseNodeConfig, parseTopology } from '../../src/config/parse.js';
import { DEFAULT_LIMITS, nodeConfigSchema } from '../../src/config/schema.js';

const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
const rows = new Map(
  doc
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const cells = line.split(' | ').map((c) => c.replace(/^\| /, '').trim());
      return [cells[0]!.replace(/`/g, ''), cells] as const;
    }),
);

function leaves(prefix: string, value: object): [string, unknown][] {
  return Object.entries(value).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null
      ? leaves(`${prefix}.${k}`, v)
      : [[`${prefix}.${k}`, v] as [string, unknown]],
  );
}

function bytesText(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)}MiB` : String(n);
}

test('every limit is documented with its default and whether it is live', () => {
  for (const [key, value] of leaves('limits', DEFAULT_LIMITS)) {
    const row = rows.get(key);
    assert.ok(row, `${key} is not documented`);
    const expected = key.endsWith('Bytes') ? bytesText(value as number) : String(value);
    assert.equal(row[2], `\`${expected}\``, `${key} default`);
    assert.equal(row[3], LIVE_LIMITS.includes(key) ? 'yes' : 'no', `${key} live`);
  }
});

test('every top-level key is documented, and restart-only keys say so', () => {
  for (const key of Object.keys(nodeConfigSchema.shape)) {
    if (key === 'limits' || key === 'trust' || key === 'credentials' || key === 'acks') continue;
    const row = rows.get(key);
    assert.ok(row, `${key} is not documented`);
    assert.equal(row[3], (RESTART_KEYS as readonly string[]).includes(key) ? 'no' : 'yes', `${key} live`);
  }
  for (const key of ['credentials.key', 'credentials.cert', 'trust.certHashes', 'trust.ownerKeys']) {
    assert.equal(rows.get(key)?.[3], 'yes', key);
  }
  // acks: what the sending side uses is live, what the listener started with is not.
  for (const key of ['acks.enabled', 'acks.peers', 'acks.window', 'acks.windowBytes']) {
    assert.equal(rows.get(key)?.[3], 'yes', key);
  }
  for (const key of ['acks.accept', 'acks.streams']) assert.equal(rows.get(key)?.[3], 'no', key);
});

test('the examples in docs/configuration.md are valid', () => {
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.equal(blocks.length, 2);
  const config = parseNodeConfig(blocks[0]!, { path: '/etc/peerpost/node.yaml' });
  assert.equal(config.limits.maxFrameBytes, 4 * 1024 * 1024);
  assert.deepEqual([...config.topology.keys()], ['bob', 'carol']);
  const topology = parseTopology(blocks[1]!);
  assert.deepEqual([...topology.keys()], ['bob', 'carol', 'dave', 'erin']);
  assert.deepEqual(topology.get('erin'), []);
  assert.deepEqual(topology.identities?.get('erin'), [
    { certHash: '2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' },
  ]);
  assert.deepEqual(topology.get('carol')?.[1]?.expectedIdentity, {
    ownerKey: '3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29',
  });
});
