import { Buffer } from 'node:buffer';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { PeerpostError } from '../errors.js';

/** The X.509 extension that carries owner signatures over the certificate's SubjectPublicKeyInfo. */
export const OWNER_SIGNATURE_OID = '1.2.3.4.5.6';
const PUBKEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
/** One entry of the extension value: `ed25519_pubkey(32) || signature(64)`. */
export const OWNER_ENTRY_BYTES = PUBKEY_BYTES + SIGNATURE_BYTES;
/** More entries than this in one certificate is treated as hostile input, not checked. */
export const MAX_OWNER_ENTRIES = 64;

// DER prefixes that turn a raw 32-byte Ed25519 key into SPKI / PKCS#8 (RFC 8410).
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const HEX64 = /^[0-9a-f]{64}$/;

/** An Ed25519 owner key: it vouches for certificates by signing their SubjectPublicKeyInfo. */
export interface OwnerKey {
  readonly privateKey: KeyObject;
  /** Lowercase hex of the raw 32-byte public key: the form used in trust sets. */
  readonly publicKeyHex: string;
}

function ownerKeyOf(privateKey: KeyObject): OwnerKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new PeerpostError(
      'ERR_INVALID_CERTIFICATE',
      `an owner key must be Ed25519, got ${privateKey.asymmetricKeyType}`,
    );
  }
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  return { privateKey, publicKeyHex: spki.subarray(ED25519_SPKI_PREFIX.length).toString('hex') };
}

/** A fresh random owner key. */
export function generateOwnerKey(): OwnerKey {
  return ownerKeyOf(generateKeyPairSync('ed25519').privateKey);
}

/**
 * Parses an owner key file's text: a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) or the raw
 * 32-byte Ed25519 seed as 64 hex characters (surrounding whitespace ignored).
 */
export function parseOwnerKey(text: string): OwnerKey {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith('-----BEGIN')) return ownerKeyOf(createPrivateKey(trimmed));
    const hex = trimmed.toLowerCase().replace(/^0x/, '');
    if (!HEX64.test(hex)) throw new Error('expected a PKCS#8 PEM or 64 hex characters');
    const der = Buffer.concat([ED25519_PKCS8_PREFIX, Buffer.from(hex, 'hex')]);
    return ownerKeyOf(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  } catch (err) {
    if (err instanceof PeerpostError) throw err;
    throw new PeerpostError('ERR_INVALID_CERTIFICATE', `invalid owner key: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export async function loadOwnerKey(file: string): Promise<OwnerKey> {
  return parseOwnerKey(await readFile(file, 'utf8'));
}

/** Writes the owner key as PKCS#8 PEM, readable by the owner only. */
export async function saveOwnerKey(file: string, key: OwnerKey): Promise<void> {
  const pem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  await writeFile(file, pem, { mode: 0o600 });
}

/** Normalizes a hex Ed25519 public key (trust sets, pinning); throws on anything else. */
export function normalizeOwnerKeyHex(hex: string): string {
  const lower = hex.trim().toLowerCase();
  if (!HEX64.test(lower)) {
    throw new PeerpostError('ERR_INVALID_OPTION', `an owner key must be 64 hex characters, got "${hex}"`);
  }
  return lower;
}

/** The extension value: one `pubkey || sign(spkiDer)` entry per owner key. */
export function encodeOwnerSignatures(spkiDer: Uint8Array, keys: readonly OwnerKey[]): Buffer {
  const out = Buffer.allocUnsafe(keys.length * OWNER_ENTRY_BYTES);
  keys.forEach((key, i) => {
    const at = i * OWNER_ENTRY_BYTES;
    out.write(key.publicKeyHex, at, PUBKEY_BYTES, 'hex');
    sign(null, spkiDer, key.privateKey).copy(out, at + PUBKEY_BYTES);
  });
  return out;
}

/** Splits an extension value into entries (no verification); throws on a malformed length. */
export function decodeOwnerEntries(value: Uint8Array): { publicKey: Buffer; signature: Buffer }[] {
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (buf.length % OWNER_ENTRY_BYTES !== 0 || buf.length / OWNER_ENTRY_BYTES > MAX_OWNER_ENTRIES) {
    throw new PeerpostError(
      'ERR_INVALID_CERTIFICATE',
      `owner signature extension of ${buf.length} bytes is not 1..${MAX_OWNER_ENTRIES} entries of ${OWNER_ENTRY_BYTES}`,
    );
  }
  const entries: { publicKey: Buffer; signature: Buffer }[] = [];
  for (let at = 0; at < buf.length; at += OWNER_ENTRY_BYTES) {
    entries.push({
      publicKey: buf.subarray(at, at + PUBKEY_BYTES),
      signature: buf.subarray(at + PUBKEY_BYTES, at + OWNER_ENTRY_BYTES),
    });
  }
  return entries;
}

/** Hex owner keys whose signature over `spkiDer` verifies; bad entries are skipped. */
export function verifiedOwnerKeys(spkiDer: Uint8Array, value: Uint8Array): string[] {
  const keys: string[] = [];
  for (const { publicKey, signature } of decodeOwnerEntries(value)) {
    const key = createPublicKey({
      key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
    if (verify(null, spkiDer, key, signature)) {
      const hex = publicKey.toString('hex');
      if (!keys.includes(hex)) keys.push(hex);
    }
  }
  return keys;
}
