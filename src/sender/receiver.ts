/** Whom a direct message is for: a logical peer id, or a raw socket address (a reply). */
export type DirectReceiver =
  | { readonly kind: 'peer'; readonly id: string }
  | { readonly kind: 'addr'; readonly address: string };

export function peer(id: string): DirectReceiver {
  return { kind: 'peer', id };
}

export function addr(address: string): DirectReceiver {
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
