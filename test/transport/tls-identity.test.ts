import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import {
  type Credentials,
  generateCredentials,
  identityOfCredentials,
} from '../../src/identity/credentials.js';
import { generateOwnerKey } from '../../src/identity/owner-keys.js';
import { identityOfCertificate } from '../../src/identity/peer-identity.js';
import { IDENTITY_CACHE_SIZE, identityOf } from '../../src/transport/tls/peer-check.js';
import { TlsTransport } from '../../src/transport/tls/tls-transport.js';
import type { Connection } from '../../src/transport/types.js';
import { Collector } from './tls-helpers.js';

const owner = generateOwnerKey();
let server: Credentials;
let client: Credentials;
let signed: Credentials;

before(async () => {
  [server, client, signed] = await Promise.all([
    generateCredentials(),
    generateCredentials(),
    generateCredentials({ ownerKeys: [owner] }),
  ]);
});

const derOf = (c: Credentials): Buffer => new X509Certificate(c.certPem).raw;

describe('TLS peer identities', () => {
  it('are computed once per certificate, equal to a fresh computation and frozen', () => {
    const first = identityOf(derOf(signed));
    assert.deepEqual(first, identityOfCertificate(derOf(signed)));
    assert.deepEqual(first.ownerKeys, [owner.publicKeyHex]);
    assert.equal(identityOf(derOf(signed)), first, 'the same object for the same certificate');
    assert.notEqual(identityOf(derOf(client)), first);
    assert.equal(Object.isFrozen(first), true);
    assert.equal(Object.isFrozen(first.ownerKeys), true);
  });

  it('forget the oldest certificate beyond the cache size, and stay correct', () => {
    const kept = identityOf(derOf(server));
    // Distinct DERs: the certificate with one byte of padding appended is another key.
    const base = derOf(client);
    for (let i = 0; i < IDENTITY_CACHE_SIZE; i++) {
      const der = Buffer.concat([base, Buffer.from([i & 0xff, i >> 8])]);
      identityOf(der);
    }
    const again = identityOf(derOf(server));
    assert.notEqual(again, kept, 'evicted, then computed again');
    assert.deepEqual(again, kept);
  });

  it('connections from the same certificate share one identity object', async (t) => {
    const serverT = new TlsTransport({ credentials: server });
    const clientT = new TlsTransport({ credentials: client });
    t.after(async () => {
      await clientT.close();
      await serverT.close();
    });
    const inbound: Connection[] = [];
    const listener = await serverT.listen('127.0.0.1:0', {
      onConnection: (c) => {
        new Collector(c);
        inbound.push(c);
      },
    });
    const expected = { certHash: identityOfCredentials(server).certHash };
    const a = await clientT.connect(listener.address, 'direct', { expectedIdentity: expected });
    const b = await clientT.connect(listener.address, 'direct', { expectedIdentity: expected });
    assert.equal(a.remoteIdentity, b.remoteIdentity);
    assert.equal(a.remoteIdentity.certHash, expected.certHash);
    while (inbound.length < 2) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(inbound[0]?.remoteIdentity, inbound[1]?.remoteIdentity);
    assert.equal(inbound[0]?.remoteIdentity.certHash, identityOfCredentials(client).certHash);
  });
});
