import type { ExpectedIdentity } from '../transport/types.js';

/** One address of a peer, optionally with the identity that must answer there. */
export interface PeerAddress {
  /** `host:port`. */
  readonly address: string;
  readonly expectedIdentity?: ExpectedIdentity | undefined;
}

/** The peer table: peer id -> its addresses. Replaced as a whole on every change. */
export type Topology = ReadonlyMap<string, readonly PeerAddress[]>;

export const EMPTY_TOPOLOGY: Topology = new Map();
