import { identitiesOf, type Topology } from '../topology/types.js';
import type { ExpectedIdentity, RemoteIdentity } from '../transport/types.js';

/**
 * Who a connection belongs to, by the identities the topology names: the identities
 * pinned at its addresses and the identities given without an address (a client on an
 * ephemeral port). Certificate hash first, then owner keys. Built once per topology
 * version so that identifying a connection is a couple of map lookups.
 *
 * The rule, the same on every path (see docs/hub.md, "Peer identification"):
 *
 * - a remote identity the topology names is that peer, whichever connection it came by:
 *   inbound (it dialed us), a reply on our peer sender's connection, or our subscription;
 * - otherwise, on a connection this node dialed, the peer listed at the dialed address
 *   without a pinned identity (dialing it is the proof); on an inbound connection,
 *   nobody (`peerId` undefined: its remote port is ephemeral, the address proves nothing).
 *
 * When two peers name the same identity, the first in topology order wins.
 */
export class IdentityIndex {
  readonly #byCertHash = new Map<string, string>();
  readonly #byOwnerKey = new Map<string, string>();
  /** Addresses of peers that pin no identity there. */
  readonly #byAddress = new Map<string, string>();

  constructor(topology: Topology) {
    const identities = identitiesOf(topology);
    for (const [peerId, addresses] of topology) {
      for (const { address, expectedIdentity } of addresses) {
        if (expectedIdentity === undefined) {
          if (!this.#byAddress.has(address)) this.#byAddress.set(address, peerId);
        } else this.#add(expectedIdentity, peerId);
      }
      for (const identity of identities.get(peerId) ?? []) this.#add(identity, peerId);
    }
  }

  #add(identity: ExpectedIdentity, peerId: string): void {
    const [map, key] =
      'certHash' in identity
        ? [this.#byCertHash, identity.certHash.toLowerCase()]
        : [this.#byOwnerKey, identity.ownerKey.toLowerCase()];
    if (!map.has(key)) map.set(key, peerId);
  }

  /** The peer id the topology gives this identity, or undefined. */
  identify(identity: RemoteIdentity): string | undefined {
    const byHash = this.#byCertHash.get(identity.certHash.toLowerCase());
    if (byHash !== undefined) return byHash;
    for (const key of identity.ownerKeys) {
      const byOwner = this.#byOwnerKey.get(key.toLowerCase());
      if (byOwner !== undefined) return byOwner;
    }
    return undefined;
  }

  /**
   * For a connection this node opened to `address`: the peer the identity names, else
   * the peer listed at `address` without a pinned identity (dialing it is the proof).
   * A pinned address answered by another identity is not that peer.
   */
  identifyDialed(identity: RemoteIdentity, address: string): string | undefined {
    return this.identify(identity) ?? this.#byAddress.get(address);
  }
}
