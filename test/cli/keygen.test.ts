// `peerpost keygen`: never replaces an identity without --force; errors carry codes and name files.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import {
  generateCredentials,
  loadCredentials,
  saveCredentials,
  validateCredentials,
} from '../../src/identity/credentials.js';
import { assertBuilt, killAll, runCli, tempDir } from '../node/cli-harness.js';

const tmp = tempDir('keygen');
const dir = tmp.dir;
after(async () => {
  await killAll();
  tmp.remove();
});
before(() => assertBuilt());

test('keygen --out into a directory that holds a key refuses (exit 1, names the files) unless --force', async () => {
  const first = await runCli(dir, ['keygen', '--out', 'node']);
  assert.equal(first.code, 0, first.stderr);
  const hash = first.stdout.trim();
  assert.match(hash, /^[0-9a-f]{64}$/);
  const key = readFileSync(join(dir, 'node/key.pem'), 'utf8');
  const cert = readFileSync(join(dir, 'node/cert.pem'), 'utf8');

  const again = await runCli(dir, ['keygen', '--out', 'node']);
  assert.equal(again.code, 1);
  assert.equal(again.stdout, '');
  assert.equal(
    again.stderr,
    'error ERR_INVALID_OPTION: node/key.pem and node/cert.pem already exist: keygen would replace the identity there; pass --force to replace it\n',
  );
  assert.equal(readFileSync(join(dir, 'node/key.pem'), 'utf8'), key, 'the key is kept');
  assert.equal(readFileSync(join(dir, 'node/cert.pem'), 'utf8'), cert, 'the certificate is kept');
  assert.deepEqual(readdirSync(join(dir, 'node')).sort(), ['cert.pem', 'key.pem'], 'no stray files');

  // A key file another tool left readable is replaced by one only the owner reads.
  chmodSync(join(dir, 'node/key.pem'), 0o644);
  const forced = await runCli(dir, ['keygen', '--out', 'node', '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  const newHash = forced.stdout.trim();
  assert.match(newHash, /^[0-9a-f]{64}$/);
  assert.notEqual(newHash, hash);
  assert.notEqual(readFileSync(join(dir, 'node/key.pem'), 'utf8'), key);
  assert.equal(statSync(join(dir, 'node/key.pem')).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(dir, 'node')).sort(), ['cert.pem', 'key.pem'], 'no temporary files left');
  await loadCredentials(join(dir, 'node'));
});

test('keygen refuses when only one of the two files is there, naming it', async () => {
  mkdirSync(join(dir, 'half'));
  writeFileSync(join(dir, 'half/cert.pem'), 'old certificate');
  const r = await runCli(dir, ['keygen', '--out', 'half']);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    'error ERR_INVALID_OPTION: half/cert.pem already exists: keygen would replace the identity there; pass --force to replace it\n',
  );
  assert.deepEqual(readdirSync(join(dir, 'half')), ['cert.pem'], 'no key written next to it');
  assert.equal(readFileSync(join(dir, 'half/cert.pem'), 'utf8'), 'old certificate');
});

test('keygen into a new or an empty directory needs no --force', async () => {
  mkdirSync(join(dir, 'empty'));
  for (const out of ['empty', 'deep/new/dir']) {
    const r = await runCli(dir, ['keygen', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), /^[0-9a-f]{64}$/);
  }
});

test('keygen errors carry a code and name the file: a bad or missing owner key, an --out that is a file', async () => {
  writeFileSync(join(dir, 'owner.pem'), 'not a key');
  const bad = await runCli(dir, ['keygen', '--out', 'o1', '--owner-key', 'owner.pem']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error ERR_INVALID_CERTIFICATE: owner\.pem: invalid owner key: /);
  const missing = await runCli(dir, ['keygen', '--out', 'o2', '--owner-key', 'nope.pem']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'error ERR_INVALID_OPTION: --owner-key nope.pem: cannot read: ENOENT\n');
  writeFileSync(join(dir, 'plain-file'), '');
  const notDir = await runCli(dir, ['keygen', '--out', 'plain-file']);
  assert.equal(notDir.code, 1);
  assert.match(notDir.stderr, /^error ERR_INVALID_OPTION: --out plain-file is not a directory \(EEXIST\)\n$/);
});

test('credential errors name the key and certificate files', async () => {
  const a = await generateCredentials();
  const b = await generateCredentials();
  await saveCredentials(join(dir, 'ca'), a);
  await saveCredentials(join(dir, 'cb'), b);
  const files = { keyFile: join(dir, 'ca/key.pem'), certFile: join(dir, 'cb/cert.pem') };
  await assert.rejects(loadCredentials(files), (e) => {
    assert.ok(isPeerpostError(e, 'ERR_INVALID_CERTIFICATE'));
    assert.equal(
      e.message,
      `the private key in ${files.keyFile} does not match the certificate in ${files.certFile}`,
    );
    return true;
  });
  assert.throws(
    () => validateCredentials({ keyPem: a.keyPem, certPem: 'garbage' }, files),
    (e) =>
      isPeerpostError(e, 'ERR_INVALID_CERTIFICATE') &&
      e.message.startsWith(`invalid certificate PEM in ${files.certFile}: `),
  );
  assert.throws(
    () => validateCredentials({ keyPem: 'garbage', certPem: a.certPem }, files),
    (e) =>
      isPeerpostError(e, 'ERR_INVALID_CERTIFICATE') &&
      e.message.startsWith(`invalid private key PEM in ${files.keyFile}: `),
  );
  // Without files (credentials built in memory) the message stays as it was.
  assert.throws(
    () => validateCredentials({ keyPem: a.keyPem, certPem: b.certPem }),
    (e) =>
      isPeerpostError(e, 'ERR_INVALID_CERTIFICATE') &&
      e.message === 'the private key does not match the certificate',
  );
  // saveCredentials({ overwrite: false }) keeps what is there.
  await assert.rejects(saveCredentials(join(dir, 'ca'), b, { overwrite: false }), (e) => {
    assert.ok(isPeerpostError(e, 'ERR_INVALID_OPTION'));
    assert.equal(e.message, `${join(dir, 'ca/key.pem')} and ${join(dir, 'ca/cert.pem')} already exist`);
    return true;
  });
  assert.deepEqual(await loadCredentials(join(dir, 'ca')), a);
});
