import type { InboundConnection } from './inbound.js';

/**
 * Where the hub's outgoing messages may go: direct connections by remote address (the
 * reply path) and subscriber connections, all of them and by peer id (for
 * `directReceiver`). Only routable connections are here: a retired (closing) one is
 * removed at once, before its socket is gone.
 */
export class Routes {
  /** Direct connections by remote address; the last entry is the newest. */
  readonly #byAddress = new Map<string, InboundConnection[]>();
  readonly #subscribers = new Set<InboundConnection>();
  readonly #subscribersByPeer = new Map<string, InboundConnection[]>();

  /** The newest direct connection from `address`. */
  direct(address: string): InboundConnection | undefined {
    const list = this.#byAddress.get(address);
    return list?.[list.length - 1];
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /** Every subscriber, or undefined when there is none. */
  subscribers(): Iterable<InboundConnection> | undefined {
    return this.#subscribers.size > 0 ? this.#subscribers : undefined;
  }

  /** The subscriber connections identified as `peerId`. */
  subscribersOf(peerId: string): readonly InboundConnection[] | undefined {
    return this.#subscribersByPeer.get(peerId);
  }

  add(inbound: InboundConnection): void {
    if (inbound.isSubscriber) {
      this.#subscribers.add(inbound);
      if (inbound.peerId !== undefined) pushTo(this.#subscribersByPeer, inbound.peerId, inbound);
    } else {
      pushTo(this.#byAddress, inbound.remoteAddress, inbound);
    }
  }

  remove(inbound: InboundConnection): void {
    if (inbound.isSubscriber) {
      this.#subscribers.delete(inbound);
      if (inbound.peerId !== undefined) removeFrom(this.#subscribersByPeer, inbound.peerId, inbound);
    } else {
      removeFrom(this.#byAddress, inbound.remoteAddress, inbound);
    }
  }

  /** Rebuilds the by-peer index after peer ids changed (a topology update). */
  reindexSubscribers(): void {
    this.#subscribersByPeer.clear();
    for (const inbound of this.#subscribers) {
      if (inbound.peerId !== undefined) pushTo(this.#subscribersByPeer, inbound.peerId, inbound);
    }
  }
}

function pushTo<K>(map: Map<K, InboundConnection[]>, key: K, inbound: InboundConnection): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [inbound]);
  else list.push(inbound);
}

function removeFrom<K>(map: Map<K, InboundConnection[]>, key: K, inbound: InboundConnection): void {
  const list = map.get(key);
  if (list === undefined) return;
  const i = list.indexOf(inbound);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) map.delete(key);
}
