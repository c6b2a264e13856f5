import type { ExpectedIdentity } from '../transport/types.js';
import type { PeerAddress, Topology } from './types.js';

/** How one peer's addresses changed between two topologies. */
export interface PeerAddressDiff {
  /** Addresses that are new, or whose expected identity changed (they must be reconnected). */
  readonly added: readonly PeerAddress[];
  /** Addresses that went away, or whose expected identity changed. */
  readonly removed: readonly string[];
  /** Addresses present in both with the same expected identity. */
  readonly kept: readonly string[];
}

/** Canonical text of an expected identity, for equality checks. */
export function identityKey(identity: ExpectedIdentity | undefined): string {
  if (identity === undefined) return '';
  return 'certHash' in identity
    ? `cert:${identity.certHash.toLowerCase()}`
    : `owner:${identity.ownerKey.toLowerCase()}`;
}

/**
 * Compares the addresses of one peer in two address lists. An address whose expected
 * identity changed appears in both `removed` and `added`: a connection pinned to the old
 * identity must not carry traffic for the new one. Duplicate addresses count once (the
 * first entry wins).
 */
export function diffPeerAddresses(
  before: readonly PeerAddress[] | undefined,
  after: readonly PeerAddress[] | undefined,
): PeerAddressDiff {
  const old = new Map<string, string>();
  for (const a of before ?? []) if (!old.has(a.address)) old.set(a.address, identityKey(a.expectedIdentity));
  const added: PeerAddress[] = [];
  const kept: string[] = [];
  const seen = new Set<string>();
  for (const a of after ?? []) {
    if (seen.has(a.address)) continue;
    seen.add(a.address);
    const prev = old.get(a.address);
    if (prev === undefined || prev !== identityKey(a.expectedIdentity)) added.push(a);
    else kept.push(a.address);
  }
  const removed: string[] = [];
  for (const [address, key] of old) {
    const now = (after ?? []).find((a) => a.address === address);
    if (now === undefined || identityKey(now.expectedIdentity) !== key) removed.push(address);
  }
  return { added, removed, kept };
}

/** Peers whose address lists differ between two topologies, with their diffs. */
export function diffTopology(before: Topology, after: Topology): Map<string, PeerAddressDiff> {
  const out = new Map<string, PeerAddressDiff>();
  for (const id of new Set([...before.keys(), ...after.keys()])) {
    const d = diffPeerAddresses(before.get(id), after.get(id));
    if (d.added.length > 0 || d.removed.length > 0) out.set(id, d);
  }
  return out;
}

/** The distinct addresses of a peer, in topology order (the first entry of a duplicate wins). */
export function uniqueAddresses(addresses: readonly PeerAddress[] | undefined): PeerAddress[] {
  const seen = new Set<string>();
  const out: PeerAddress[] = [];
  for (const a of addresses ?? []) {
    if (seen.has(a.address)) continue;
    seen.add(a.address);
    out.push(a);
  }
  return out;
}
