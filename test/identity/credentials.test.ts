import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { isPeerpostError } from '../../src/errors.js';
import {
  type Credentials,
  certificateHash,
  generateCredentials,
  identityOfCredentials,
  loadCredentials,
  saveCredentials,
  signCredentials,
  validateCredentials,
} from '../../src/identity/credentials.js';
import {
  decodeOwnerEntries,
  encodeOwnerSignatures,
  generateOwnerKey,
  loadOwnerKey,
  OWNER_ENTRY_BYTES,
  parseOwnerKey,
  saveOwnerKey,
  verifiedOwnerKeys,
} from '../../src/identity/owner-keys.js';
import { identityOfCertificate, matchesExpected } from '../../src/identity/peer-identity.js';
import { TrustSet } from '../../src/identity/trust.js';

let dir: string;
let plain: Credentials;
const alice = generateOwnerKey();
const bob = generateOwnerKey();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peerpost-identity-'));
  plain = await generateCredentials({ commonName: 'node-1' });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('credentials', () => {
  it('generates an Ed25519 self-signed certificate whose hash is SHA-256 of the DER', () => {
    const cert = new X509Certificate(plain.certPem);
    assert.equal(cert.publicKey.asymmetricKeyType, 'ed25519');
    assert.equal(cert.subject, 'CN=node-1');
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    const id = identityOfCredentials(plain);
    assert.equal(id.certHash, createHash('sha256').update(cert.raw).digest('hex'));
    assert.equal(certificateHash(cert.raw), id.certHash);
    assert.equal(id.shortId, id.certHash.slice(0, 4));
    assert.deepEqual(id.ownerKeys, []);
  });

  it('carries verified owner signatures, and re-signing keeps earlier ones and the key', async () => {
    const signed = await generateCredentials({ ownerKeys: [alice] });
    assert.deepEqual(identityOfCredentials(signed).ownerKeys, [alice.publicKeyHex]);
    const both = await signCredentials(signed, [bob, alice]);
    assert.equal(both.keyPem, signed.keyPem);
    assert.deepEqual(identityOfCredentials(both).ownerKeys, [alice.publicKeyHex, bob.publicKeyHex]);
    assert.notEqual(identityOfCredentials(both).certHash, identityOfCredentials(signed).certHash);
    validateCredentials(both);
  });

  it('only counts signatures over this certificate SubjectPublicKeyInfo', () => {
    const spki = new X509Certificate(plain.certPem).publicKey.export({ type: 'spki', format: 'der' });
    const value = encodeOwnerSignatures(spki, [alice, bob]);
    assert.equal(value.length, 2 * OWNER_ENTRY_BYTES);
    assert.deepEqual(verifiedOwnerKeys(spki, value), [alice.publicKeyHex, bob.publicKeyHex]);
    const other = Buffer.from(spki);
    other[other.length - 1] = (other.at(-1) ?? 0) ^ 1;
    assert.deepEqual(verifiedOwnerKeys(other, value), []);
    const tampered = Buffer.from(value);
    tampered[OWNER_ENTRY_BYTES + 40] = (tampered[OWNER_ENTRY_BYTES + 40] ?? 0) ^ 1;
    assert.deepEqual(verifiedOwnerKeys(spki, tampered), [alice.publicKeyHex]);
    assert.throws(
      () => decodeOwnerEntries(value.subarray(1)),
      (e) => isPeerpostError(e, 'ERR_INVALID_CERTIFICATE'),
    );
    assert.throws(
      () => decodeOwnerEntries(Buffer.alloc(65 * OWNER_ENTRY_BYTES)),
      (e) => isPeerpostError(e, 'ERR_INVALID_CERTIFICATE'),
    );
  });

  it('saves and loads PEM files; rejects a mismatched or broken pair', async () => {
    const out = join(dir, 'node');
    await saveCredentials(out, plain);
    assert.equal((await stat(join(out, 'key.pem'))).mode & 0o777, 0o600);
    assert.deepEqual(await loadCredentials(out), plain);
    const other = await generateCredentials();
    assert.throws(
      () => validateCredentials({ keyPem: other.keyPem, certPem: plain.certPem }),
      (e) => isPeerpostError(e, 'ERR_INVALID_CERTIFICATE'),
    );
    await writeFile(join(out, 'cert.pem'), 'garbage');
    await assert.rejects(loadCredentials(out), (e) => isPeerpostError(e, 'ERR_INVALID_CERTIFICATE'));
    assert.throws(
      () => identityOfCertificate(Buffer.from('not der')),
      (e) => isPeerpostError(e, 'ERR_INVALID_CERTIFICATE'),
    );
  });
});

describe('owner keys', () => {
  it('round-trips as PEM and parses the raw 32-byte seed as hex', async () => {
    const file = join(dir, 'owner.pem');
    await saveOwnerKey(file, alice);
    assert.equal((await loadOwnerKey(file)).publicKeyHex, alice.publicKeyHex);
    const der = alice.privateKey.export({ type: 'pkcs8', format: 'der' });
    const seedHex = der.subarray(-32).toString('hex');
    assert.equal(parseOwnerKey(`  ${seedHex.toUpperCase()}\n`).publicKeyHex, alice.publicKeyHex);
    assert.throws(
      () => parseOwnerKey('abcd'),
      (e) => isPeerpostError(e, 'ERR_INVALID_CERTIFICATE'),
    );
    assert.throws(
      () => parseOwnerKey(plain.keyPem.replace('PRIVATE', 'PUBLIC')),
      (e) => isPeerpostError(e, 'ERR_INVALID_CERTIFICATE'),
    );
  });
});

describe('trust', () => {
  const id = { certHash: 'ab'.repeat(32), shortId: 'abab', ownerKeys: [alice.publicKeyHex] };
  it('empty sets trust everyone; otherwise hash or owner key may pass', () => {
    assert.ok(new TrustSet().isTrusted(id));
    assert.ok(new TrustSet({ certHashes: ['AB'.repeat(32)] }).isTrusted(id));
    assert.ok(new TrustSet({ ownerKeys: [alice.publicKeyHex] }).isTrusted(id));
    assert.ok(new TrustSet({ certHashes: ['cd'.repeat(32)], ownerKeys: [alice.publicKeyHex] }).isTrusted(id));
    assert.ok(!new TrustSet({ certHashes: ['cd'.repeat(32)], ownerKeys: [bob.publicKeyHex] }).isTrusted(id));
    assert.throws(
      () => new TrustSet({ certHashes: ['xyz'] }),
      (e) => isPeerpostError(e, 'ERR_INVALID_OPTION'),
    );
  });
  it('matches pinned identities', () => {
    assert.ok(matchesExpected(id, { certHash: id.certHash }));
    assert.ok(matchesExpected(id, { ownerKey: alice.publicKeyHex }));
    assert.ok(!matchesExpected(id, { ownerKey: bob.publicKeyHex }));
  });
});

describe('peerpost keygen', () => {
  function io() {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out,
      err,
      io: {
        stdin: process.stdin,
        stdout: { write: (s: string) => out.push(s) },
        stderr: { write: (s: string) => err.push(s) },
        env: {},
      },
    };
  }
  it('writes key.pem and cert.pem, prints the identity hash, signs with --owner-key', async () => {
    const ownerFile = join(dir, 'owner.hex');
    const seed = bob.privateKey.export({ type: 'pkcs8', format: 'der' }).subarray(-32).toString('hex');
    await writeFile(ownerFile, seed);
    const run = io();
    const code = await main(['keygen', '--out', join(dir, 'k'), '--owner-key', ownerFile], run.io);
    assert.equal(code, 0, run.err.join(''));
    const creds = await loadCredentials(join(dir, 'k'));
    const id = identityOfCredentials(creds);
    assert.equal(run.out.join(''), `${id.certHash}\n`);
    assert.deepEqual(id.ownerKeys, [bob.publicKeyHex]);
    assert.match(await readFile(join(dir, 'k', 'key.pem'), 'utf8'), /BEGIN PRIVATE KEY/);
  });
  it('fails with a coded error on a bad owner key file', async () => {
    const bad = join(dir, 'bad.key');
    await writeFile(bad, 'nope');
    const run = io();
    assert.equal(await main(['keygen', '--out', join(dir, 'k2'), '--owner-key', bad], run.io), 1);
    assert.match(run.err.join(''), /ERR_INVALID_CERTIFICATE/);
  });
});
