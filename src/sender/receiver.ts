import { PeerpostError } from '../errors.js';
import { addressProblem } from '../util/address.js';

/** Whom a direct message is for: a logical peer id, or a raw socket address (a reply). */
export type DirectReceiver =
  | { readonly kind: 'peer'; readonly id: string }
  | { readonly kind: 'addr'; readonly address: string };

export function peer(id: string): DirectReceiver {
  return { kind: 'peer', id };
}

/**
 * An address receiver (the reply path). Throws `ERR_INVALID_ADDRESS` when `address` is
 * not a `host:port` with a port from 1 to 65535, so a typo fails at the call instead of
 * ending as `dropped:no_connection`.
 */
export function addr(address: string): DirectReceiver {
  const problem = typeof address === 'string' ? addressProblem(address) : 'expected a host:port string';
  if (problem !== undefined) {
    throw new PeerpostError('ERR_INVALID_ADDRESS', `invalid address ${JSON.stringify(address)}: ${problem}`);
  }
  return { kind: 'addr', address };
}

/** Prints as the bare id or address. */
export function formatReceiver(receiver: DirectReceiver): string {
  return receiver.kind === 'peer' ? receiver.id : receiver.address;
}

/** `id (addr)`, e.g. `peer123 (192.168.1.5:8080)`. */
export function peerInfo(id: string, address: string): string {
  return `${id} (${address})`;
}
