import { Buffer } from 'node:buffer';
import { createHash, createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';

type KeyPair = webcrypto.CryptoKeyPair;

import { lstat, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PeerpostError } from '../errors.js';
import type { RemoteIdentity } from '../transport/types.js';
import { encodeOwnerSignatures, OWNER_SIGNATURE_OID, type OwnerKey } from './owner-keys.js';
import { identityOfCertificate } from './peer-identity.js';
import { x509 } from './x509.js';

/** A node's TLS credentials: its private key and self-signed certificate, both PEM. */
export interface Credentials {
  /** PKCS#8 PEM of the private key (Ed25519). */
  readonly keyPem: string;
  /** PEM of the self-signed certificate. */
  readonly certPem: string;
}

export interface GenerateCredentialsOptions {
  /** Subject common name. @default 'peerpost' */
  commonName?: string;
  /** Owner keys that sign the new certificate (extension 1.2.3.4.5.6). @default [] */
  ownerKeys?: readonly OwnerKey[];
  /** Certificate lifetime in days. @default 3650 */
  validityDays?: number;
  /** Start of validity. @default now */
  notBefore?: Date;
}

export const KEY_FILE = 'key.pem';
export const CERT_FILE = 'cert.pem';
const ED25519 = { name: 'Ed25519' } as const;
const DAY_MS = 86_400_000;
type CryptoKeyPairOfX509 = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];

function invalid(what: string, err: unknown): PeerpostError {
  return new PeerpostError('ERR_INVALID_CERTIFICATE', `${what}: ${(err as Error).message}`, { cause: err });
}

async function issue(
  keys: KeyPair,
  ownerValue: Buffer,
  options: Omit<GenerateCredentialsOptions, 'ownerKeys'>,
): Promise<string> {
  const notBefore = options.notBefore ?? new Date();
  const extensions =
    ownerValue.length === 0 ? [] : [new x509.Extension(OWNER_SIGNATURE_OID, false, ownerValue)];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${options.commonName ?? 'peerpost'}`,
    keys: keys as CryptoKeyPairOfX509,
    signingAlgorithm: ED25519,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (options.validityDays ?? 3650) * DAY_MS),
    extensions,
  });
  return cert.toString('pem');
}

/**
 * A fresh Ed25519 key pair and a self-signed certificate, optionally signed by owner keys.
 * Ed25519 certificates are used for mutual TLS 1.3 directly (see docs/identity.md).
 */
export async function generateCredentials(options: GenerateCredentialsOptions = {}): Promise<Credentials> {
  const keys = (await webcrypto.subtle.generateKey(ED25519, true, ['sign', 'verify'])) as KeyPair;
  const spkiDer = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;
  const ownerValue = encodeOwnerSignatures(spkiDer, options.ownerKeys ?? []);
  return { keyPem, certPem: await issue(keys, ownerValue, options) };
}

/**
 * Re-issues the certificate for the same key with owner signatures added (those it
 * already carries are kept). The certificate hash changes; the owner keys do not.
 */
export async function signCredentials(
  credentials: Credentials,
  ownerKeys: readonly OwnerKey[],
  options: Omit<GenerateCredentialsOptions, 'ownerKeys'> = {},
): Promise<Credentials> {
  let keys: KeyPair;
  let spkiDer: Buffer;
  let cert: InstanceType<typeof x509.X509Certificate>;
  try {
    const pkcs8 = createPrivateKey(credentials.keyPem).export({ type: 'pkcs8', format: 'der' });
    spkiDer = new X509Certificate(credentials.certPem).publicKey.export({ type: 'spki', format: 'der' });
    cert = new x509.X509Certificate(credentials.certPem);
    keys = {
      privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, ED25519, true, ['sign']),
      publicKey: await webcrypto.subtle.importKey('spki', spkiDer, ED25519, true, ['verify']),
    };
  } catch (err) {
    throw invalid('cannot re-sign credentials (Ed25519 key and certificate expected)', err);
  }
  const existing = identityOfCredentials(credentials).ownerKeys;
  const added = ownerKeys.filter((k) => !existing.includes(k.publicKeyHex));
  // Earlier signatures are kept byte for byte: they are over the same SubjectPublicKeyInfo.
  const ext = cert.getExtension(OWNER_SIGNATURE_OID);
  const kept = ext ? Buffer.from(ext.value) : Buffer.alloc(0);
  const ownerValue = Buffer.concat([kept, encodeOwnerSignatures(spkiDer, added)]);
  const certPem = await issue(keys, ownerValue, {
    commonName: cert.subject.replace(/^CN=/, ''),
    notBefore: cert.notBefore,
    validityDays: (cert.notAfter.getTime() - cert.notBefore.getTime()) / DAY_MS,
    ...options,
  });
  return { keyPem: credentials.keyPem, certPem };
}

/** Lowercase hex SHA-256 of a certificate's DER (the peerpost identity hash). */
export function certificateHash(cert: string | Uint8Array): string {
  const der = typeof cert === 'string' ? pemToDer(cert) : cert;
  return createHash('sha256').update(der).digest('hex');
}

/** DER bytes of a PEM certificate; throws `ERR_INVALID_CERTIFICATE` when it does not parse. */
export function pemToDer(certPem: string): Buffer {
  try {
    return new X509Certificate(certPem).raw;
  } catch (err) {
    throw invalid('invalid certificate PEM', err);
  }
}

/** The identity these credentials present (hash, short id, verified owner keys). */
export function identityOfCredentials(credentials: Credentials): RemoteIdentity {
  return identityOfCertificate(pemToDer(credentials.certPem));
}

/** Where credentials were read from, so that errors name the files. */
export interface CredentialFiles {
  readonly keyFile: string;
  readonly certFile: string;
}

/**
 * Checks that the key parses and belongs to the certificate; throws `ERR_INVALID_CERTIFICATE`.
 * With `files`, the messages name them (`the private key in <keyFile> does not match the
 * certificate in <certFile>`).
 */
export function validateCredentials(credentials: Credentials, files?: CredentialFiles): void {
  const certIn = files === undefined ? '' : ` in ${files.certFile}`;
  const keyIn = files === undefined ? '' : ` in ${files.keyFile}`;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(credentials.certPem);
  } catch (err) {
    throw invalid(`invalid certificate PEM${certIn}`, err);
  }
  let ok: boolean;
  try {
    ok = cert.checkPrivateKey(createPrivateKey(credentials.keyPem));
  } catch (err) {
    throw invalid(`invalid private key PEM${keyIn}`, err);
  }
  if (!ok)
    throw new PeerpostError(
      'ERR_INVALID_CERTIFICATE',
      files === undefined
        ? 'the private key does not match the certificate'
        : `the private key in ${files.keyFile} does not match the certificate in ${files.certFile}`,
    );
}

export interface SaveCredentialsOptions {
  /**
   * Replace `key.pem` and `cert.pem` when they exist. When false, existing files are an
   * error (`ERR_INVALID_OPTION`, naming them) and nothing is written. @default true
   */
  overwrite?: boolean;
}

/**
 * Writes `key.pem` (mode 0600) and `cert.pem` into `dir`, creating it if needed. Each file
 * is written under a temporary name and renamed into place, so a replaced key is never
 * readable with the old file's mode, nor half written.
 */
export async function saveCredentials(
  dir: string,
  credentials: Credentials,
  options: SaveCredentialsOptions = {},
): Promise<void> {
  await makeDir(dir);
  const keyFile = join(dir, KEY_FILE);
  const certFile = join(dir, CERT_FILE);
  if (options.overwrite === false) {
    const existing = (
      await Promise.all([keyFile, certFile].map(async (f) => ((await exists(f)) ? f : '')))
    ).filter((f) => f !== '');
    if (existing.length > 0) {
      throw new PeerpostError(
        'ERR_INVALID_OPTION',
        `${existing.join(' and ')} already ${existing.length > 1 ? 'exist' : 'exists'}`,
      );
    }
  }
  await writeReplacing(keyFile, credentials.keyPem, 0o600, options.overwrite !== false);
  await writeReplacing(certFile, credentials.certPem, 0o666, options.overwrite !== false);
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Writes `file` through a fresh temporary file and a rename; without `replace`, fails if it exists. */
async function writeReplacing(file: string, text: string, mode: number, replace: boolean): Promise<void> {
  if (!replace) {
    await writeFile(file, text, { mode, flag: 'wx' });
    return;
  }
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, text, { mode, flag: 'wx' });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * `mkdir -p`. Not `mkdir(dir, { recursive: true })`: on Node 20 that loops forever at
 * 100% CPU when the kernel answers ENOENT for a directory whose parent exists (e.g.
 * `/proc/nope`); here such a directory fails with that ENOENT.
 */
async function makeDir(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if ((await stat(dir)).isDirectory()) return;
      throw err;
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    await makeDir(parent);
    await mkdir(dir);
  }
}

/** Reads and validates credentials: `dir/key.pem` + `dir/cert.pem`, or explicit file paths. */
export async function loadCredentials(
  from: string | { keyFile: string; certFile: string },
): Promise<Credentials> {
  const files =
    typeof from === 'string' ? { keyFile: join(from, KEY_FILE), certFile: join(from, CERT_FILE) } : from;
  const credentials = {
    keyPem: await readFile(files.keyFile, 'utf8'),
    certPem: await readFile(files.certFile, 'utf8'),
  };
  validateCredentials(credentials, files);
  return credentials;
}
