import { PeerpostError } from '../errors.js';
import { ConnectionHub } from '../hub/hub.js';
import type { Subscription } from '../hub/subscription.js';
import type { Credentials } from '../identity/credentials.js';
import type { TrustPolicy } from '../identity/trust.js';
import { type CounterHandle, counterOf, type Metrics, noopMetrics } from '../metrics/types.js';
import type { AckConfig, DirectSenderConfig } from '../sender/config.js';
import { DirectSender, type PeerEvent } from '../sender/direct-sender.js';
import type { SendLimits } from '../sender/message.js';
import type { DropReason, OutcomeEvent, OutcomeListener, SendMode } from '../sender/outcome.js';
import { type DirectReceiver, formatReceiver } from '../sender/receiver.js';
import type { Topology } from '../topology/types.js';
import { TlsTransport } from '../transport/tls/tls-transport.js';
import type { Transport } from '../transport/types.js';
import { addressProblem } from '../util/address.js';
import { ByteBudget } from '../util/byte-budget.js';
import { BurstClock, type Clock, systemClock } from '../util/clock.js';
import { type Logger, noopLogger } from '../util/logger.js';
import { ObservableValue } from '../util/observable.js';
import type { Random } from '../util/random.js';
import { SoloMap } from '../util/solo-map.js';
import { WarnLimiter } from '../util/warn-limiter.js';
import type { Envelope } from '../wire/envelope.js';
import { payloadOf } from '../wire/message.js';
import { DedupWindow } from './dedup.js';
import { BroadcastIdReader, BroadcastSequences, type Gap, type IdSource } from './gaps.js';
import { Inbox } from './inbox.js';
import type { IncomingMessage, IncomingSink, MessageSource } from './incoming.js';
import {
  type ErrorContext,
  type NetworkConfigUpdate,
  NetworkMessage,
  type NetworkStats,
  type SubscribeOptions,
} from './message.js';
import {
  type AckOptions,
  ackOptionsSchema,
  type NetworkOptions,
  type ResolvedLimits,
  resolveLimits,
  resolveTopology,
  type TopologyInput,
  validateNetworkOptions,
} from './options.js';
import { OutgoingEnvelopes } from './outgoing.js';
import {
  abortedBy,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_PENDING_REQUESTS,
  PendingRequest,
  type RequestOptions,
  Requests,
} from './requests.js';

export type { PeerEvent } from '../sender/direct-sender.js';
export type { Gap } from './gaps.js';
export type { ErrorContext, NetworkConfigUpdate, NetworkStats, SubscribeOptions } from './message.js';
export { NetworkMessage } from './message.js';
export type { RequestOptions } from './requests.js';

/** Options of one `send()`; leave them out for the cheapest send. */
export interface SendOptions {
  /** The message id (unique per node); a fresh one by default. */
  id?: string;
  /** Called with each outcome of this message (one per target), as `onOutcome` listeners are. */
  onOutcome?: (event: OutcomeEvent) => void;
  /** Called once, with all its outcomes, when every target of this message has one. */
  onSettled?: (outcomes: readonly OutcomeEvent[]) => void;
  /**
   * A message still queued this many ms after `send()` (for a peer sender, or waiting for
   * an address) is not written any more: it ends as `dropped:deadline`.
   */
  deadlineMs?: number;
  /** Once aborted, a message still queued is not written: it ends as `dropped:aborted`. */
  signal?: AbortSignal;
}

/** `options` set no deadline and no signal (a message written at once could not miss them). */
function unbounded(options: SendOptions): boolean {
  return options.deadlineMs === undefined && options.signal === undefined;
}

/** A waitForPeer / waitForSubscribers call: what it waits for, and how it ends. */
interface Condition {
  readonly test: () => boolean;
  /** Called before each look (waitForPeer: start or restart connecting). */
  readonly poke: (() => void) | undefined;
  readonly end: (err: Error | undefined) => void;
  onAbort: (() => void) | undefined;
}

/**
 * A message someone follows: its outcomes so far, and who to tell (called as methods of
 * the watcher). A pending request is its own watcher: no record or bound function per
 * request.
 */
interface Watcher {
  readonly outcomes: OutcomeEvent[];
  readonly onOutcome: ((event: OutcomeEvent) => void) | undefined;
  readonly onSettled: ((outcomes: readonly OutcomeEvent[]) => void) | undefined;
}

const UNRESOLVED_QUEUE = { queue: 'unresolved' } as const;
const PEER_SENDER_QUEUES = { queue: 'peer_senders' } as const;
const INCOMING_QUEUE = { queue: 'incoming' } as const;

/**
 * A peerpost node for an application: wires the transport (mutual TLS unless another is
 * given), the connection hub, the direct sender, the topology and the config. Create it
 * with {@link createNetwork}.
 */
export class Network {
  readonly nodeId: string;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  /** `peerpost_outcomes_total` of the outcomes the facade decides, by drop reason ('' for written). */
  readonly #decidedSeries = new Map<string, CounterHandle>();
  readonly #transport: Transport;
  readonly #ownsTransport: boolean;
  readonly #topology: ObservableValue<Topology>;
  readonly #senderConfig: ObservableValue<DirectSenderConfig>;
  readonly #hub: ConnectionHub;
  readonly #sender: DirectSender;
  readonly #dedup: DedupWindow;
  readonly #inbox: Inbox<NetworkMessage>;
  /** Bytes every queue of the node holds, against `limits.nodeQueueBytes`. */
  readonly #budget: ByteBudget;
  readonly #outcomeListeners = new Set<OutcomeListener>();
  readonly #errorListeners = new Set<(err: unknown, context: ErrorContext) => void>();
  readonly #peerListeners = new Set<(event: PeerEvent) => void>();
  readonly #gapListeners = new Set<(gap: Gap) => void>();
  /** Warnings about bad incoming payloads, rate-limited (made on the first one). */
  #warnings: WarnLimiter | undefined;
  readonly #sequences = new BroadcastSequences();
  /** Reads the publisher and sequence number of incoming broadcast ids. */
  readonly #broadcastIds = new BroadcastIdReader();
  /** waitForPeer / waitForSubscribers calls still waiting. */
  readonly #conditions = new Set<Condition>();
  #listenerErrors = 0;
  /** The default report (stderr, when no onError listener): lines left in this window, and its end. */
  #stderrBudget = 0;
  #stderrWindowEndMs = 0;
  #stderrSuppressed = 0;
  /** Messages sent with per-message callbacks, by id (empty for plain sends). */
  readonly #watchers = new SoloMap<string, Watcher>();
  readonly #requests: Requests<NetworkMessage>;
  /** Open subscriptions by (kind, address, pinned identity), shared by every handle that asked for one. */
  readonly #subscriptions = new Map<string, { subscription: Subscription; holders: number }>();
  readonly #maxDecompressedBytes: number;
  readonly #outgoing: OutgoingEnvelopes;
  /** Send timestamps: one clock reading per burst of sends (see BurstClock). */
  readonly #sendClock: BurstClock;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => void this.close();
  #limits: ResolvedLimits;
  #address = '';
  #delivered = 0;
  #deduplicated = 0;
  #undecodable = 0;
  #closing: Promise<void> | undefined;

  /** Use {@link createNetwork}: it also starts the listener. */
  constructor(options: NetworkOptions) {
    const { limits, topology } = validateNetworkOptions(options);
    this.nodeId = options.nodeId;
    this.#limits = limits;
    this.#clock = options.clock ?? systemClock;
    this.#sendClock = new BurstClock(this.#clock);
    this.#random = options.random ?? Math.random;
    this.#logger = (options.logger ?? noopLogger).child({ nodeId: options.nodeId });
    this.#metrics = options.metrics ?? noopMetrics;
    this.#maxDecompressedBytes = limits.maxDecompressedBytes;
    this.#outgoing = new OutgoingEnvelopes(
      `${options.nodeId}-${Math.floor(this.#random() * 0x1_0000_0000)
        .toString(16)
        .padStart(8, '0')}-`,
      options.compressThresholdBytes ?? 1000,
      this.#metrics,
      this.#logger,
    );
    this.#ownsTransport = options.transport === undefined;
    this.#transport =
      options.transport ??
      new TlsTransport({
        credentials: options.credentials!,
        ...(options.trust === undefined ? {} : { trust: options.trust }),
        maxFrameBytes: limits.maxFrameBytes,
        writeTimeoutMs: limits.writeTimeoutMs,
        handshakeTimeoutMs: limits.handshakeTimeoutMs,
        idleTimeoutMs: limits.idleTimeoutMs,
        clock: this.#clock,
        logger: this.#logger,
        metrics: this.#metrics,
      });
    this.#topology = new ObservableValue(topology);
    this.#senderConfig = new ObservableValue(
      this.#senderConfigOf(options.directSendMode ?? 'direct', options.knownLabels, options.acks),
    );
    this.#dedup = new DedupWindow(this.#clock, limits.dedup);
    this.#requests = new Requests(this.#clock, (peerId) => this.#topology.get().get(peerId));
    this.#budget = new ByteBudget(limits.nodeQueueBytes);
    // Waiters (ready()) look again once a spent budget has room.
    this.#budget.onRoom(() => {
      if (this.#conditions.size > 0) queueMicrotask(() => this.#recheck());
    });
    this.#inbox = new Inbox<NetworkMessage>(
      options.incomingCapacity ?? 10_000,
      (dropped) => {
        this.#metrics.inc('peerpost_errors_total', { kind: 'in_queue_overflow' });
        if (this.#gapListeners.size > 0) {
          this.#emitGap({
            kind: 'reader_overflow',
            messageId: dropped.id,
            droppedTotal: this.#inbox.dropped,
          });
        }
      },
      (err, msg) => this.#listenerThrew(err, 'onMessage', msg.id),
      { capacityBytes: limits.incomingQueueBytes, sizeOf: incomingBytes, budget: this.#budget },
    );
    const incoming: IncomingSink = {
      push: (msg) => this.#onIncoming(msg.envelope, msg.from, msg.receivedAtMs),
      deliver: (envelope, _version, from, receivedAtMs) => this.#onIncoming(envelope, from, receivedAtMs),
    };
    this.#hub = new ConnectionHub({
      transport: this.#transport,
      listenAddress: options.listen ?? '127.0.0.1:0',
      incoming,
      topology: this.#topology,
      clock: this.#clock,
      metrics: this.#metrics,
      logger: this.#logger,
      random: this.#random,
      selfId: options.nodeId,
      onSubscribersChanged: () => this.#recheck(),
      onSubscriberRoom: () => this.#recheck(),
      // A peer that connects to us is up: stop waiting out the backoff of our senders to it.
      onInboundPeer: (peerId) => this.#sender.reconnect(peerId),
      knownLabels: this.#senderConfig,
      acceptAcks: options.acks?.accept ?? true,
      ackStreams: options.acks?.streams ?? 4096,
      limits: {
        maxInboundConnections: limits.maxInboundConnections,
        subscriberQueueCapacity: limits.subscriberQueueCapacity,
        slowSubscriberDisconnectAfterDrops: limits.slowSubscriberDisconnectAfterDrops,
      },
      budget: this.#budget,
    });
    this.#sender = new DirectSender({
      transport: this.#transport,
      hub: this.#hub,
      incoming,
      topology: this.#topology,
      config: this.#senderConfig,
      clock: this.#clock,
      random: this.#random,
      metrics: this.#metrics,
      logger: this.#logger,
      onOutcome: (event) => this.#emitOutcome(event),
      onPeerEvent: (event) => this.#emitPeerEvent(event),
      onRoom: () => this.#recheck(),
      budget: this.#budget,
    });
    // No event object per outcome until someone listens to every outcome (watched messages
    // still get theirs).
    this.#sender.outcomesWanted = false;
    this.#signal = options.signal;
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Binds the listener; called by {@link createNetwork}. */
  async start(): Promise<this> {
    const { address } = await this.#hub.start();
    this.#address = address;
    this.#senderConfig.set({ ...this.#senderConfig.get(), selfAddress: address });
    this.#logger.info({ address }, 'network started');
    if (this.#signal?.aborted) await this.close();
    return this;
  }

  /** The bound `host:port`. */
  get address(): string {
    return this.#address;
  }

  /** The current peer table. */
  get topology(): Topology {
    return this.#topology.get();
  }

  /**
   * Sends `data` to a peer id (a string or `peer(id)`) or to an address (`addr(host:port)`,
   * the reply path). Returns the message id at once; the outcome per target address
   * arrives through {@link onOutcome}. Never throws for delivery problems.
   */
  send(receiver: string | DirectReceiver, label: string, data: Uint8Array, options?: SendOptions): string {
    const watcher =
      options !== undefined && (options.onOutcome !== undefined || options.onSettled !== undefined)
        ? { outcomes: [], onOutcome: options.onOutcome, onSettled: options.onSettled }
        : undefined;
    return this.#send(receiver, label, data, options, options?.id, watcher);
  }

  /** {@link send}, with the message's id (undefined: a fresh one) and who follows its outcomes. */
  #send(
    receiver: string | DirectReceiver,
    label: string,
    data: Uint8Array,
    options: SendOptions | undefined,
    givenId: string | undefined,
    watcher: Watcher | undefined,
  ): string {
    const out = this.#outgoing;
    const id = givenId ?? out.nextId();
    const nowMs = this.#sendClock.now();
    const peerId =
      typeof receiver === 'string' ? receiver : receiver.kind === 'peer' ? receiver.id : undefined;
    const watched = watcher !== undefined;
    let watching = false;
    if (options === undefined || unbounded(options)) {
      // The fast lanes: a small plain message to a peer with one address is written at once
      // (or queued as numbers when its sender has messages waiting), with no record made;
      // one to an address (a reply) goes at once into the batch of the connection the peer
      // opened to us, with one object made.
      const ts = out.plainTimestamp(id, label, data, nowMs, this.#limits.maxFrameBytes);
      if (ts >= 0) {
        if (watched) {
          this.#watch(id, watcher);
          watching = true;
        }
        const taken =
          typeof receiver !== 'string' && receiver.kind === 'addr'
            ? this.#sender.replyPlain(receiver.address, id, label, data, ts, nowMs)
            : this.#sender.sendPlain(peerId as string, id, label, data, ts, nowMs);
        if (taken) {
          out.observePlain(data.length);
          return id;
        }
      }
    }
    let limits: SendLimits | undefined;
    if (options !== undefined && !unbounded(options)) limits = this.#limitsOf(options, nowMs);
    const envelope = out.make(id, label, data, nowMs);
    if (watched && !watching) this.#watch(id, watcher);
    if (out.tooLarge(envelope, this.#limits.maxFrameBytes)) {
      const printed = typeof receiver === 'string' ? receiver : formatReceiver(receiver);
      this.#decided(envelope, printed, undefined, 'direct', 'too_large');
      if (watched) this.#settle(id);
      return id;
    }
    if (typeof receiver === 'string') this.#sender.sendToPeer(receiver, envelope, nowMs, limits);
    else this.#sender.send(receiver, envelope, nowMs, limits);
    return id;
  }

  #limitsOf(options: SendOptions, nowMs: number): SendLimits {
    const deadlineMs = options.deadlineMs;
    if (deadlineMs !== undefined && !(deadlineMs > 0 && Number.isFinite(deadlineMs))) {
      throw new PeerpostError(
        'ERR_INVALID_OPTION',
        `invalid option \`deadlineMs\`: expected a positive number of ms, got ${deadlineMs}`,
      );
    }
    return { expiresAtMs: deadlineMs === undefined ? 0 : nowMs + deadlineMs, signal: options.signal };
  }

  /** A fresh message id, as `send()` makes when given none (unique per node). */
  newMessageId(): string {
    return this.#outgoing.nextId();
  }

  /**
   * `send()`, resolving with every outcome of the message (one per target) once each
   * target has one. For when one message's fate matters; plain `send()` costs nothing
   * of this.
   */
  sendAndWait(
    receiver: string | DirectReceiver,
    label: string,
    data: Uint8Array,
    options: { id?: string } = {},
  ): Promise<readonly OutcomeEvent[]> {
    return new Promise((resolve) => {
      this.send(receiver, label, data, { ...options, onSettled: resolve });
    });
  }

  /**
   * Sends a request and resolves with its reply: the first message whose id names this
   * request (`<request id>~r~<fresh id>`, what `msg.reply()` sends) and that comes from where the
   * request went (the peer, by pinned identity or one of its addresses, or the address).
   * The reply goes to this promise only, not to `onMessage`. Rejects with a coded error:
   * `ERR_REQUEST_TIMEOUT` after `timeoutMs` (default 10 s), `ERR_REQUEST_DROPPED` when no
   * target got the request written (with acks: delivered; the outcomes are the error's `cause`),
   * `ERR_ABORTED` when `signal` aborts, `ERR_CLOSED` when the network closes,
   * `ERR_TOO_MANY_REQUESTS` past 10,000 pending requests.
   */
  request(
    receiver: string | DirectReceiver,
    label: string,
    data: Uint8Array,
    options: RequestOptions = {},
  ): Promise<NetworkMessage> {
    const printed = typeof receiver === 'string' ? receiver : formatReceiver(receiver);
    if (this.#closing !== undefined) {
      return Promise.reject(new PeerpostError('ERR_CLOSED', `network closed: cannot request ${printed}`));
    }
    if (options.signal?.aborted) {
      return Promise.reject(abortedBy(options.signal, 'request aborted'));
    }
    if (this.#requests.size >= MAX_PENDING_REQUESTS) {
      return Promise.reject(
        new PeerpostError(
          'ERR_TOO_MANY_REQUESTS',
          `${MAX_PENDING_REQUESTS} requests already wait for replies`,
        ),
      );
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!(timeoutMs > 0)) {
      return Promise.reject(
        new PeerpostError('ERR_INVALID_OPTION', `invalid option \`timeoutMs\`: ${timeoutMs}`),
      );
    }
    const id = options.id ?? this.#outgoing.nextId();
    if (this.#requests.has(id)) {
      return Promise.reject(new PeerpostError('ERR_INVALID_OPTION', `a request with id ${id} already waits`));
    }
    // Where the request goes, for matching its reply's source: a peer or an address.
    let peerId: string | undefined;
    let address: string | undefined;
    if (typeof receiver === 'string') peerId = receiver;
    else if (receiver.kind === 'addr') address = receiver.address;
    else peerId = receiver.id;
    const request = new PendingRequest<NetworkMessage>(
      id,
      peerId,
      address,
      printed,
      timeoutMs,
      this.#requests,
      options.signal,
      options,
    );
    const reply = request.wait();
    this.#requests.add(request);
    request.start();
    try {
      this.#send(receiver, label, data, undefined, id, request);
    } catch (err) {
      request.fail(err as Error);
    }
    return reply;
  }

  /**
   * True when a message to `receiver` sent now would be queued at every target rather
   * than dropped for a full queue (see {@link ready}). Cheap enough to call before every
   * send. An address (`addr(...)`) is always writable: replies have their own bound.
   */
  writable(receiver: string | DirectReceiver): boolean {
    const id = typeof receiver === 'string' ? receiver : receiver.kind === 'peer' ? receiver.id : undefined;
    return id === undefined || this.#sender.writable(id);
  }

  /**
   * Resolves when {@link writable} is true: at once if it is, else when the peer's full
   * queues have drained to half their capacity. Rejects with `ERR_ABORTED` when `signal`
   * aborts and `ERR_CLOSED` when the network closes. The backpressure loop:
   * `if (!net.writable(p)) await net.ready(p); net.send(p, ...)`.
   */
  ready(receiver: string | DirectReceiver, options: { signal?: AbortSignal } = {}): Promise<void> {
    const id = typeof receiver === 'string' ? receiver : receiver.kind === 'peer' ? receiver.id : undefined;
    if (id === undefined) return Promise.resolve();
    return this.#waitFor(() => this.#sender.writable(id), undefined, options.signal);
  }

  /**
   * True when a broadcast as large as the previous one, sent now, would be queued for
   * every subscriber rather than dropped for a full queue (`dropped:queue_full` /
   * `dropped:node_queue_full` at a subscriber's address); also true with no subscriber.
   * Allocates nothing; looks at each subscriber connection (O(subscribers), a small
   * fraction of what the broadcast itself costs per subscriber).
   */
  broadcastWritable(): boolean {
    return this.#hub.broadcastWritable();
  }

  /**
   * Resolves when {@link broadcastWritable} is true: at once if it is, else when the full
   * subscriber queues have drained to half their capacity (or their subscribers left).
   * Rejects with `ERR_ABORTED` when `signal` aborts and `ERR_CLOSED` when the network
   * closes. The publishing loop: `if (!net.broadcastWritable()) await net.broadcastReady(); net.broadcast(...)`.
   * The pace is the slowest subscriber's: one that stops reading holds the wait until its
   * connection fails the write timeout (`limits.writeTimeoutMs`) and leaves.
   */
  broadcastReady(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#waitFor(() => this.#hub.broadcastWritable(), undefined, options.signal);
  }

  /** Waits for room ({@link ready}), then sends; resolves with the message id. */
  async sendAsync(
    receiver: string | DirectReceiver,
    label: string,
    data: Uint8Array,
    options: SendOptions & { signal?: AbortSignal } = {},
  ): Promise<string> {
    if (!this.writable(receiver)) await this.ready(receiver, options);
    const { signal: _signal, ...sendOptions } = options;
    return this.send(receiver, label, data, sendOptions);
  }

  #watch(id: string, watcher: Watcher): void {
    this.#watchers.set(id, watcher);
    this.#sender.watch(id, this.#settleWatched);
  }

  /** {@link #settle}, for the sender to call: one function for every watched message. */
  readonly #settleWatched = (id: string): void => this.#settle(id);

  /** Every target of watched message `id` has its outcome. */
  #settle(id: string): void {
    const w = this.#watchers.get(id);
    if (w === undefined) return;
    this.#watchers.delete(id);
    this.#sender.unwatch(id);
    if (w.onSettled === undefined) return;
    try {
      w.onSettled(w.outcomes);
    } catch (err) {
      this.#listenerThrew(err, 'onSettled', id);
    }
  }

  /**
   * Sends `data` to every subscriber of this node. Returns the message id. Outcomes: one
   * per subscriber connection it was handed to, at that connection's remote address
   * (`written` once flushed, `dropped:queue_full` when the subscriber's queue was full,
   * `dropped:connection_lost`/`shutdown` when the connection closed first), or a single
   * one at address `broadcast` when no subscriber could have it (`no_subscriber`,
   * `too_large`, `shutdown`).
   */
  broadcast(label: string, data: Uint8Array, options?: { id?: string }): string {
    const out = this.#outgoing;
    const id = options?.id ?? out.nextBroadcastId();
    const nowMs = this.#sendClock.now();
    const envelope = out.make(id, label, data, nowMs);
    if (out.tooLarge(envelope, this.#limits.maxFrameBytes)) {
      this.#decided(envelope, 'broadcast', 'broadcast', 'broadcast', 'too_large');
    } else this.#sender.broadcast(envelope, nowMs);
    return id;
  }

  /**
   * Subscribes to the broadcasts of a peer (every address of it in the topology, with its
   * pinned identity) or of an address. Received broadcasts arrive like any message.
   * Returns a handle whose `close()` ends the subscription. Subscribing again to an address
   * already subscribed (same kind and pinned identity) shares that subscription, so each
   * broadcast still arrives once; it ends when every handle has closed it.
   */
  subscribe(target: string, options: SubscribeOptions = {}): { close(): Promise<void> } {
    const kind = options.kind ?? 'subscribe-node';
    const acks = options.acks === true;
    const known = this.#topology.get().get(target);
    if (known === undefined && addressProblem(target, false) !== undefined) {
      throw new PeerpostError(
        'ERR_INVALID_OPTION',
        `cannot subscribe to \`${target}\`: not a peer of the topology and not a host:port address`,
      );
    }
    const addresses = known ?? [{ address: target }];
    // Subscribing twice to one address shares one subscription: two would deliver every
    // broadcast twice.
    const keys = addresses.map((a) => {
      // (The first subscription's `acks` holds for those that share it.)
      const key = `${kind}\n${a.address}\n${JSON.stringify(a.expectedIdentity ?? null)}`;
      const held = this.#subscriptions.get(key);
      if (held !== undefined) held.holders++;
      else {
        const subscription = this.#hub.subscribeTo(a.address, kind, {
          ...(a.expectedIdentity ? { expectedIdentity: a.expectedIdentity } : {}),
          acks,
        });
        this.#subscriptions.set(key, { subscription, holders: 1 });
      }
      return key;
    });
    let closed = false;
    return {
      close: async () => {
        if (closed) return;
        closed = true;
        const last: Subscription[] = [];
        for (const key of keys) {
          const held = this.#subscriptions.get(key);
          if (held === undefined || --held.holders > 0) continue;
          this.#subscriptions.delete(key);
          last.push(held.subscription);
        }
        await Promise.all(last.map((sub) => sub.close()));
      },
    };
  }

  /** Calls `listener` for every incoming message (after decompression and deduplication). */
  onMessage(listener: (message: NetworkMessage) => void): () => void {
    return this.#inbox.on(listener);
  }

  /** Incoming messages as an async iterable; ends when the network closes. */
  messages(): AsyncIterable<NetworkMessage> {
    return { [Symbol.asyncIterator]: () => this.#inbox[Symbol.asyncIterator]() };
  }

  /**
   * Calls `listener` with every exception thrown by the application's listeners
   * (`onMessage`, `onOutcome`, per-send `onOutcome`/`onSettled`): such an exception never
   * stops the message flow or other listeners, is counted (`listener_threw` in
   * `peerpost_errors_total`, `stats().listenerErrors`) and is never lost: with no `onError`
   * listener it is printed to stderr (at most 10 lines per 10 s, then a count of the
   * suppressed ones). An exception thrown by an `onError` listener itself goes to stderr.
   */
  onError(listener: (err: unknown, context: ErrorContext) => void): () => void {
    this.#errorListeners.add(listener);
    return () => {
      this.#errorListeners.delete(listener);
    };
  }

  #listenerThrew(err: unknown, source: ErrorContext['source'], messageId: string | undefined): void {
    this.#listenerErrors++;
    this.#metrics.inc('peerpost_errors_total', { kind: 'listener_threw' });
    this.#logger.error({ err, source, messageId }, 'an application listener threw');
    const context: ErrorContext = { source, messageId };
    if (this.#errorListeners.size === 0) {
      this.#toStderr(`peerpost ${this.nodeId}: ${source} listener threw (message ${messageId ?? '-'}):`, err);
      return;
    }
    for (const listener of this.#errorListeners) {
      try {
        listener(err, context);
      } catch (inner) {
        this.#toStderr(`peerpost ${this.nodeId}: an onError listener threw:`, inner);
      }
    }
  }

  /** Prints to stderr, at most 10 lines per 10 s of the node's clock. */
  #toStderr(what: string, err: unknown): void {
    const now = this.#clock.now();
    if (now >= this.#stderrWindowEndMs) {
      if (this.#stderrSuppressed > 0) {
        console.error(`peerpost ${this.nodeId}: ${this.#stderrSuppressed} more listener errors not printed`);
      }
      this.#stderrWindowEndMs = now + 10_000;
      this.#stderrBudget = 10;
      this.#stderrSuppressed = 0;
    }
    if (this.#stderrBudget > 0) {
      this.#stderrBudget--;
      console.error(what, err);
    } else this.#stderrSuppressed++;
  }

  /**
   * Calls `listener` on each connection event of this node's senders, per (peer, address):
   * `connected`, `disconnected`, `gave_up` (connecting failed until the backoff deadline)
   * and `identity_mismatch` (someone else answers at the address).
   */
  onPeer(listener: (event: PeerEvent) => void): () => void {
    this.#peerListeners.add(listener);
    return () => {
      this.#peerListeners.delete(listener);
    };
  }

  /**
   * Resolves once this node has an open connection to peer `id` (any of its addresses).
   * Starts connecting if nothing was sent to it yet (with the usual backoff; after a give
   * up it tries again), and waits for an address if the peer has none yet. Rejects with
   * `ERR_ABORTED` when `signal` aborts (e.g. `AbortSignal.timeout(ms)`) and `ERR_CLOSED` when
   * the network closes.
   */
  waitForPeer(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#waitFor(
      () => this.#sender.isConnected(id),
      () => {
        this.#sender.connect(id);
      },
      options.signal,
    );
  }

  /**
   * The peer is back (the application knows it): forgets the remembered backoff of its
   * addresses, and its senders that are backing off connect now. The same happens by
   * itself when the peer connects to this node (identified by its pinned identity) or its
   * table entry changes.
   */
  reconnect(peerId: string): void {
    this.#sender.reconnect(peerId);
  }

  /** Resolves once at least `count` subscriber connections are open at this node (rejects like waitForPeer). */
  waitForSubscribers(count: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#waitFor(() => this.#hub.subscriberCount >= count, undefined, options.signal);
  }

  #waitFor(
    test: () => boolean,
    poke: (() => void) | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (this.#closing !== undefined)
      return Promise.reject(new PeerpostError('ERR_CLOSED', 'the network is closed'));
    if (signal?.aborted) return Promise.reject(abortedBy(signal, 'aborted'));
    if (test()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const condition: Condition = {
        test,
        poke,
        end: (err) => {
          this.#conditions.delete(condition);
          // Room notifications from the senders only while someone waits.
          if (this.#conditions.size === 0) this.#sender.roomWanted = this.#hub.subscriberRoomWanted = false;
          if (condition.onAbort !== undefined) signal?.removeEventListener('abort', condition.onAbort);
          if (err === undefined) resolve();
          else reject(err);
        },
        onAbort: undefined,
      };
      if (signal !== undefined) {
        condition.onAbort = () => condition.end(abortedBy(signal, 'aborted'));
        signal.addEventListener('abort', condition.onAbort, { once: true });
      }
      this.#conditions.add(condition);
      this.#sender.roomWanted = this.#hub.subscriberRoomWanted = true;
      poke?.();
      if (test()) condition.end(undefined);
    });
  }

  /** Something a waiter may wait for changed: each pokes (connects) and looks again. */
  #recheck(): void {
    for (const c of [...this.#conditions]) {
      c.poke?.();
      if (c.test()) c.end(undefined);
    }
  }

  /**
   * Calls `listener` when this node learns it missed something: broadcasts of a publisher
   * it subscribes to (their sequence numbers jumped: lost to a full queue at the
   * publisher, or while the subscription reconnected), or a message a `for await` reader
   * fell too far behind to get (`incomingCapacity`).
   */
  onGap(listener: (gap: Gap) => void): () => void {
    this.#gapListeners.add(listener);
    return () => {
      this.#gapListeners.delete(listener);
    };
  }

  /** A message on a connection this node opened: follows the publisher's broadcast sequence. */
  #sequence(source: IdSource, from: IncomingMessage['from']): void {
    const b = this.#broadcastIds;
    if (!b.readSource(source)) return;
    const gap = this.#sequences.seen(b.publisher, b.seq);
    if (gap === undefined) return;
    const missed = gap.to - gap.from + 1;
    this.#metrics.inc('peerpost_errors_total', { kind: 'broadcast_gap' }, missed);
    if (this.#gapListeners.size > 0) {
      this.#emitGap({ kind: 'broadcast', publisher: b.publisher, peerId: from.peerId, ...gap, missed });
    }
  }

  #emitGap(gap: Gap): void {
    for (const listener of this.#gapListeners) {
      try {
        listener(gap);
      } catch (err) {
        this.#listenerThrew(err, 'onGap', gap.kind === 'reader_overflow' ? gap.messageId : undefined);
      }
    }
  }

  #emitPeerEvent(event: PeerEvent): void {
    for (const listener of this.#peerListeners) {
      try {
        listener(event);
      } catch (err) {
        this.#listenerThrew(err, 'onPeer', undefined);
      }
    }
    if (this.#conditions.size > 0) queueMicrotask(() => this.#recheck());
  }

  /** Calls `listener` with the final outcome of every message, once per target. */
  onOutcome(listener: OutcomeListener): () => void {
    this.#outcomeListeners.add(listener);
    this.#sender.outcomesWanted = true;
    return () => {
      this.#outcomeListeners.delete(listener);
      this.#sender.outcomesWanted = this.#outcomeListeners.size > 0;
    };
  }

  /** Replaces the peer table; senders follow at once (nothing queued is lost). */
  updateTopology(topology: TopologyInput): void {
    this.#topology.set(resolveTopology(topology));
    if (this.#conditions.size > 0) this.#recheck();
  }

  /** Applies live settings; an invalid value throws `ERR_INVALID_OPTION` and changes nothing. */
  updateConfig(update: NetworkConfigUpdate): void {
    const current = this.#senderConfig.get();
    const limits =
      update.limits === undefined ? this.#limits : resolveLimits({ ...this.#limits, ...update.limits });
    const next = {
      ...this.#senderConfigFromLimits(limits),
      directSendMode: update.directSendMode ?? current.directSendMode ?? 'direct',
      knownLabels: update.knownLabels ?? current.knownLabels ?? [],
      selfId: this.nodeId,
      selfAddress: this.#address || undefined,
      ...(update.acks !== undefined
        ? { acks: senderAcks(update.acks) }
        : current.acks === undefined
          ? {}
          : { acks: current.acks }),
    };
    if (update.acks !== undefined) {
      const parsed = ackOptionsSchema.safeParse(update.acks);
      if (!parsed.success) {
        throw new PeerpostError(
          'ERR_INVALID_OPTION',
          `invalid option \`acks\`: ${parsed.error.issues[0]!.message}`,
        );
      }
    }
    if (
      next.directSendMode !== 'direct' &&
      next.directSendMode !== 'broadcast' &&
      next.directSendMode !== 'both'
    ) {
      throw new PeerpostError(
        'ERR_INVALID_OPTION',
        `invalid option \`directSendMode\`: expected direct|broadcast|both`,
      );
    }
    this.#limits = limits;
    this.#senderConfig.set(next);
  }

  /** Presents new credentials on every new handshake (TLS transport only). */
  updateCredentials(credentials: Credentials): void {
    this.#tls('updateCredentials').updateCredentials(credentials);
  }

  /** Replaces the trust policy; open connections of peers no longer trusted are closed (TLS transport only). */
  updateTrust(trust: TrustPolicy): void {
    this.#tls('updateTrust').updateTrust(trust);
  }

  /** A snapshot; also refreshes the queue-depth gauges (kept off the send path), so call it before a scrape. */
  stats(): NetworkStats {
    const sender = this.#sender.stats();
    let queued = 0;
    for (const s of sender.senders) queued += s.queueDepth + s.unflushed;
    this.#metrics.set('peerpost_queue_depth', sender.unresolvedDepth, UNRESOLVED_QUEUE);
    this.#metrics.set('peerpost_queue_depth', queued, PEER_SENDER_QUEUES);
    this.#metrics.set('peerpost_queue_depth', this.#inbox.buffered, INCOMING_QUEUE);
    return {
      nodeId: this.nodeId,
      address: this.#address,
      sender,
      hub: this.#hub.stats(),
      incoming: {
        delivered: this.#delivered,
        deduplicated: this.#deduplicated,
        dedupWindow: this.#dedup.size,
        undecodable: this.#undecodable,
        buffered: this.#inbox.buffered,
        bufferedBytes: this.#inbox.bufferedBytes,
        droppedSlowReader: this.#inbox.dropped,
      },
      outcomes: this.#sender.outcomeCounts(),
      listenerErrors: this.#listenerErrors,
      queueBytes: this.#budget.bytes,
    };
  }

  /**
   * Shuts down: new sends end as `dropped:shutdown` at once; the listener and the
   * subscriptions stop; the direct senders' queues and the hub's reply and broadcast
   * queues drain together for up to `drainTimeoutMs`; what is left ends as
   * `dropped:shutdown`; then the connections and the transport close. Resolves when every
   * socket and timer is gone.
   */
  close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#close(options.drainTimeoutMs ?? 0);
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(drainTimeoutMs: number): Promise<void> {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#requests.failAll(new PeerpostError('ERR_CLOSED', 'the network closed before the reply came'));
    for (const c of [...this.#conditions]) c.end(new PeerpostError('ERR_CLOSED', 'the network closed'));
    await Promise.all([this.#hub.close({ drainTimeoutMs }), this.#sender.close({ drainTimeoutMs })]);
    if (this.#ownsTransport) await (this.#transport as TlsTransport).close();
    this.#inbox.close();
    this.#logger.info({}, 'network closed');
  }

  #tls(what: string): TlsTransport {
    if (!(this.#transport instanceof TlsTransport)) {
      throw new PeerpostError('ERR_INVALID_OPTION', `${what} needs the TLS transport`);
    }
    return this.#transport;
  }

  #senderConfigFromLimits(limits: ResolvedLimits): DirectSenderConfig {
    return {
      unresolvedCapacity: limits.unresolvedCapacity,
      unresolvedTtlMs: limits.unresolvedTtlMs,
      resolveRetryMs: limits.resolveRetryMs,
      peerQueueCapacity: limits.peerQueueCapacity,
      peerQueueBytes: limits.peerQueueBytes,
      unresolvedQueueBytes: limits.unresolvedQueueBytes,
      backoff: { ...limits.backoff },
    };
  }

  #senderConfigOf(
    mode: SendMode,
    knownLabels: readonly string[] | undefined,
    acks: AckOptions | undefined,
  ): DirectSenderConfig {
    return {
      ...this.#senderConfigFromLimits(this.#limits),
      ...(acks === undefined ? {} : { acks: senderAcks(acks) }),
      directSendMode: mode,
      selfId: this.nodeId,
      knownLabels: knownLabels ?? [],
    };
  }

  #onIncoming(env: Envelope, from: MessageSource, receivedAtMs: number): void {
    // Only messages sent in `broadcast` or `both` mode carry directReceiver, and only those
    // can arrive twice (direct and broadcast copy): plain traffic skips the window.
    if (env.directReceiver !== undefined && !this.#dedup.firstSeen(env.id, receivedAtMs)) {
      this.#deduplicated++;
      this.#metrics.inc('peerpost_deduplicated_total');
      return;
    }
    let data: Uint8Array;
    try {
      data = env.compressed ? payloadOf(env, { maxDecompressedBytes: this.#maxDecompressedBytes }) : env.data;
    } catch (err) {
      this.#undecodable++;
      this.#metrics.inc('peerpost_errors_total', { kind: 'fail_decompress' });
      this.#warnings ??= new WarnLimiter(this.#logger, this.#clock);
      this.#warnings.warn(
        'undecompressable',
        {
          peerId: from.peerId,
          address: from.address,
          identity: from.identity.shortId,
          messageId: env.id,
          label: env.label,
          code: (err as PeerpostError).code,
        },
        'dropped an incoming message whose payload does not decompress; closing its connection',
      );
      // Bad input closes that one connection: a flood of zstd bombs costs the sender a
      // handshake per bomb, not us one decompression after another.
      from.close?.('payload does not decompress');
      return;
    }
    this.#delivered++;
    if (from.direction === 'outbound' && env.directReceiver === undefined) this.#sequence(env, from);
    if (this.#requests.size > 0) {
      const request = this.#requests.answeredBy(env, from);
      if (request !== undefined) {
        request.answer(new NetworkMessage(this, env, data, from, receivedAtMs));
        return;
      }
    }
    this.#inbox.push(new NetworkMessage(this, env, data, from, receivedAtMs));
  }

  /**
   * An outcome the facade decides itself, before the sender (a broadcast, or a message
   * too large to send): counted and reported like the sender's. `reason` undefined: written.
   */
  #decided(
    envelope: Envelope,
    receiver: string,
    address: string | undefined,
    mode: 'direct' | 'broadcast',
    reason: DropReason | undefined,
  ): void {
    const key = reason ?? '';
    let series = this.#decidedSeries.get(key);
    if (series === undefined) {
      series = counterOf(this.#metrics, 'peerpost_outcomes_total', {
        outcome: reason ? 'dropped' : 'written',
        reason: key,
      });
      this.#decidedSeries.set(key, series);
    }
    series.inc();
    this.#emitOutcome({
      messageId: envelope.id,
      label: envelope.label,
      receiver,
      address,
      mode,
      outcome: reason === undefined ? { kind: 'written' } : { kind: 'dropped', reason },
    });
  }

  #emitOutcome(event: OutcomeEvent): void {
    if (this.#watchers.size > 0) {
      const w = this.#watchers.get(event.messageId);
      if (w !== undefined) {
        w.outcomes.push(event);
        if (w.onOutcome !== undefined) {
          try {
            w.onOutcome(event);
          } catch (err) {
            this.#listenerThrew(err, 'onOutcome', event.messageId);
          }
        }
      }
    }
    for (const listener of this.#outcomeListeners) {
      try {
        listener(event);
      } catch (err) {
        this.#listenerThrew(err, 'onOutcome', event.messageId);
      }
    }
  }
}

/** Bytes a received message holds while it waits for a reader: its payload (and compressed form). */
function incomingBytes(msg: NetworkMessage): number {
  return msg.data.byteLength + (msg.envelope.compressed ? msg.envelope.data.byteLength : 0) + msg.id.length;
}

/** Creates a network node and starts listening. */
export async function createNetwork(options: NetworkOptions): Promise<Network> {
  return new Network(options).start();
}

/** The sender's part of the ack options (what it needs to send with acks). */
function senderAcks(acks: AckOptions): AckConfig {
  return {
    enabled: acks.enabled === true,
    peers: acks.peers,
    ...(acks.window === undefined ? {} : { window: acks.window }),
    ...(acks.windowBytes === undefined ? {} : { windowBytes: acks.windowBytes }),
  };
}
