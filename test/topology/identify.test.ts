import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdentityIndex } from '../../src/hub/identify.js';
import { resolveTopology } from '../../src/network/options.js';
import type { RemoteIdentity } from '../../src/transport/types.js';
import { setupHub } from '../hub/helpers.js';

const C1 = 'c1'.repeat(32);
const C2 = 'c2'.repeat(32);
const C3 = 'c3'.repeat(32);
const OWNER = 'ab'.repeat(32);
const who = (certHash: string, ownerKeys: string[] = []): RemoteIdentity => ({
  certHash,
  shortId: certHash.slice(0, 4),
  ownerKeys,
});

test('identities pinned at an address and identities without one identify alike; the first peer wins', () => {
  const index = new IdentityIndex(
    resolveTopology({
      server: [{ address: 's:1', certHash: C1 }],
      client: [{ certHash: C2 }],
      fleet: [{ ownerKey: OWNER }],
      alias: [{ certHash: C1 }, { certHash: C2 }],
      open: ['o:1'],
    }),
  );
  assert.equal(index.identify(who(C1)), 'server');
  assert.equal(index.identify(who(C2)), 'client', 'named by identity alone');
  assert.equal(index.identify(who(C3, [OWNER.toUpperCase()])), 'fleet', 'by owner key, case-insensitive');
  assert.equal(index.identify(who(C2, [OWNER])), 'client', 'the certificate hash first');
  assert.equal(index.identify(who(C3)), undefined);
  // A connection we dialed: the identity first, else the peer listed unpinned at the address.
  assert.equal(index.identifyDialed(who(C3), 'o:1'), 'open');
  assert.equal(index.identifyDialed(who(C2), 'o:1'), 'client');
  assert.equal(index.identifyDialed(who(C3), 's:1'), undefined, 'a pinned address proves nothing else');
});

test('a hub gives its peer senders its current index (HubPort.identities): it follows the topology', async () => {
  const s = await setupHub({ topology: resolveTopology({ client: [{ certHash: C2 }] }) });
  const first = s.hub.identities();
  assert.equal(first.identify(who(C2)), 'client');
  s.topology.set(resolveTopology({ other: [{ certHash: C2 }] }));
  assert.equal(s.hub.identities().identify(who(C2)), 'other');
  assert.notEqual(s.hub.identities(), first, 'a new index object: senders rebuild their reply source');
  await s.hub.close();
  await s.network.close();
});
