import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffPeerAddresses, diffTopology, uniqueAddresses } from '../../src/topology/diff.js';
import type { PeerAddress } from '../../src/topology/types.js';

const a = (address: string, certHash?: string): PeerAddress =>
  certHash === undefined ? { address } : { address, expectedIdentity: { certHash } };

test('diffPeerAddresses: added, removed, kept; an identity change is a remove plus an add', () => {
  const d = diffPeerAddresses([a('x:1'), a('y:1', 'aa'), a('z:1')], [a('x:1'), a('y:1', 'bb'), a('w:1')]);
  assert.deepEqual(
    d.added.map((p) => p.address),
    ['y:1', 'w:1'],
  );
  assert.deepEqual(d.removed, ['y:1', 'z:1']);
  assert.deepEqual(d.kept, ['x:1']);
});

test('diffTopology lists only peers that changed; uniqueAddresses keeps the first duplicate', () => {
  const before = new Map([
    ['A', [a('x:1')]],
    ['B', [a('y:1')]],
  ]);
  const after = new Map([
    ['A', [a('x:1'), a('x:1', 'cc')]],
    ['C', [a('z:1')]],
  ]);
  const d = diffTopology(before, after);
  assert.deepEqual([...d.keys()].sort(), ['B', 'C']);
  assert.deepEqual(d.get('B')!.removed, ['y:1']);
  assert.deepEqual(uniqueAddresses(after.get('A')), [a('x:1')]);
});
