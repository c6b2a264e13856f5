import type { RemoteIdentity } from '../transport/types.js';
import { normalizeOwnerKeyHex } from './owner-keys.js';
import { normalizeCertHash } from './peer-identity.js';

/** Whom to trust. Both sets empty (or absent): everyone. Both given: either may pass. */
export interface TrustPolicy {
  /** Trusted certificate hashes (hex SHA-256 of the DER). @default [] */
  certHashes?: Iterable<string>;
  /** Trusted Ed25519 owner keys (hex); a certificate signed by one of them is trusted. @default [] */
  ownerKeys?: Iterable<string>;
}

/** An immutable, validated trust policy: replace it as a whole to change trust. */
export class TrustSet {
  readonly certHashes: ReadonlySet<string>;
  readonly ownerKeys: ReadonlySet<string>;

  constructor(policy: TrustPolicy = {}) {
    this.certHashes = new Set([...(policy.certHashes ?? [])].map(normalizeCertHash));
    this.ownerKeys = new Set([...(policy.ownerKeys ?? [])].map(normalizeOwnerKeyHex));
  }

  /** True when no set is configured: every certificate is accepted. */
  get trustsEveryone(): boolean {
    return this.certHashes.size === 0 && this.ownerKeys.size === 0;
  }

  isTrusted(identity: RemoteIdentity): boolean {
    if (this.trustsEveryone) return true;
    if (this.certHashes.has(identity.certHash)) return true;
    for (const key of identity.ownerKeys) if (this.ownerKeys.has(key)) return true;
    return false;
  }
}
