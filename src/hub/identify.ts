import type { Topology } from '../topology/types.js';
import type { RemoteIdentity } from '../transport/types.js';

/**
 * Who a connection belongs to, by the identities the topology pins: certificate hash
 * first, then owner keys. Built once per topology version so that identifying a
 * connection is a couple of map lookups.
 *
 * A peer whose addresses pin no identity cannot be recognised on an inbound connection
 * (the remote port is ephemeral, so the address proves nothing): its messages arrive
 * with `peerId` undefined. When two peers pin the same identity, the first in topology
 * order wins.
 */
export class IdentityIndex {
  readonly #byCertHash = new Map<string, string>();
  readonly #byOwnerKey = new Map<string, string>();
  /** Addresses of peers that pin no identity there. */
  readonly #byAddress = new Map<string, string>();

  constructor(topology: Topology) {
    for (const [peerId, addresses] of topology) {
      for (const { address, expectedIdentity } of addresses) {
        if (expectedIdentity === undefined) {
          if (!this.#byAddress.has(address)) this.#byAddress.set(address, peerId);
          continue;
        }
        if ('certHash' in expectedIdentity) {
          const key = expectedIdentity.certHash.toLowerCase();
          if (!this.#byCertHash.has(key)) this.#byCertHash.set(key, peerId);
        } else {
          const key = expectedIdentity.ownerKey.toLowerCase();
          if (!this.#byOwnerKey.has(key)) this.#byOwnerKey.set(key, peerId);
        }
      }
    }
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
