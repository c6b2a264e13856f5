import { PeerpostError } from '../errors.js';
import { type Metrics, noopMetrics } from '../metrics/types.js';
import type { IncomingSink } from '../network/incoming.js';
import type { Topology } from '../topology/types.js';
import {
  type CloseReason,
  CONNECTION_KINDS,
  type Connection,
  type ConnectionKind,
  type Listener,
  type Transport,
} from '../transport/types.js';
import { type Clock, systemClock } from '../util/clock.js';
import { type Logger, noopLogger } from '../util/logger.js';
import type { Observable } from '../util/observable.js';
import type { Random } from '../util/random.js';
import { WarnLimiter } from '../util/warn-limiter.js';
import { type Envelope, encodableSize } from '../wire/envelope.js';
import { FrameSlab, frameBuffer } from '../wire/frame-slab.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';
import { AckStreams } from './ack-streams.js';
import { HubMetrics } from './hub-metrics.js';
import { IdentityIndex } from './identify.js';
import { InboundConnection, type InboundOwner } from './inbound.js';
import { IncomingReader } from './incoming-reader.js';
import { type HubLimits, type ResolvedHubLimits, resolveHubLimits } from './options.js';
import { ByteBudget, type DepthTotal } from './outbox.js';
import type { HubPort, HubResult, OutcomeTicket } from './port.js';
import { Routes } from './routes.js';
import { type HubStats, hubStats } from './stats.js';
import { Subscription, type SubscriptionOptions } from './subscription.js';

export interface ConnectionHubOptions {
  transport: Transport;
  /** `host:port` to listen on (port 0 picks a free port; see the address `start()` returns). */
  listenAddress: string;
  /** The node's incoming queue: every decoded inbound message is pushed here. */
  incoming: IncomingSink;
  /** The peer table, used to identify inbound peers by their pinned identities. */
  topology: Observable<Topology>;
  /** @default systemClock */
  clock?: Clock;
  /** @default noopMetrics */
  metrics?: Metrics;
  /** @default noopLogger */
  logger?: Logger;
  /** @default see {@link HubLimits} */
  limits?: HubLimits;
  /** This node's peer id, for logs and for subscriptions (`directReceiver` checks). */
  selfId?: string;
  /** Jitter of subscription reconnect backoff. @default Math.random */
  random?: Random;
  /** Called after a subscriber connection is added to or taken out of routing. */
  onSubscribersChanged?: () => void;
  /**
   * While {@link ConnectionHub.subscriberRoomWanted}: a subscriber's queue drained to half
   * its capacity or less (in frames and bytes), so {@link ConnectionHub.broadcastWritable}
   * may have turned true.
   */
  onSubscriberRoom?: () => void;
  /** Called when a connection from a peer identified by its pinned identity is accepted (the peer is up). */
  onInboundPeer?: (peerId: string) => void;
  /**
   * Message labels reported by name in metrics; every other label is reported as `other`
   * (the sender's rule). A list, or a config whose `knownLabels` may change (followed
   * live, e.g. the network's sender config). @default []
   */
  knownLabels?: readonly string[] | Observable<{ readonly knownLabels?: readonly string[] | undefined }>;
  /**
   * The node's byte budget (`limits.nodeQueueBytes`), shared with its other queues: the
   * hub's connection queues count their bytes in it too, and a frame that would pass it
   * is refused (`node_queue_full`). @default unbounded
   */
  budget?: ByteBudget;
  /**
   * Accept the acknowledged-delivery protocol on inbound direct connections when a sender
   * offers it (docs/acks.md). @default true
   */
  acceptAcks?: boolean;
  /** Acknowledged streams remembered for duplicate suppression, most recently opened kept. @default 4096 */
  ackStreams?: number;
}

type HubState = 'idle' | 'starting' | 'listening' | 'closing' | 'closed';

const NO_LABELS: readonly string[] = [];

/**
 * The transport's own cap is set this far above the hub's: the hub refuses and counts
 * (`max_conn_reached`) connections past its cap at admission, before the peer is told it
 * was accepted, while a burst beyond the headroom is still refused by the transport
 * before any TLS work.
 */
export const REFUSAL_HEADROOM = 16;

/**
 * The listener side of a node. One listener serves every connection kind:
 *
 * - inbound `direct` connections are read into the incoming queue, and carry replies by
 *   address ({@link sendToAddress});
 * - inbound `subscribe-node` / `subscribe-proxy` connections are subscribers: every
 *   {@link broadcast} goes to each of them through a bounded per-connection queue;
 * - {@link subscribeTo} opens this node's own subscriptions to other nodes.
 *
 * Implements {@link HubPort} for the direct sender. Lifecycle: `idle -> starting ->
 * listening -> closing -> closed`; `close()` is idempotent.
 */
export class ConnectionHub implements HubPort, InboundOwner {
  readonly reader: IncomingReader;
  readonly #transport: Transport;
  readonly #listenAddress: string;
  readonly #incoming: IncomingSink;
  readonly #topology: Observable<Topology>;
  readonly #clock: Clock;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #limits: ResolvedHubLimits;
  readonly #selfId: string | undefined;
  readonly #random: Random;
  #state: HubState = 'idle';
  #starting: Promise<Listener> | undefined;
  #started: Promise<{ address: string }> | undefined;
  #closing: Promise<void> | undefined;
  #listener: Listener | undefined;
  #unsubscribeTopology: (() => void) | undefined;
  #unsubscribeLabels: (() => void) | undefined;
  /** The known labels in use (a new list rebuilds the metric label caches). */
  #knownLabels: readonly string[];
  #identities: IdentityIndex;
  readonly #all = new Set<InboundConnection>();
  readonly #routes = new Routes();
  /** Where outgoing frames are encoded: consecutive ones lie next to each other. */
  readonly #frames = new FrameSlab();
  readonly #subscriptions = new Set<Subscription>();
  readonly #subscriberDepth: DepthTotal = { value: 0 };
  readonly #replyDepth: DepthTotal = { value: 0 };
  /** Bytes all connection queues hold, against `limits.queueBytesTotal`. */
  readonly #queueBytes: ByteBudget;
  readonly #hubMetrics: HubMetrics;
  /** Subscriptions currently connected, for the outbound connection gauge. */
  readonly #connectedSubscriptions = new Set<Subscription>();
  #refused = 0;
  readonly #onSubscribersChanged: (() => void) | undefined;
  readonly #onSubscriberRoom: (() => void) | undefined;
  /** Someone waits for {@link broadcastWritable}: drained subscriber queues are reported. */
  subscriberRoomWanted = false;
  /** Bytes of the last broadcast's frame: {@link broadcastWritable} asks room for one as large. */
  #lastBroadcastBytes = 1;
  readonly #onInboundPeer: ((peerId: string) => void) | undefined;
  /** Refusal warnings, rate-limited (made on the first one). */
  #warnings: WarnLimiter | undefined;
  /** InboundOwner: set when close() closes the connections itself (after draining them). */
  shuttingDown = false;
  /** InboundOwner: the acknowledged streams this node remembers. */
  readonly ackStreams: AckStreams;
  readonly #acceptAcks: boolean;
  /** While close() waits for the outboxes to drain: looks again after a flush or a close. */
  #onProgress: (() => void) | undefined;

  constructor(options: ConnectionHubOptions) {
    this.#transport = options.transport;
    this.#listenAddress = options.listenAddress;
    this.#incoming = options.incoming;
    this.#topology = options.topology;
    this.#clock = options.clock ?? systemClock;
    this.#metrics = options.metrics ?? noopMetrics;
    this.#selfId = options.selfId;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'hub', self: options.selfId });
    this.#limits = resolveHubLimits(options.limits);
    this.#queueBytes = new ByteBudget(this.#limits.queueBytesTotal, options.budget);
    // A spent hub budget back at half is room for broadcasts too (the node's budget tells
    // its own owner).
    this.#queueBytes.onRoom(() => {
      if (this.subscriberRoomWanted) this.#onSubscriberRoom?.();
    });
    this.#random = options.random ?? Math.random;
    this.#acceptAcks = options.acceptAcks ?? true;
    this.ackStreams = new AckStreams(options.ackStreams ?? 4096);
    this.#onSubscribersChanged = options.onSubscribersChanged;
    this.#onSubscriberRoom = options.onSubscriberRoom;
    this.#onInboundPeer = options.onInboundPeer;
    this.#identities = new IdentityIndex(this.#topology.get());
    // Subscribed from the start (not at start()): subscriptions opened before start()
    // must follow the topology too. close() unsubscribes.
    this.#unsubscribeTopology = this.#topology.subscribe((topology) => this.#onTopology(topology));
    const labels = options.knownLabels ?? [];
    const labelConfig = isLabelList(labels) ? undefined : labels;
    this.#knownLabels = isLabelList(labels) ? labels : (labels.get().knownLabels ?? NO_LABELS);
    this.#hubMetrics = new HubMetrics(this.#metrics, this.#knownLabels);
    this.reader = new IncomingReader({
      incoming: this.#incoming,
      clock: this.#clock,
      metrics: this.#metrics,
      logger: this.#logger,
      clockSkewToleranceMs: this.#limits.clockSkewToleranceMs,
      maxTransferMs: this.#limits.maxTransferMs,
      knownLabels: this.#knownLabels,
    });
    this.#unsubscribeLabels = labelConfig?.subscribe((c) => this.#setKnownLabels(c.knownLabels ?? NO_LABELS));
  }

  #setKnownLabels(known: readonly string[]): void {
    if (known === this.#knownLabels) return;
    this.#knownLabels = known;
    this.reader.setKnownLabels(known);
    this.#hubMetrics.setKnownLabels(known);
  }

  /**
   * Binds the listener. Resolves with the bound address (the real port for port 0).
   * Calling it again while starting or listening returns the same result; after close()
   * it rejects with `ERR_CLOSED`. A failed bind (e.g. `ERR_LISTEN_FAILED`) may be retried.
   */
  start(): Promise<{ address: string }> {
    if (this.#state === 'closing' || this.#state === 'closed') {
      return Promise.reject(new PeerpostError('ERR_CLOSED', `hub cannot start: it is ${this.#state}`));
    }
    this.#started ??= this.#start().catch((err: unknown) => {
      this.#started = undefined;
      throw err;
    });
    return this.#started;
  }

  async #start(): Promise<{ address: string }> {
    this.#state = 'starting';
    this.#starting = this.#transport.listen(this.#listenAddress, {
      onConnection: (connection) => this.#onConnection(connection),
      admit: (candidate) => this.#admit(candidate.remoteAddress),
      kinds: CONNECTION_KINDS,
      maxConnections: this.#limits.maxInboundConnections + REFUSAL_HEADROOM,
      acks: this.#acceptAcks,
    });
    try {
      this.#listener = await this.#starting;
    } catch (err) {
      if (this.#state === 'starting') this.#state = 'idle';
      throw err;
    }
    if (this.#state !== 'starting') {
      // close() ran while we were binding: it waits for #starting, then closes the listener.
      throw new PeerpostError('ERR_CLOSED', 'hub was closed while starting');
    }
    this.#state = 'listening';
    this.#logger.info({ address: this.#listener.address }, 'hub listening');
    return { address: this.#listener.address };
  }

  /** HubPort: the current identity index (the peer senders identify replies with it). */
  identities(): IdentityIndex {
    return this.#identities;
  }

  /** The bound address, once listening. */
  get address(): string | undefined {
    return this.#listener?.address;
  }

  /**
   * Writes `envelope` on the newest open inbound direct connection whose remote address
   * is `address`: handed to the transport, or queued in that connection's bounded reply
   * queue. `pending` then: `ticket` was told `taken`, and is settled `written` once the
   * connection flushed the frame, `connection_lost` if it closed first, `shutdown` if the
   * hub closed it first. Throws only if the envelope cannot be encoded (a coded wire
   * error), before the ticket is told anything.
   */
  sendToAddress(address: string, envelope: Envelope, ticket: OutcomeTicket): HubResult {
    const target = this.#isOpen() ? this.#routes.direct(address) : undefined;
    if (target === undefined) return 'no_connection';
    const size = encodableSize(envelope);
    if (!target.outbox.pushEnvelope(envelope, size, ticket)) {
      this.reader.countError('reply_queue_full');
      return target.outbox.refusal;
    }
    // Sent bytes are counted by the ticket's owner, once the frame is flushed.
    return 'pending';
  }

  /**
   * sendToAddress() of a plain reply (see `Outbox.pushPlain`), with no envelope: true when
   * the open inbound direct connection at `address` took it at once (`ticket` was told
   * `taken` and will be settled); false, having done nothing, otherwise (no such
   * connection, or its queue has frames waiting): the caller takes the general path.
   */
  replyPlain(
    address: string,
    size: number,
    timestampMs: number,
    id: string,
    label: string,
    data: Uint8Array,
    ticket: OutcomeTicket,
  ): boolean {
    const target = this.#isOpen() ? this.#routes.direct(address) : undefined;
    return target?.outbox.pushPlain(size, timestampMs, id, label, data, ticket) === true;
  }

  /**
   * Writes `envelope` to every subscriber connection, or with `directReceiver` set, only
   * to the subscriber connections of that peer. The envelope is encoded once and the
   * same bytes are queued for every subscriber. `no_subscriber` when there is no target;
   * otherwise each target is reported to `ticket` (taken, then settled on flush or close;
   * or refused when its queue is full), and the result is `written` when at least one
   * subscriber took it, `queue_full` when none did. Throws only if the envelope cannot be
   * encoded, before the ticket is told anything.
   */
  broadcast(envelope: Envelope, ticket?: OutcomeTicket): HubResult {
    if (!this.#isOpen()) return 'no_subscriber';
    const targets: Iterable<InboundConnection> | undefined =
      envelope.directReceiver === undefined
        ? this.#routes.subscribers()
        : this.#routes.subscribersOf(envelope.directReceiver);
    if (targets === undefined) return 'no_subscriber';
    // Frames every subscriber gets share the hub's slab (consecutive ones go to each socket
    // as one region), and every connection is handed that same region, so none has to
    // read a view's buffer and offset again. A frame for one connection only (a broadcast
    // for one peer) gets its own buffer: in a shared slab, one slow connection holding its
    // few frames would keep whole slabs of other connections' frames alive. (Replies do
    // not come here: the outbox hands them to the transport unencoded, see
    // Outbox.pushEnvelope.) Encoding throws a coded error if it cannot be done.
    const size = encodableSize(envelope);
    const forEveryone = envelope.directReceiver === undefined;
    const area = forEveryone ? this.#frames.encode(envelope, size) : frameBuffer(envelope, size);
    const start = forEveryone ? this.#frames.offset : 0;
    const frame = forEveryone ? area.subarray(start, start + FRAME_PREFIX_BYTES + size) : area;
    this.#lastBroadcastBytes = frame.length;
    let written = 0;
    let tooSlow: InboundConnection[] | undefined;
    for (const subscriber of targets) {
      if (subscriber.outbox.push(frame, ticket, area, start)) {
        written++;
        continue;
      }
      ticket?.refused(subscriber.remoteAddress, subscriber.outbox.refusal);
      this.reader.countError('subscriber_lagged');
      const threshold = this.#limits.slowSubscriberDisconnectAfterDrops;
      if (threshold > 0 && subscriber.outbox.consecutiveDrops >= threshold) {
        // Closed after the loop: closing may call onClose synchronously and edit `targets`.
        tooSlow ??= [];
        tooSlow.push(subscriber);
      }
    }
    if (tooSlow !== undefined) for (const subscriber of tooSlow) this.#disconnectSlow(subscriber);
    this.#hubMetrics.subscriberQueueDepth(this.#subscriberDepth.value);
    if (written === 0) return 'queue_full';
    // With a ticket, its owner counts the sent bytes of each copy once it is flushed.
    if (ticket === undefined) this.#hubMetrics.sent(envelope.label, 'broadcast', frame.length * written);
    return 'written';
  }

  /**
   * Subscribes this node to the broadcasts of the node at `address`. Received broadcasts
   * go to the incoming queue (direction `outbound`). The subscription reconnects with
   * backoff until it is closed, or until the hub closes.
   */
  subscribeTo(
    address: string,
    kind: Exclude<ConnectionKind, 'direct'> = 'subscribe-node',
    options: Pick<SubscriptionOptions, 'expectedIdentity' | 'backoff' | 'acks'> = {},
  ): Subscription {
    if (this.#state === 'closing' || this.#state === 'closed') {
      throw new PeerpostError('ERR_CLOSED', 'hub is closed');
    }
    const subscription = new Subscription({
      ...options,
      transport: this.#transport,
      address,
      kind,
      reader: this.reader,
      identify: (identity, dialed) => this.#identities.identifyDialed(identity, dialed),
      clock: this.#clock,
      random: this.#random,
      logger: this.#logger,
      onStateChange: (s) => this.#subscriptionChanged(s),
      onClosed: (s) => this.#subscriptions.delete(s),
    });
    this.#subscriptions.add(subscription);
    return subscription;
  }

  /** A snapshot: inbound connections by kind, subscriber queues and drops, subscriptions. */
  stats(): HubStats {
    this.#hubMetrics.subscriberQueueDepth(this.#subscriberDepth.value);
    return hubStats({
      selfId: this.#selfId,
      address: this.#listener?.address,
      state: this.#state,
      connections: this.#all,
      subscriptions: this.#subscriptions,
      refused: this.#refused,
      subscriberQueueDepth: this.#subscriberDepth.value,
      replyQueueDepth: this.#replyDepth.value,
      queueBytes: this.#queueBytes.bytes,
      ackStreams: this.ackStreams.size,
      ackDuplicates: this.ackStreams.duplicates,
    });
  }

  /**
   * Stops admitting connections, closes the subscriptions, gives the inbound connections up to
   * `drainTimeoutMs` to flush the replies and broadcasts they hold, then closes them (what
   * is still held ends as `shutdown`) and resolves when their sockets and timers are gone.
   * No new message is routed once close() starts. Idempotent (the first call's drain time
   * counts).
   */
  close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#close(options.drainTimeoutMs ?? 0);
    return this.#closing;
  }

  async #close(drainTimeoutMs: number): Promise<void> {
    const wasStarting = this.#state === 'starting' ? this.#starting : undefined;
    this.#state = 'closing';
    this.#unsubscribeTopology?.();
    this.#unsubscribeTopology = undefined;
    this.#unsubscribeLabels?.();
    this.#unsubscribeLabels = undefined;
    const subscriptions = [...this.#subscriptions].map((s) => s.close());
    if (wasStarting !== undefined) {
      this.#listener = await wasStarting.catch(() => undefined);
    }
    // The listener stays bound while the connections drain (closing it closes them), but
    // admits nothing more: #admit refuses once the state is `closing`.
    await this.#drain(drainTimeoutMs);
    this.shuttingDown = true;
    const closing: Promise<unknown>[] = [...subscriptions];
    if (this.#listener !== undefined) closing.push(this.#listener.close());
    for (const inbound of this.#all) {
      inbound.connection.close('hub closing');
      closing.push(inbound.connection.closed);
    }
    await Promise.all(closing);
    this.#state = 'closed';
    this.#logger.info({}, 'hub closed');
  }

  /** Resolves once every open inbound connection has flushed what it holds, or after `timeoutMs`. */
  #drain(timeoutMs: number): Promise<void> {
    const busy = (): boolean => {
      for (const inbound of this.#all) if (!inbound.isClosed && !inbound.outbox.idle) return true;
      return false;
    };
    if (timeoutMs <= 0 || !busy()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.#onProgress = undefined;
        this.#clock.clearTimeout(timer);
        resolve();
      };
      const timer = this.#clock.setTimeout(done, timeoutMs);
      this.#onProgress = () => {
        if (!busy()) done();
      };
    });
  }

  /** InboundOwner: a connection's transport drained and its queue moved there. */
  drained(inbound: InboundConnection): void {
    if (this.subscriberRoomWanted && inbound.isSubscriber && inbound.outbox.atHalf) {
      this.#onSubscriberRoom?.();
    }
  }

  /**
   * True when a broadcast as large as the last one, made now, would be queued for every
   * subscriber rather than dropped for a full queue (`queue_full`: a subscriber's own
   * bounds or the hub's `queueBytesTotal`; `node_queue_full`: the node's budget); also
   * true with no subscriber (nothing to wait for). Looks at each subscriber connection:
   * O(subscribers).
   */
  broadcastWritable(): boolean {
    if (!this.#isOpen()) return true;
    const subscribers = this.#routes.subscribers();
    if (subscribers === undefined) return true;
    const bytes = this.#lastBroadcastBytes;
    // Each subscriber that has to queue it takes its bytes from the budgets.
    if (!this.#queueBytes.fits(bytes * this.#routes.subscriberCount)) return false;
    for (const subscriber of subscribers) if (subscriber.outbox.fullFor(bytes)) return false;
    return true;
  }

  /** InboundOwner: a connection flushed or closed. */
  progress(): void {
    this.#onProgress?.();
  }

  /** Connections are routable only until close() starts. */
  #isOpen(): boolean {
    return this.#state === 'listening' || this.#state === 'starting';
  }

  /**
   * Admission, asked by the transport before the peer learns it was accepted: past the
   * cap the peer's connect() fails, so it never writes into a connection that we close.
   */
  #admit(remoteAddress: string): boolean {
    if (this.#state !== 'listening' && this.#state !== 'starting') return false;
    if (this.#all.size < this.#limits.maxInboundConnections) return true;
    this.#refused++;
    this.reader.countError('max_conn_reached');
    this.#warnings ??= new WarnLimiter(this.#logger, this.#clock);
    this.#warnings.warn(
      'ERR_MAX_CONNECTIONS',
      { code: 'ERR_MAX_CONNECTIONS', address: remoteAddress, max: this.#limits.maxInboundConnections },
      'inbound connection cap reached; refusing',
    );
    return false;
  }

  #onConnection(connection: Connection): void {
    // Transports ask #admit first; this catches one that does not.
    if (!this.#admit(connection.remoteAddress)) {
      connection.close('refused: not listening or inbound connection cap reached');
      return;
    }
    let inbound: InboundConnection | undefined;
    try {
      const subscriber = connection.kind !== 'direct';
      inbound = new InboundConnection(
        this,
        connection,
        this.#identities.identify(connection.remoteIdentity),
        subscriber ? this.#limits.subscriberQueueCapacity : this.#limits.replyQueueCapacity,
        subscriber ? this.#subscriberDepth : this.#replyDepth,
        this.#clock.now(),
        this.#limits.queueBytesPerConnection,
        this.#queueBytes,
      );
      this.#register(inbound);
      connection.attach(inbound);
    } catch (err) {
      this.reader.countError('fail_accept_in_con');
      this.#logger.warn({ err, address: connection.remoteAddress }, 'failed to accept inbound connection');
      if (inbound !== undefined) this.inboundClosed(inbound, undefined);
      connection.close('accept failed');
    }
  }

  /** Subscriber connections routable now (open and not retired). */
  get subscriberCount(): number {
    return this.#routes.subscriberCount;
  }

  #register(inbound: InboundConnection): void {
    this.#all.add(inbound);
    this.#routes.add(inbound);
    if (inbound.isSubscriber) this.#onSubscribersChanged?.();
    if (inbound.peerId !== undefined) this.#onInboundPeer?.(inbound.peerId);
    this.#hubMetrics.opened(inbound.kind, 'inbound');
    this.#logger.debug(
      {
        address: inbound.remoteAddress,
        kind: inbound.kind,
        peer: inbound.peerId,
        id: inbound.connection.remoteIdentity.shortId,
      },
      'inbound connection',
    );
  }

  /** InboundOwner: called once per connection from its onClose (or a failed accept). */
  inboundClosed(inbound: InboundConnection, reason: CloseReason | undefined): void {
    if (!this.#all.delete(inbound)) return;
    if (!inbound.isRetired) {
      this.#routes.remove(inbound);
      if (inbound.isSubscriber) this.#onSubscribersChanged?.();
    }
    if (reason !== undefined && reason.initiator === 'remote' && reason.code !== 'ERR_CONNECTION_CLOSED') {
      this.reader.countError('in_transfer_fail');
    }
    this.#hubMetrics.closed(inbound.kind, 'inbound');
    this.#logger.debug(
      {
        address: inbound.remoteAddress,
        kind: inbound.kind,
        code: reason?.code,
        initiator: reason?.initiator,
      },
      'inbound connection closed',
    );
  }

  /** InboundOwner: a retransmitted message frame was not delivered again. */
  ackDuplicate(): void {
    this.#metrics.inc('peerpost_ack_duplicates_total');
  }

  /** InboundOwner: an undecodable frame (already counted by the reader), or a frame from a subscriber. */
  protocolViolation(
    inbound: InboundConnection,
    what: 'undecodable' | 'unexpected_frame' | 'bad_payload' | 'ack_protocol',
  ): void {
    if (what === 'ack_protocol') {
      this.reader.countError('fail_deser_msg');
      this.#warnings ??= new WarnLimiter(this.#logger, this.#clock);
      this.#warnings.warn(
        'ack_protocol',
        { address: inbound.remoteAddress, peer: inbound.peerId, code: 'ERR_ACK_PROTOCOL' },
        'peer broke the acknowledged-delivery protocol; closing',
      );
    }
    if (what === 'unexpected_frame') {
      // Subscriber connections carry broadcasts one way only.
      this.reader.countError('fail_deser_msg');
      this.#logger.warn(
        { address: inbound.remoteAddress, kind: inbound.kind },
        'subscriber sent a frame; closing',
      );
    }
    this.#retire(
      inbound,
      what === 'undecodable'
        ? 'incoming frame does not decode'
        : what === 'bad_payload'
          ? 'incoming payload refused'
          : what === 'ack_protocol'
            ? 'acknowledged-delivery protocol broken'
            : 'subscriber connections are one-way',
    );
  }

  #disconnectSlow(subscriber: InboundConnection): void {
    if (subscriber.isRetired || subscriber.isClosed) return;
    this.reader.countError('subscriber_too_slow');
    this.#logger.warn(
      { address: subscriber.remoteAddress, peer: subscriber.peerId, drops: subscriber.outbox.drops },
      'disconnecting a subscriber that keeps dropping broadcasts',
    );
    this.#retire(subscriber, 'subscriber too slow');
  }

  /** Stops routing to `inbound` at once, then closes it (the close itself may take a while). */
  #retire(inbound: InboundConnection, why: string): void {
    if (!inbound.retire()) return;
    this.#routes.remove(inbound);
    if (inbound.isSubscriber) this.#onSubscribersChanged?.();
    inbound.connection.close(why);
  }

  #onTopology(topology: Topology): void {
    this.#identities = new IdentityIndex(topology);
    for (const inbound of this.#all) {
      inbound.setPeerId(this.#identities.identify(inbound.connection.remoteIdentity));
    }
    this.#routes.reindexSubscribers();
    for (const subscription of this.#subscriptions) subscription.reidentify();
  }

  #subscriptionChanged(subscription: Subscription): void {
    const connected = subscription.state.kind === 'connected';
    if (connected === this.#connectedSubscriptions.has(subscription)) return;
    if (connected) {
      this.#connectedSubscriptions.add(subscription);
      this.#hubMetrics.opened(subscription.kind, 'outbound');
    } else {
      this.#connectedSubscriptions.delete(subscription);
      this.#hubMetrics.closed(subscription.kind, 'outbound');
    }
  }
}

function isLabelList(labels: NonNullable<ConnectionHubOptions['knownLabels']>): labels is readonly string[] {
  return Array.isArray(labels);
}
