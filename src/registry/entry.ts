import { Buffer } from 'node:buffer';
import { toTopology } from '../config/parse.js';
import { topologySchema } from '../config/schema.js';
import { identitiesOf, makeTopology, type PeerAddress, type Topology } from '../topology/types.js';
import type { ExpectedIdentity } from '../transport/types.js';

/**
 * The value a node writes under `<prefix><peer id>` in the registry, and the checks every
 * value read back goes through. A value is JSON:
 *
 *   {"v":1,"addresses":[{"address":"10.0.0.2:7000","certHash":"9f86…"}]}
 *
 * Each address may carry the identity expected there (`certHash` or `ownerKey`), with the
 * same rules as the static topology. Anything else (not JSON, another version, unknown
 * keys, too large, too many addresses, an invalid address) is rejected as a whole.
 */

/** Format version written in `v`. Entries of another version are ignored. */
export const ENTRY_VERSION = 1;
/** Largest value accepted, in bytes. */
export const MAX_ENTRY_BYTES = 8 * 1024;
/** Most addresses one entry may list. */
export const MAX_ENTRY_ADDRESSES = 16;
/** Longest peer id (the key after the prefix), in UTF-8 bytes. */
export const MAX_PEER_ID_BYTES = 256;
/** Longest address string (a host name is at most 253 characters). */
export const MAX_ADDRESS_CHARS = 300;
/** Longest key prefix, in UTF-8 bytes. */
export const MAX_PREFIX_BYTES = 512;

/** A valid entry, decoded. */
export interface RegistryEntry {
  readonly peerId: string;
  readonly addresses: readonly PeerAddress[];
}

export type Decoded = { readonly entry: RegistryEntry } | { readonly problem: string };

function hasControlChars(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Why `peerId` cannot be a registry key suffix, or undefined when it can. */
export function peerIdProblem(peerId: string): string | undefined {
  if (peerId.length === 0) return 'empty peer id';
  if (Buffer.byteLength(peerId) > MAX_PEER_ID_BYTES) return `peer id longer than ${MAX_PEER_ID_BYTES} bytes`;
  if (hasControlChars(peerId)) return 'peer id contains control characters';
  if (peerId.includes('\uFFFD')) return 'peer id is not valid UTF-8';
  return undefined;
}

/** Why `prefix` is not a usable key prefix, or undefined. */
export function prefixProblem(prefix: string): string | undefined {
  if (prefix.length === 0) return 'expected a non-empty prefix';
  if (Buffer.byteLength(prefix) > MAX_PREFIX_BYTES) return `longer than ${MAX_PREFIX_BYTES} bytes`;
  if (hasControlChars(prefix)) return 'contains control characters';
  if (!prefix.endsWith('/'))
    return 'must end with "/" (so that one cluster\'s prefix is never the start of another\'s)';
  return undefined;
}

/** The JSON value of this node's entry. */
export function encodeEntry(addresses: readonly string[], identity: ExpectedIdentity | undefined): string {
  return JSON.stringify({
    v: ENTRY_VERSION,
    addresses: addresses.map((address) => ({ address, ...(identity ?? {}) })),
  });
}

const ADDRESS_KEYS: ReadonlySet<string> = new Set(['address', 'certHash', 'ownerKey']);

/**
 * Decodes the entry stored under `key`: the peer id is the key without `prefix`. Never
 * throws; a rejected entry comes back as `{ problem }`.
 */
export function decodeEntry(prefix: Buffer, key: Buffer, value: Buffer): Decoded {
  if (key.length <= prefix.length || !key.subarray(0, prefix.length).equals(prefix)) {
    return { problem: 'key is outside the prefix' };
  }
  const idBytes = key.subarray(prefix.length);
  if (idBytes.length > MAX_PEER_ID_BYTES)
    return { problem: `peer id longer than ${MAX_PEER_ID_BYTES} bytes` };
  const peerId = idBytes.toString('utf8');
  const idProblem = peerIdProblem(peerId);
  if (idProblem !== undefined) return { problem: idProblem };
  if (value.length > MAX_ENTRY_BYTES) {
    return { problem: `value of ${value.length} bytes is larger than ${MAX_ENTRY_BYTES}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return { problem: 'value is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { problem: 'value is not a JSON object' };
  }
  const record = parsed as Record<string, unknown>;
  const extra = Object.keys(record).filter((k) => k !== 'v' && k !== 'addresses');
  if (extra.length > 0) return { problem: `unknown key ${JSON.stringify(extra[0]!.slice(0, 40))}` };
  if (record['v'] !== ENTRY_VERSION) return { problem: `version is not ${ENTRY_VERSION}` };
  const list = record['addresses'];
  if (!Array.isArray(list)) return { problem: '"addresses" is not a list' };
  if (list.length === 0) return { problem: '"addresses" is empty' };
  if (list.length > MAX_ENTRY_ADDRESSES) {
    return { problem: `more than ${MAX_ENTRY_ADDRESSES} addresses (${list.length})` };
  }
  for (const item of list) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      return { problem: 'an address is not an object' };
    }
    const keys = Object.keys(item);
    const unknown = keys.find((k) => !ADDRESS_KEYS.has(k));
    if (unknown !== undefined)
      return { problem: `unknown address key ${JSON.stringify(unknown.slice(0, 40))}` };
    const address = (item as Record<string, unknown>)['address'];
    // A registry entry is where the peer can be reached: identity-only entries are not taken.
    if (typeof address !== 'string') return { problem: 'an address has no "address" string' };
    if (address.length > MAX_ADDRESS_CHARS) {
      return { problem: `an address is longer than ${MAX_ADDRESS_CHARS} characters` };
    }
  }
  // The same rules as the static topology: host:port, 64-hex identities, no duplicates.
  const checked = topologySchema.safeParse({ [peerId]: list });
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    return { problem: `invalid address: ${issue.message}` };
  }
  const addresses = toTopology(checked.data).get(peerId) ?? [];
  return { entry: { peerId, addresses } };
}

/** A stable text of a topology, to tell whether two tables differ. */
export function topologyKey(topology: Topology): string {
  const ids = [...topology.keys()].sort();
  const identities = identitiesOf(topology);
  return JSON.stringify(
    ids.map((id) => [
      id,
      (topology.get(id) ?? []).map((a) => [a.address, a.expectedIdentity ?? null]),
      identities.get(id) ?? null,
    ]),
  );
}

/**
 * The table the network uses: every static peer as configured, then every registry peer
 * whose id the static table does not name. A static entry wins for its peer id as a whole
 * (its addresses and identities are never replaced or extended by the registry), so a
 * hand-pinned peer cannot be redirected by whoever can write to etcd.
 */
export function mergeTopology(staticTopology: Topology, registry: Iterable<RegistryEntry>): Topology {
  const merged = new Map<string, readonly PeerAddress[]>(staticTopology);
  for (const entry of registry) {
    if (!merged.has(entry.peerId)) merged.set(entry.peerId, entry.addresses);
  }
  // Static peers named by identity only (clients on ephemeral ports) stay so named.
  return makeTopology(merged, identitiesOf(staticTopology));
}
