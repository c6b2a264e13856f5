import { PeerpostError } from '../errors.js';
import type { HubStats } from '../hub/stats.js';
import type { SendMode } from '../sender/outcome.js';
import { peer } from '../sender/receiver.js';
import type { DirectSenderStats } from '../sender/stats.js';
import type { ConnectionKind } from '../transport/types.js';
import type { Envelope } from '../wire/envelope.js';
import { broadcastSeqOf, type IdSource } from './gaps.js';
import type { MessageSource } from './incoming.js';
import type { Network } from './network.js';
import type { AckOptions, NetworkLimits } from './options.js';
import { replyIdFromBytes, replyIdOf } from './requests.js';

/** A message delivered to the application. */
export class NetworkMessage {
  /**
   * The decompressed payload: a view of the buffer the message was read into, shared with
   * the other messages of that read (up to 64 KiB, see docs/network.md): copy it to keep
   * it long after the listener.
   */
  readonly data: Uint8Array;
  readonly #network: Network;

  constructor(
    network: Network,
    /** As received; its `id` is read on first access (`ReceivedEnvelope`): copy fields by name. */
    readonly envelope: Envelope,
    data: Uint8Array,
    readonly from: MessageSource,
    readonly receivedAtMs: number,
  ) {
    this.#network = network;
    this.data = data;
  }

  get id(): string {
    return this.envelope.id;
  }

  get label(): string {
    return this.envelope.label;
  }

  /** For a broadcast: its number in its publisher's sequence (0, 1, 2, ...); else undefined. */
  get broadcastSeq(): number | undefined {
    return broadcastSeqOf(this.envelope.id)?.seq;
  }

  /**
   * Answers over the connection the message came in on: by address for a connection the
   * peer opened to us, or to the peer's sender for a reply that arrived on ours. Returns
   * the reply's message id, which names this message (`<id>~r~<fresh id>`: see
   * `network.request()`); its outcome arrives through `onOutcome`.
   */
  reply(label: string, data: Uint8Array): string {
    const fresh = this.#network.newMessageId();
    // A received envelope whose id was not read yet: the reply id from the id's bytes.
    const source = this.envelope as Envelope & IdSource;
    const bytes = source.idBytes;
    const id =
      (bytes !== undefined
        ? replyIdFromBytes(bytes, source.idStart as number, source.idEnd as number, fresh)
        : undefined) ?? replyIdOf(this.envelope.id, fresh);
    const options = { id };
    if (this.from.direction === 'inbound') {
      // The connection's own remote address: no need to check it as addr() checks a caller's.
      return this.#network.send({ kind: 'addr', address: this.from.address }, label, data, options);
    }
    if (this.from.peerId === undefined) {
      throw new PeerpostError(
        'ERR_INVALID_OPTION',
        `cannot reply: the message from ${this.from.address} came on an outbound connection of an unknown peer`,
      );
    }
    return this.#network.send(peer(this.from.peerId), label, data, options);
  }
}

/** Live-updatable settings (`network.updateConfig`). */
export interface NetworkConfigUpdate {
  directSendMode?: SendMode;
  /** Sender limits apply live (queues, unresolved queue, backoff). Hub and transport limits need a restart. */
  limits?: NetworkLimits;
  knownLabels?: readonly string[];
  /** Acknowledged delivery to peers (`enabled`, `peers`, `window`, `windowBytes`; applies to connections opened after it). */
  acks?: AckOptions;
}

export interface NetworkStats {
  readonly nodeId: string;
  readonly address: string;
  readonly sender: DirectSenderStats;
  readonly hub: HubStats;
  readonly incoming: {
    readonly delivered: number;
    readonly deduplicated: number;
    /** Message ids held in the dedup window (only messages that carry `directReceiver` enter it). */
    readonly dedupWindow: number;
    readonly undecodable: number;
    readonly buffered: number;
    /** Bytes of the buffered messages (bounded by `limits.incomingQueueBytes`). */
    readonly bufferedBytes: number;
    readonly droppedSlowReader: number;
  };
  readonly outcomes: Readonly<Record<string, number>>;
  /** Exceptions thrown by the application's listeners (see `network.onError`). */
  readonly listenerErrors: number;
  /**
   * Bytes all the node's queues hold (peer sender queues, the unresolved queue, the hub's
   * connection queues, the incoming queue), against `limits.nodeQueueBytes`.
   */
  readonly queueBytes: number;
}

/** Where an error reported through `network.onError` came from. */
export interface ErrorContext {
  /** The listener that threw: `onMessage`, `onOutcome` (global or per-send), `onSettled`, `onPeer` or `onGap`. */
  readonly source: 'onMessage' | 'onOutcome' | 'onSettled' | 'onPeer' | 'onGap';
  /** The message the listener was called for. */
  readonly messageId: string | undefined;
}

export interface SubscribeOptions {
  /** @default 'subscribe-node' */
  kind?: Exclude<ConnectionKind, 'direct'>;
  /**
   * Acknowledge the broadcasts this node's application is handed (docs/acks.md), so the
   * publisher learns this subscriber's gaps: its outcome for this subscriber is `delivered`,
   * or `dropped:unacknowledged` when the connection closed before the ack. Needs a
   * publisher that accepts acks (else the subscription is plain). @default false
   */
  acks?: boolean;
}
