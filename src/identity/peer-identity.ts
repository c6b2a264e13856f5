import { createHash, X509Certificate } from 'node:crypto';
import { PeerpostError } from '../errors.js';
import type { ExpectedIdentity, RemoteIdentity } from '../transport/types.js';
import { normalizeOwnerKeyHex, OWNER_SIGNATURE_OID, verifiedOwnerKeys } from './owner-keys.js';
import { x509 } from './x509.js';

/** Length of {@link RemoteIdentity.shortId}. */
export const SHORT_ID_CHARS = 4;

/**
 * The identity a certificate proves: SHA-256 of its DER and the owner keys whose
 * signatures over its SubjectPublicKeyInfo verify. Throws `ERR_INVALID_CERTIFICATE` when
 * the DER does not parse or the owner extension is malformed.
 */
export function identityOfCertificate(der: Uint8Array): RemoteIdentity {
  const certHash = createHash('sha256').update(der).digest('hex');
  let ownerKeys: string[] = [];
  try {
    const ext = new x509.X509Certificate(der).getExtension(OWNER_SIGNATURE_OID);
    if (ext) {
      const spki = new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
      ownerKeys = verifiedOwnerKeys(spki, new Uint8Array(ext.value));
    }
  } catch (err) {
    if (err instanceof PeerpostError) throw err;
    throw new PeerpostError(
      'ERR_INVALID_CERTIFICATE',
      `unparseable peer certificate: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return { certHash, shortId: certHash.slice(0, SHORT_ID_CHARS), ownerKeys };
}

/** Normalizes a pinned identity (lowercase hex, validated); throws `ERR_INVALID_OPTION`. */
export function normalizeExpectedIdentity(expected: ExpectedIdentity): ExpectedIdentity {
  if ('certHash' in expected) return { certHash: normalizeCertHash(expected.certHash) };
  return { ownerKey: normalizeOwnerKeyHex(expected.ownerKey) };
}

export function normalizeCertHash(hex: string): string {
  const lower = hex.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(lower)) {
    throw new PeerpostError(
      'ERR_INVALID_OPTION',
      `a certificate hash must be 64 hex characters, got "${hex}"`,
    );
  }
  return lower;
}

/** True when `identity` is the pinned one (expected must be normalized). */
export function matchesExpected(identity: RemoteIdentity, expected: ExpectedIdentity): boolean {
  return 'certHash' in expected
    ? identity.certHash === expected.certHash
    : identity.ownerKeys.includes(expected.ownerKey);
}
