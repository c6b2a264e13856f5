import type { ExpectedIdentity } from '../transport/types.js';

/** One address of a peer, optionally with the identity that must answer there. */
export interface PeerAddress {
  /** `host:port`. */
  readonly address: string;
  readonly expectedIdentity?: ExpectedIdentity | undefined;
}

/**
 * Peer id -> identities that name the peer without an address: a peer on an ephemeral
 * port (a client) that connects to us but that we never dial.
 */
export type PeerIdentities = ReadonlyMap<string, readonly ExpectedIdentity[]>;

/**
 * The peer table: peer id -> its addresses. Replaced as a whole on every change.
 *
 * `identities` (optional) names peers by identity alone: such a peer is also listed in
 * the map, with the addresses it has (none for a client on an ephemeral port: messages to
 * it wait as unresolved), and its identities give it its peer id on every connection it
 * opens to us. Copying the map (`new Map(topology)`) drops them: build topologies with
 * `createNetwork`/`updateTopology` input (`{ client: [{ certHash }] }`) instead.
 */
export type Topology = ReadonlyMap<string, readonly PeerAddress[]> & {
  readonly identities?: PeerIdentities | undefined;
};

export const EMPTY_TOPOLOGY: Topology = new Map();

const NO_IDENTITIES: PeerIdentities = new Map();

/** The identities of `topology` without an address (empty when it has none). */
export function identitiesOf(topology: Topology): PeerIdentities {
  return topology.identities ?? NO_IDENTITIES;
}

/** A topology from its address table and the identities that name peers without an address. */
export function makeTopology(
  addresses: Map<string, readonly PeerAddress[]>,
  identities: PeerIdentities,
): Topology {
  for (const id of identities.keys()) if (!addresses.has(id)) addresses.set(id, []);
  if (identities.size === 0) return addresses;
  return Object.assign(addresses, { identities });
}
