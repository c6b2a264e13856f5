import type { HubPort, HubResult, OutcomeTicket, QueueRefusal, TicketResult } from '../hub/port.js';
import { type Metrics, noopMetrics } from '../metrics/types.js';
import type { IncomingSink } from '../network/incoming.js';
import { diffPeerAddresses, uniqueAddresses } from '../topology/diff.js';
import type { PeerAddress, Topology } from '../topology/types.js';
import { DEFAULT_LIMITS } from '../transport/limits.js';
import type { Transport } from '../transport/types.js';
import type { ByteBudget } from '../util/byte-budget.js';
import { BurstClock, type Clock, systemClock, type TimerHandle } from '../util/clock.js';
import { type Logger, noopLogger } from '../util/logger.js';
import type { Observable } from '../util/observable.js';
import type { Random } from '../util/random.js';
import { type Envelope, encodableSize, encodedEnvelopeSize, plainEnvelopeSize } from '../wire/envelope.js';
import { POOLED_BYTES, SlabPool } from '../wire/frame-slab.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';
import { Accounting, type OutcomeSubject, type PathMode } from './accounting.js';
import { AckStream } from './ack-stream.js';
import { BackoffBook } from './backoff.js';
import { type DirectSenderConfig, type ResolvedSenderConfig, resolveSenderConfig } from './config.js';
import { storeFrame } from './frames.js';
import {
  deadReason,
  hasLimits,
  mergeBySeq,
  type OutgoingMessage,
  type PlainMessage,
  type SendLimits,
} from './message.js';
import { type DropReason, formatOutcome, type OutcomeListener } from './outcome.js';
import {
  type PeerEventKind,
  PeerSender,
  type PeerSenderFactory,
  type PeerSenderHost,
  type PeerSenderLike,
  type StopReason,
} from './peer-sender.js';
import type { DirectReceiver } from './receiver.js';
import { collectStats, type DirectSenderStats } from './stats.js';
import { UnresolvedQueue } from './unresolved-queue.js';

export interface DirectSenderOptions {
  transport: Transport;
  /** Reply path (`addr(...)` receivers) and broadcast path. */
  hub: HubPort;
  /** Where replies read on outbound connections go. */
  incoming: IncomingSink;
  /** The peer table; every change is applied at once. */
  topology: Observable<Topology>;
  /** Hot-reloadable settings; an invalid update is logged and the previous config kept. */
  config: Observable<DirectSenderConfig>;
  /** @default systemClock */
  clock?: Clock;
  /** Backoff jitter source; pass `seededRandom(n)` for reproducible runs. @default Math.random */
  random?: Random;
  /** @default noopMetrics */
  metrics?: Metrics;
  /** @default noopLogger */
  logger?: Logger;
  /** Called once per target of every accepted message, with its final outcome. */
  onOutcome?: OutcomeListener;
  /** Called on each connection event of a peer sender (connected, disconnected, gave up, wrong identity). */
  onPeerEvent?: (event: PeerEvent) => void;
  /** While `roomWanted`: a peer sender's queue drained to half its capacity or less. */
  onRoom?: () => void;
  /** Aborting it closes the sender without draining. */
  signal?: AbortSignal;
  /** Builds peer senders (tests inject doubles or wrappers). @default `new PeerSender(init)` */
  createSender?: PeerSenderFactory;
  /**
   * The node's byte budget for queued data (`limits.nodeQueueBytes`): the peer sender
   * queues and the unresolved queue count their bytes in it, and a message that would
   * wait while it is spent ends as `dropped:node_queue_full`. @default unbounded
   */
  budget?: ByteBudget;
}

/** A connection event of the sender of one (peer, address). */
export interface PeerEvent {
  readonly peerId: string;
  readonly address: string;
  readonly kind: PeerEventKind;
}

export interface CloseOptions {
  /** Let queued messages flush for up to this long before the rest end as `dropped:shutdown`. @default 0 */
  drainTimeoutMs?: number;
}

/** The senders of one resolved peer. */
interface PeerEntry {
  readonly senders: Map<string, PeerSenderLike>;
  /**
   * The only sender, while the peer has exactly one (most peers have one address): a send
   * then reaches it without a map iterator. Kept by {@link soleSenderOf} after each change.
   */
  sole: PeerSenderLike | undefined;
  /** One of the peer's addresses is this node's own (its targets are `skipped:self`). */
  skipSelf: boolean;
  /**
   * The target addresses of a message sent now (the senders' and the own address when
   * listed); messages share this array, so it is replaced, never changed in place.
   */
  addresses: readonly string[];
  /** A sender stopped by itself and was not replaced: the next use starts a new one. */
  incomplete: boolean;
}

const NO_ADDRESSES: readonly string[] = Object.freeze([]);

/**
 * The resolved peers by id, remembering the last one looked up with {@link find}: a node
 * mostly sends to the peer it sent to before, and `writable()` then `send()` ask twice per
 * message. Any change of the table forgets it.
 */
class PeerTable extends Map<string, PeerEntry> {
  #lastId: string | undefined = undefined;
  #lastEntry: PeerEntry | undefined = undefined;

  /** `get(id)`, answered without hashing when `id` is the id looked up last. */
  find(id: string): PeerEntry | undefined {
    if (id === this.#lastId) return this.#lastEntry;
    const entry = this.get(id);
    this.#lastId = id;
    this.#lastEntry = entry;
    return entry;
  }

  #forget(): void {
    this.#lastId = undefined;
    this.#lastEntry = undefined;
  }

  override set(id: string, entry: PeerEntry): this {
    this.#forget();
    return super.set(id, entry);
  }

  override delete(id: string): boolean {
    this.#forget();
    return super.delete(id);
  }

  override clear(): void {
    this.#forget();
    super.clear();
  }
}

/**
 * The dispatcher: resolves receivers, owns one {@link PeerSender} per (peer, address),
 * follows topology and config changes, and gives every accepted message exactly one
 * outcome per target. `send()` is synchronous and allocates no promise, closure or timer.
 */
export class DirectSender {
  readonly #transport: Transport;
  readonly #hub: HubPort;
  readonly #clock: Clock;
  /** When no send time is given: one clock reading per burst of sends (see BurstClock). */
  readonly #sendClock: BurstClock;
  readonly #logger: Logger;
  readonly #accounting: Accounting;
  readonly #book = new BackoffBook();
  readonly #unresolved: UnresolvedQueue;
  readonly #budget: ByteBudget | undefined;
  readonly #peers = new PeerTable();
  readonly #retiring = new Set<PeerSenderLike>();
  /** Acknowledged streams by `peer id \\n address` (docs/acks.md). */
  readonly #streams = new Map<string, AckStream>();
  readonly #createSender: PeerSenderFactory;
  /** Frame buffers the node's senders are done with, for reuse (sized by the limits: {@link pooledBytesFor}). */
  readonly #slabs: SlabPool;
  readonly #host: PeerSenderHost & { roomWanted: boolean };
  readonly #unsubscribe: (() => void)[] = [];
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => void this.close();
  readonly #onRetry = (): void => this.#retry();
  #config: ResolvedSenderConfig;
  #lastLabel = '';
  #lastLabelConfig: ResolvedSenderConfig | undefined;
  #lastMetricLabel = 'other';
  #topology: Topology;
  #seq = 0;
  #messages = 0;
  /** The fast lane's message, filled anew by each {@link sendPlain} (never kept by a sender). */
  readonly #plain: PlainMessage = {
    seq: 0,
    size: 0,
    timestampMs: 0,
    peerId: '',
    metricLabel: '',
    addresses: NO_ADDRESSES,
    enqueuedAtMs: 0,
  };
  #retryTimer: TimerHandle | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  readonly #onPeerEvent: ((event: PeerEvent) => void) | undefined;
  readonly #onRoom: (() => void) | undefined;

  constructor(options: DirectSenderOptions) {
    this.#transport = options.transport;
    this.#hub = options.hub;
    this.#clock = options.clock ?? systemClock;
    this.#sendClock = new BurstClock(this.#clock);
    this.#logger = (options.logger ?? noopLogger).child({ component: 'direct-sender' });
    this.#accounting = new Accounting(this.#clock, options.metrics ?? noopMetrics, options.onOutcome);
    this.#config = resolveSenderConfig(options.config.get());
    this.#topology = options.topology.get();
    this.#createSender = options.createSender ?? ((init) => new PeerSender(init));
    this.#onPeerEvent = options.onPeerEvent;
    this.#onRoom = options.onRoom;
    this.#budget = options.budget;
    this.#unresolved = new UnresolvedQueue(options.budget);
    this.#slabs = new SlabPool(pooledBytesFor(this.#config), {
      clock: this.#clock,
      afterMs: POOL_IDLE_MS,
      floorBytes: POOLED_BYTES,
    });
    this.#host = {
      ...(options.budget === undefined ? {} : { budget: options.budget }),
      slabs: this.#slabs,
      transport: this.#transport,
      clock: this.#clock,
      random: options.random ?? Math.random,
      accounting: this.#accounting,
      book: this.#book,
      incoming: options.incoming,
      hub: this.#hub,
      logger: this.#logger,
      config: () => this.#config,
      senderStopped: (sender, leftover, reason) => this.#senderStopped(sender, leftover, reason),
      roomWanted: false,
      room: () => this.#onRoom?.(),
      peerEvent: (sender, kind) => {
        this.#onPeerEvent?.({ peerId: sender.peerId, address: sender.address, kind });
      },
    };
    this.#unsubscribe.push(options.topology.subscribe((t) => this.#onTopology(t)));
    this.#unsubscribe.push(options.config.subscribe((c) => this.#onConfig(c)));
    this.#signal = options.signal;
    if (this.#signal?.aborted) void this.close();
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Sends `envelope` to `receiver`; the outcome arrives through `onOutcome` and metrics. */
  send(
    receiver: DirectReceiver,
    envelope: Envelope,
    enqueuedAtMs: number = this.#sendClock.now(),
    limits?: SendLimits,
  ): void {
    if (receiver.kind === 'peer') {
      this.sendToPeer(receiver.id, envelope, enqueuedAtMs, limits);
      return;
    }
    this.#messages++;
    const cfg = this.#config;
    const subject = subjectOf(
      envelope,
      receiver.address,
      this.#metricLabel(envelope.label, cfg),
      enqueuedAtMs - this.#accounting.epochMs,
    );
    if (this.#closing) this.#accounting.dropNow(subject, undefined, 'direct', 'shutdown');
    else if (limits?.signal?.aborted === true)
      this.#accounting.dropNow(subject, receiver.address, 'direct', 'aborted');
    else if (receiver.address === cfg.selfAddress)
      this.#accounting.skipNow(subject, receiver.address, 'direct', 'self');
    else this.#viaHub(subject, receiver.address, 'direct', envelope);
  }

  /**
   * Sends `envelope` to every subscriber of this node: one outcome per subscriber
   * connection (at its remote address), or one `dropped:no_subscriber` (address
   * `broadcast`) when there is none.
   */
  broadcast(envelope: Envelope, enqueuedAtMs: number = this.#sendClock.now()): void {
    this.#messages++;
    const subject = subjectOf(
      envelope,
      'broadcast',
      this.#metricLabel(envelope.label, this.#config),
      enqueuedAtMs - this.#accounting.epochMs,
    );
    if (this.#closing) this.#accounting.dropNow(subject, 'broadcast', 'broadcast', 'shutdown');
    else this.#viaHub(subject, 'broadcast', 'broadcast', envelope);
  }

  /** `send(peer(id), ...)` without the receiver object. */
  sendToPeer(
    id: string,
    envelope: Envelope,
    enqueuedAtMs: number = this.#sendClock.now(),
    limits?: SendLimits,
  ): void {
    this.#messages++;
    const cfg = this.#config;
    const metricLabel = this.#metricLabel(envelope.label, cfg);
    const mode = cfg.directSendMode;
    const accounting = this.#accounting;
    // Since the accounting's epoch: a small integer, stored in the record (no heap number).
    const queuedAtMs = enqueuedAtMs - accounting.epochMs;
    // In `both` mode the direct copy carries `directReceiver` too: receivers deduplicate
    // only messages that carry it, so plain direct traffic pays no dedup cost.
    let direct = envelope;
    if (this.#closing || id === cfg.selfId || mode !== 'direct') {
      const subject = subjectOf(envelope, id, metricLabel, queuedAtMs);
      if (this.#closing) {
        this.#accounting.dropNow(subject, undefined, 'direct', 'shutdown');
        return;
      }
      if (id === cfg.selfId) {
        this.#accounting.skipNow(subject, undefined, 'direct', 'self');
        return;
      }
      const copy: Envelope = { ...envelope, directReceiver: id };
      this.#viaHub(subject, 'broadcast', 'broadcast', copy);
      if (mode === 'broadcast') return;
      direct = copy;
    }
    let size: number;
    try {
      size = encodableSize(direct);
    } catch (err) {
      this.#cannotEncode(subjectOf(envelope, id, metricLabel, queuedAtMs), undefined, 'direct', err);
      return;
    }
    const seq = ++this.#seq;
    const msg: OutgoingMessage = {
      seq,
      // Kept only if wanted: a waiting message's id string would survive every young GC.
      id: accounting.wantsIds ? envelope.id : undefined,
      label: envelope.label,
      envelope: direct,
      frames: undefined,
      frameAt: 0,
      size,
      receiver: id,
      peerId: id,
      metricLabel,
      enqueuedAtMs: queuedAtMs,
      addresses: NO_ADDRESSES,
      sent: false,
      unresolvedAtMs: 0,
      expiresAtMs: limits === undefined ? 0 : limits.expiresAtMs,
      signal: limits?.signal,
    };
    if (limits !== undefined) {
      const dead = deadReason(msg, this.#clock.now());
      if (dead !== undefined) {
        this.#accounting.dropNow(msg, undefined, 'direct', dead);
        return;
      }
    }
    const entry = this.#entryOf(id);
    if (entry === undefined) {
      this.#accounting.error('fwd_to_peer_unresolved');
      if (this.#budget?.hasRoom === false) {
        this.#accounting.error('fwd_to_peer_lagged');
        this.#accounting.dropNow(msg, undefined, 'direct', 'node_queue_full');
        return;
      }
      this.#accounting.accept(msg, 'direct');
      storeFrame(msg); // it waits: copy the payload now
      const now = this.#clock.now();
      this.#toUnresolved(this.#unresolved.push(msg, now, cfg.unresolvedCapacity, cfg.unresolvedQueueBytes));
      return;
    }
    msg.addresses = entry.addresses;
    if (entry.skipSelf) this.#accounting.skipNow(msg, cfg.selfAddress, 'direct', 'self');
    const sole = entry.sole;
    if (sole !== undefined) {
      this.#accounting.accept(msg, 'direct');
      this.#deliver(sole, msg);
      return;
    }
    for (const sender of entry.senders.values()) {
      this.#accounting.accept(msg, 'direct');
      this.#deliver(sender, msg);
    }
  }

  /**
   * `sendToPeer()` of a plain message (uncompressed, no deadline or signal) to a peer with
   * one address: written at once when its sender has nothing waiting
   * (`PeerSenderLike.writePlain`), else queued there as numbers (`queuePlain`); no
   * envelope or record is made either way (outcome listeners and watchers get its id read
   * from its frame). Returns false, having done nothing, when the message needs the
   * general path (which also reports a drop: a full queue, a stopped sender).
   */
  sendPlain(
    id: string,
    messageId: string,
    label: string,
    data: Uint8Array,
    timestampMs: number,
    enqueuedAtMs: number,
  ): boolean {
    const cfg = this.#config;
    const accounting = this.#accounting;
    if (this.#closing || cfg.directSendMode !== 'direct' || id === cfg.selfId) return false;
    const entry = this.#peers.find(id);
    if (entry === undefined || entry.incomplete || entry.skipSelf) return false;
    const sole = entry.sole;
    if (sole === undefined) return false;
    const plain = this.#plain;
    plain.seq = this.#seq + 1;
    plain.size = plainEnvelopeSize(messageId, label, data.length);
    plain.timestampMs = timestampMs;
    plain.peerId = id;
    plain.metricLabel = this.#metricLabel(label, cfg);
    plain.addresses = entry.addresses;
    plain.enqueuedAtMs = enqueuedAtMs - accounting.epochMs;
    // Written at once when the sender's lane is open (writePlain checks), else queued as
    // numbers (a sender without queuePlain, or whose queue cannot take it, leaves it to the
    // general path).
    if (
      sole.writePlain?.(plain, messageId, label, data) !== true &&
      sole.queuePlain?.(plain, messageId, label, data) !== true
    ) {
      return false;
    }
    this.#seq++;
    this.#messages++;
    return true;
  }

  /**
   * `send(addr(address), ...)` of a plain message (as {@link sendPlain}'s) on the reply
   * path: encoded at once into the write batch of the connection the peer at `address`
   * opened to this node (`HubPort.replyPlain`), with one object made, which is both the
   * outcome's subject and its ticket (the general path makes an envelope, a subject and a
   * ticket). Returns false, having done nothing, when the message needs the general path:
   * no such connection, its queue has frames waiting, the node is closing, the address is
   * this node's own.
   */
  replyPlain(
    address: string,
    messageId: string,
    label: string,
    data: Uint8Array,
    timestampMs: number,
    enqueuedAtMs: number,
  ): boolean {
    const cfg = this.#config;
    const hub = this.#hub;
    if (this.#closing || hub.replyPlain === undefined || address === cfg.selfAddress) return false;
    const accounting = this.#accounting;
    const size = plainEnvelopeSize(messageId, label, data.length);
    const reply = new PlainReply(
      accounting,
      messageId,
      label,
      address,
      this.#metricLabel(label, cfg),
      enqueuedAtMs - accounting.epochMs,
      FRAME_PREFIX_BYTES + size,
    );
    if (!hub.replyPlain(address, size, timestampMs, messageId, label, data, reply)) return false;
    this.#messages++;
    return true;
  }

  /**
   * True when a message to peer `id` sent now would be queued at every target rather than
   * dropped as `queue_full` / `unresolved_overflow` / `node_queue_full`: no sender of the
   * peer has a full queue, in messages or in bytes (and, for a peer without address, the
   * unresolved queue has room), and the node's byte budget is not spent. Cheap: no
   * allocation.
   */
  writable(id: string): boolean {
    const cfg = this.#config;
    if (this.#budget?.hasRoom === false) return false;
    const entry = this.#peers.find(id);
    if (entry === undefined) {
      return (
        (this.#topology.get(id)?.length ?? 0) > 0 ||
        (this.#unresolved.length < cfg.unresolvedCapacity &&
          this.#unresolved.bytes < cfg.unresolvedQueueBytes)
      );
    }
    const capacity = cfg.peerQueueCapacity;
    const capacityBytes = cfg.peerQueueBytes;
    const sole = entry.sole;
    if (sole !== undefined) return sole.queueDepth < capacity && (sole.queueBytes ?? 0) < capacityBytes;
    for (const s of entry.senders.values()) {
      if (s.queueDepth >= capacity || (s.queueBytes ?? 0) >= capacityBytes) return false;
    }
    return true;
  }

  /**
   * Whether someone waits for room in a peer's queues (`Network.ready`): while true, a
   * peer sender whose queue drained to half its capacity calls `onRoom`.
   */
  set roomWanted(wanted: boolean) {
    this.#host.roomWanted = wanted;
  }

  /**
   * Forgets the remembered backoff of every address of peer `id` and has its senders that
   * are backing off connect now: the peer is known to be back (it connected to us, its
   * table entry changed, or the application says so).
   */
  reconnect(id: string): void {
    if (this.#closing) return;
    for (const a of this.#topology.get(id) ?? []) this.#book.succeeded(id, a.address);
    const entry = this.#peers.get(id);
    if (entry === undefined) return;
    for (const s of entry.senders.values()) s.retryNow?.();
  }

  /** True when a sender of peer `id` has an open connection. */
  isConnected(id: string): boolean {
    const entry = this.#peers.get(id);
    if (entry === undefined) return false;
    for (const s of entry.senders.values()) if (s.state.kind === 'connected') return true;
    return false;
  }

  /**
   * Starts a sender for every address of peer `id` that has none, without a message (they
   * connect with the usual backoff). False when the peer has no address or the sender is
   * closing.
   */
  connect(id: string): boolean {
    return !this.#closing && this.#entryOf(id) !== undefined;
  }

  /**
   * Whether `onOutcome` wants every outcome (default true). False: it is called only for
   * watched messages, and plain sends make no event object.
   */
  set outcomesWanted(wanted: boolean) {
    this.#accounting.listening = wanted;
  }

  /** Every outcome so far, by its form in metrics and logs (`written`, `dropped:queue_full`, ...). */
  outcomeCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [outcome, n] of this.#accounting.outcomeCounts) {
      const key = formatOutcome(outcome);
      out[key] = (out[key] ?? 0) + n;
    }
    return out;
  }

  /** Tells `settled` once every target of message `id` has its outcome (see Accounting.watch). */
  watch(id: string, settled: (id: string) => void): void {
    this.#accounting.watch(id, settled);
  }

  unwatch(id: string): void {
    this.#accounting.unwatch(id);
  }

  /** `label` as counted in metrics; the last answer is kept (consecutive messages mostly share a label). */
  #metricLabel(label: string, cfg: ResolvedSenderConfig): string {
    // The usual case alone here, the rest in a method of its own: small enough for V8 to
    // inline into send()'s path, which it does by bytecode size within a budget per
    // optimized function (bench/HISTORY.md, round 23).
    return label === this.#lastLabel && cfg === this.#lastLabelConfig
      ? this.#lastMetricLabel
      : this.#newMetricLabel(label, cfg);
  }

  #newMetricLabel(label: string, cfg: ResolvedSenderConfig): string {
    this.#lastLabel = label;
    this.#lastLabelConfig = cfg;
    this.#lastMetricLabel = cfg.knownLabels.has(label) ? label : 'other';
    return this.#lastMetricLabel;
  }

  /** Stops every sender and timer; resolves when all of them are gone. Idempotent. */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closed ??= this.#shutdown(options.drainTimeoutMs ?? 0);
    return this.#closed;
  }

  /** A snapshot of peers, senders, queues and the outcome counters. */
  stats(): DirectSenderStats {
    return collectStats({
      peers: this.#peers.size,
      senders: [...this.#peers.values()].flatMap((e) => [...e.senders.values()]),
      retiring: [...this.#retiring],
      unresolved: this.#unresolved.length,
      unresolvedBytes: this.#unresolved.bytes,
      messages: this.#messages,
      counters: this.#accounting.counters,
      inFlight: this.#accounting.inFlight,
      backoffEntries: this.#book.size,
      pool: { bytes: this.#slabs.bytes, maxBytes: this.#slabs.maxBytes },
    });
  }

  /**
   * Hands a message to the hub (reply path, or broadcast path with address `broadcast`)
   * and records its outcomes: one per connection that took it (reported through a
   * ticket as it flushes or closes), or one drop when none could.
   */
  #viaHub(subject: OutcomeSubject, address: string, mode: PathMode, envelope: Envelope): void {
    let result: HubResult;
    const ticket = new HubTicket(this.#accounting, subject, mode, envelope);
    try {
      result =
        mode === 'broadcast'
          ? this.#hub.broadcast(envelope, ticket)
          : this.#hub.sendToAddress(address, envelope, ticket);
    } catch (err) {
      // The hub encodes; an envelope that cannot be encoded ends here, not in the caller.
      this.#cannotEncode(subject, address, mode, err);
      return;
    } finally {
      // The copies the connections took, counted once (a broadcast's hundred, say).
      ticket.commit();
    }
    // The ticket has accounted for every connection that was handed the message (or
    // refused it); only a message no connection saw is dropped here.
    if (
      result === 'no_connection' ||
      result === 'no_subscriber' ||
      ((result === 'queue_full' || result === 'node_queue_full') && mode === 'direct')
    ) {
      this.#accounting.dropNow(subject, address, mode, result);
    }
  }

  /** A message whose envelope cannot be encoded: counted, logged, dropped as `encode_failed`. */
  #cannotEncode(subject: OutcomeSubject, address: string | undefined, mode: PathMode, err: unknown): void {
    this.#accounting.error('fail_ser_msg');
    this.#logger.warn({ messageId: subject.id, err }, 'cannot encode message');
    this.#accounting.dropNow(subject, address, mode, 'encode_failed');
  }

  #deliver(sender: PeerSenderLike, msg: OutgoingMessage): void {
    const result = sender.enqueue(msg);
    if (result === 'queued') return;
    const stopped = result === 'stopped';
    this.#accounting.error(stopped ? 'fwd_to_peer_closed' : 'fwd_to_peer_lagged');
    this.#accounting.dropQueued(
      msg,
      sender.address,
      'direct',
      stopped ? 'connection_lost' : result === 'full' ? 'queue_full' : 'node_queue_full',
    );
  }

  /** The peer's entry with a sender for each of its addresses; undefined when it has none. */
  #entryOf(id: string): PeerEntry | undefined {
    const entry = this.#peers.find(id);
    if (entry === undefined) return this.#resolve(id);
    if (entry.incomplete) this.#refill(id, entry);
    return entry;
  }

  /** Starts senders for a peer known to the topology; undefined when it has no address. */
  #resolve(id: string): PeerEntry | undefined {
    if (this.#closing) return undefined;
    const addresses = uniqueAddresses(this.#topology.get(id));
    if (addresses.length === 0) return undefined;
    const entry: PeerEntry = {
      senders: new Map(),
      sole: undefined,
      skipSelf: false,
      addresses: NO_ADDRESSES,
      incomplete: false,
    };
    for (const a of addresses) this.#addAddress(id, entry, a);
    entry.addresses = this.#targetsOf(entry);
    this.#peers.set(id, entry);
    return entry;
  }

  /** Starts a sender for every address of the peer that has none (one stopped by itself). */
  #refill(id: string, entry: PeerEntry): void {
    entry.incomplete = false;
    if (this.#closing) return;
    for (const a of uniqueAddresses(this.#topology.get(id))) {
      if (!entry.senders.has(a.address)) this.#addAddress(id, entry, a);
    }
    entry.addresses = this.#targetsOf(entry);
  }

  #targetsOf(entry: PeerEntry): readonly string[] {
    const self = this.#config.selfAddress;
    const list = [...entry.senders.keys()];
    if (entry.skipSelf && self !== undefined) list.push(self);
    return list.length === 0 ? NO_ADDRESSES : list;
  }

  #addAddress(id: string, entry: PeerEntry, target: PeerAddress): PeerSenderLike | undefined {
    if (target.address === this.#config.selfAddress) {
      entry.skipSelf = true;
      return undefined;
    }
    const sender = this.#createSender({
      host: this.#host,
      peerId: id,
      target,
      createdSeq: ++this.#seq,
      stream: this.#streamOf(id, target.address),
    });
    entry.senders.set(target.address, sender);
    entry.sole = soleSenderOf(entry.senders);
    return sender;
  }

  /**
   * The acknowledged stream of (peer, address) when acks are wanted for the peer: the one
   * its earlier senders used while it lives (what they wrote may still await its ack),
   * else a new one. A stream that still holds unacknowledged messages is kept even after
   * acks were turned off for the peer, until they are settled.
   */
  #streamOf(id: string, address: string): AckStream | undefined {
    const key = `${id}\n${address}`;
    let stream = this.#streams.get(key);
    if (stream?.ended === true) {
      this.#streams.delete(key);
      stream = undefined;
    }
    const acks = this.#config.acks;
    if (!acks.enabled || (acks.peers !== undefined && !acks.peers.has(id))) {
      if (stream !== undefined && stream.count === 0) {
        this.#streams.delete(key);
        return undefined;
      }
      return stream;
    }
    if (stream === undefined) {
      stream = new AckStream(this.#host.random, this.#host.slabs);
      this.#streams.set(key, stream);
    }
    return stream;
  }

  #retire(sender: PeerSenderLike): void {
    this.#retiring.add(sender);
    void sender.closed.then(() => this.#retiring.delete(sender));
  }

  /**
   * A sender stopped by itself. Its queued messages (never written) go to a fresh sender
   * for the same address when the connection was lost (the same targets, after the
   * jittered backoff); otherwise they end with the reason. The address stays a target:
   * the next message to the peer starts a new sender there.
   */
  #senderStopped(sender: PeerSenderLike, leftover: OutgoingMessage[], reason: StopReason): void {
    const id = sender.peerId;
    const address = sender.address;
    const entry = this.#peers.get(id);
    this.#retire(sender);
    if (entry === undefined || entry.senders.get(address) !== sender) {
      this.#dropAll(leftover, address, 'shutdown');
      sender.endAcks?.(this.#closing ? 'shutdown' : 'removed');
      return;
    }
    entry.senders.delete(address);
    entry.sole = soleSenderOf(entry.senders);
    this.#accounting.error('fwd_to_peer_closed');
    // Unacknowledged messages wait for the next connection as queued ones do.
    const waiting = leftover.length > 0 || (sender.unacked ?? 0) > 0;
    if (reason === 'connection_lost' && waiting && !this.#closing) {
      const target = uniqueAddresses(this.#topology.get(id)).find((a) => a.address === address);
      const next = target === undefined ? undefined : this.#addAddress(id, entry, target);
      if (next !== undefined) {
        this.#dropAll(next.adopt(leftover), address, 'queue_full');
        return;
      }
      // The address left a topology that changed in place (no event): nothing to move to.
      for (const m of leftover) this.#accounting.skipQueued(m, address, 'direct', 'address_removed');
      sender.endAcks?.('removed');
    } else {
      if (this.#closing) sender.endAcks?.('shutdown');
      const why: DropReason =
        this.#closing || reason === 'removed' || reason === 'shutdown' ? 'shutdown' : reason;
      this.#dropAll(leftover, address, why);
    }
    entry.incomplete = true;
    if (entry.senders.size === 0 && !entry.skipSelf) this.#peers.delete(id);
  }

  #dropAll(msgs: readonly OutgoingMessage[], address: string | undefined, reason: DropReason): void {
    let now = -1;
    for (const m of msgs) {
      let why = reason;
      if (hasLimits(m)) {
        if (now < 0) now = this.#clock.now();
        why = deadReason(m, now) ?? reason;
      }
      this.#accounting.dropQueued(m, address, 'direct', why);
    }
    if (reason === 'queue_full' && msgs.length > 0) this.#accounting.error('fwd_to_peer_lagged');
  }

  #toUnresolved(evicted: OutgoingMessage[] | undefined): void {
    if (evicted !== undefined) {
      this.#accounting.error('fwd_to_peer_lagged');
      this.#dropAll(evicted, undefined, 'unresolved_overflow');
    }
    this.#armRetry();
  }

  /**
   * Moves on messages whose target addresses were removed (each of those targets already
   * ended as `skipped:address_removed`): a message no copy of which was handed to a
   * connection yet goes to each address added by the same change that it never had (the
   * peer moved), or back to the unresolved queue when the peer has no address left.
   * Messages of which a copy went out stay where they are: the copy may have reached the
   * peer's node, and a second copy at its new address would reach it twice.
   */
  #relocate(id: string, msgs: readonly OutgoingMessage[], fresh: ReadonlySet<string>): void {
    const movable = msgs.filter((m) => !m.sent);
    if (movable.length === 0) return;
    const entry = this.#peers.get(id);
    if (entry === undefined) {
      for (const m of movable) this.#accounting.accept(m, 'direct');
      const cfg = this.#config;
      const now = this.#clock.now();
      this.#toUnresolved(
        this.#unresolved.restore(movable, now, cfg.unresolvedCapacity, cfg.unresolvedQueueBytes),
      );
      return;
    }
    if (fresh.size === 0) return;
    const batches = new Map<PeerSenderLike, OutgoingMessage[]>();
    for (const m of movable) {
      let addresses = m.addresses;
      for (const [address, s] of entry.senders) {
        if (!fresh.has(address) || addresses.includes(address)) continue;
        this.#accounting.accept(m, 'direct');
        addBatch(batches, s, m);
        addresses = [...addresses, address];
      }
      m.addresses = addresses;
    }
    for (const [s, batch] of batches) this.#dropAll(s.adopt(batch), s.address, 'queue_full');
  }

  #onTopology(next: Topology): void {
    const prev = this.#topology;
    this.#topology = next;
    if (this.#closing) return;
    for (const [id, entry] of [...this.#peers]) {
      const diff = diffPeerAddresses(prev.get(id), next.get(id));
      if (diff.added.length === 0 && diff.removed.length === 0 && !entry.incomplete) continue;
      const added = new Map<string, PeerAddress>();
      for (const a of diff.added) added.set(a.address, a);
      let moved: OutgoingMessage[] = [];
      for (const address of diff.removed) {
        if (address === this.#config.selfAddress) entry.skipSelf = false;
        const sender = entry.senders.get(address);
        if (sender === undefined) continue;
        entry.senders.delete(address);
        entry.sole = soleSenderOf(entry.senders);
        const leftover = sender.stop('removed');
        this.#retire(sender);
        const again = added.get(address);
        if (again !== undefined) {
          // Its pinned identity changed: the same targets, on a new connection.
          added.delete(address);
          const successor = this.#addAddress(id, entry, again);
          if (successor !== undefined) this.#dropAll(successor.adopt(leftover), address, 'queue_full');
          continue;
        }
        for (const m of leftover) this.#accounting.skipQueued(m, address, 'direct', 'address_removed');
        moved = mergeBySeq(moved, leftover);
      }
      for (const a of added.values()) this.#addAddress(id, entry, a);
      this.#refill(id, entry);
      // Its entry changed: whatever it was doing, try it now rather than after a delay.
      if (diff.added.length > 0 || diff.removed.length > 0) this.reconnect(id);
      if (entry.senders.size === 0 && !entry.skipSelf) this.#peers.delete(id);
      // A message queued at several removed addresses moves once.
      if (moved.length > 0) this.#relocate(id, withoutRepeats(moved), new Set(added.keys()));
    }
    this.#book.prune((id, address) => (next.get(id) ?? []).some((a) => a.address === address));
    for (const [key, stream] of this.#streams) if (stream.ended) this.#streams.delete(key);
    this.#resolveUnresolved();
  }

  /**
   * Hands waiting messages of every peer the topology now knows to its senders, in send
   * order: each to every address it never had (a message that went back to the unresolved
   * queue keeps the addresses it had).
   */
  #resolveUnresolved(): void {
    for (const id of this.#unresolved.peerIds()) {
      const entry = this.#entryOf(id);
      if (entry === undefined) continue;
      const msgs = this.#unresolved.take(id);
      const batches = new Map<PeerSenderLike, OutgoingMessage[]>();
      const self = this.#config.selfAddress;
      const now = this.#clock.now();
      for (const m of msgs) {
        const dead = hasLimits(m) ? deadReason(m, now) : undefined;
        if (dead !== undefined) {
          // Its deadline passed (or it was aborted) while it waited for an address.
          this.#accounting.dropQueued(m, undefined, 'direct', dead);
          continue;
        }
        // The message holds one target (the unresolved one): its first address takes it over.
        let held = true;
        let addresses = m.addresses;
        const fresh = addresses.length === 0;
        if (entry.skipSelf && self !== undefined && (fresh || !addresses.includes(self))) {
          this.#accounting.skipQueued(m, self, 'direct', 'self');
          held = false;
        }
        for (const [address, s] of entry.senders) {
          if (!fresh && addresses.includes(address)) continue;
          if (held) held = false;
          else this.#accounting.accept(m, 'direct');
          addBatch(batches, s, m);
          if (!fresh) addresses = [...addresses, address];
        }
        // Every address of the peer already had it: the waiting target ends here.
        if (held) this.#accounting.skipQueued(m, undefined, 'direct', 'address_removed');
        m.addresses = fresh ? entry.addresses : addresses;
      }
      for (const [s, batch] of batches) this.#dropAll(s.adopt(batch), s.address, 'queue_full');
    }
  }

  #armRetry(): void {
    if (this.#retryTimer !== undefined || this.#closing || this.#unresolved.length === 0) return;
    this.#retryTimer = this.#clock.setTimeout(this.#onRetry, this.#config.resolveRetryMs);
  }

  #retry(): void {
    this.#retryTimer = undefined;
    // Past their deadline (or aborted) while waiting: they end now, with that reason.
    this.#dropAll(this.#unresolved.removeDead(this.#clock.now()), undefined, 'deadline');
    const expired = this.#unresolved.expire(this.#clock.now(), this.#config.unresolvedTtlMs);
    if (expired.length > 0) this.#accounting.error('unresolved_expired');
    this.#dropAll(expired, undefined, 'unresolved_expired');
    this.#resolveUnresolved();
    this.#armRetry();
  }

  #onConfig(value: DirectSenderConfig): void {
    try {
      this.#config = resolveSenderConfig(value);
      this.#slabs.maxBytes = pooledBytesFor(this.#config);
    } catch (err) {
      this.#logger.error({ err }, 'invalid direct sender config: keeping the previous one');
    }
  }

  async #shutdown(drainTimeoutMs: number): Promise<void> {
    this.#closing = true;
    this.#host.roomWanted = false;
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#dropAll(this.#unresolved.drain(), undefined, 'shutdown');
    if (drainTimeoutMs > 0 && this.#accounting.inFlight > 0) {
      let timer: TimerHandle | undefined;
      await new Promise<void>((resolve) => {
        timer = this.#clock.setTimeout(resolve, drainTimeoutMs);
        this.#accounting.whenIdle(resolve);
      });
      this.#accounting.whenIdle(undefined);
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
    for (const entry of this.#peers.values()) {
      for (const sender of entry.senders.values()) {
        this.#dropAll(sender.stop('shutdown'), sender.address, 'shutdown');
        this.#retire(sender);
      }
    }
    this.#peers.clear();
    while (this.#retiring.size > 0) await Promise.all([...this.#retiring].map((s) => s.closed));
    this.#slabs.close();
  }
}

function addBatch(
  batches: Map<PeerSenderLike, OutgoingMessage[]>,
  sender: PeerSenderLike,
  msg: OutgoingMessage,
): void {
  const batch = batches.get(sender);
  if (batch === undefined) batches.set(sender, [msg]);
  else batch.push(msg);
}

/** The one sender of `senders`, or undefined when there are none or several. */
function soleSenderOf(senders: ReadonlyMap<string, PeerSenderLike>): PeerSenderLike | undefined {
  if (senders.size !== 1) return undefined;
  for (const sender of senders.values()) return sender;
  return undefined;
}

/** `msgs` (ordered by send sequence) without the repeats of a message. */
function withoutRepeats(msgs: readonly OutgoingMessage[]): OutgoingMessage[] {
  return msgs.filter((m, i) => i === 0 || msgs[i - 1] !== m);
}

/**
 * What an outcome needs of a message that never became an {@link OutgoingMessage}
 * (`enqueuedAtMs` since the accounting's epoch).
 */
function subjectOf(
  envelope: Envelope,
  receiver: string,
  metricLabel: string,
  enqueuedAtMs: number,
): OutcomeSubject {
  return { id: envelope.id, label: envelope.label, receiver, metricLabel, enqueuedAtMs };
}

/**
 * After this long without any frame buffer asked of it, the node's slab pool lets go of
 * what it keeps above {@link POOLED_BYTES}: a burst's memory goes back once the node is
 * quiet, while a busy node keeps reusing it.
 */
const POOL_IDLE_MS = 30_000;

/** The most the node's slab pool keeps, whatever the limits. */
const MAX_POOLED_BYTES = 64 * 1024 * 1024;

/**
 * What the node's slab pool keeps at most: what one backed-up peer sender holds framed
 * (its queue's byte bound, `peerQueueBytes`, plus the transport's default high-water
 * mark), plus one acknowledgement window with acks on (frames wait for their acks); at
 * least {@link POOLED_BYTES}, at most {@link MAX_POOLED_BYTES}. Buffers come back by
 * about that much when a sender's backlog drains: a smaller pool lets a part of them go
 * to the GC and allocates them anew (issue 16: 64 KiB frames with 100 queued made the
 * sender run 14-25 GCs per 10k messages, 5-11 of them mark-compacts, with a 4 MiB pool).
 * The pool only ever holds buffers that were in use at once, so a node that never had
 * that much in flight keeps less.
 */
function pooledBytesFor(config: ResolvedSenderConfig): number {
  const backlog = config.peerQueueBytes + DEFAULT_LIMITS.highWaterMarkBytes;
  const window = config.acks.enabled ? config.acks.windowBytes : 0;
  return Math.min(Math.max(POOLED_BYTES, backlog + window), MAX_POOLED_BYTES);
}

/**
 * What the hub reports a message's copies through (a reply, or a broadcast's copy per
 * subscriber connection) to the accounting: one object per message, its methods on the
 * class (no closures per message). The outcomes of a message on the connections the hub
 * hands it to, reported by each connection by its remote address: taken (the target is
 * accepted and handed over), then written on flush or dropped on close; or refused (its
 * queue was full).
 *
 * A copy taken counts as accepted at once; the rest of its counting (its phases, a
 * watch's open targets, metrics) is told to the accounting for all copies together
 * ({@link commit}): when the hub call returns, or before anything else about this
 * message is (a copy settled or refused meanwhile), so the accounting sees every copy
 * handed off before any of its outcomes, as it would one by one.
 */
class HubTicket implements OutcomeTicket {
  /** The frame's bytes (prefix included), computed on the first flush. */
  #bytes = -1;
  /** Copies taken and not yet told to the accounting. */
  #taken = 0;

  constructor(
    private readonly accounting: Accounting,
    private readonly subject: OutcomeSubject,
    private readonly mode: PathMode,
    private readonly envelope: Envelope,
  ) {}

  taken(): void {
    // Accepted at once; the rest of its counting waits for commit().
    this.accounting.acceptTaken();
    this.#taken++;
  }

  /** Tells the accounting about the copies taken since the last call, in one call. */
  commit(): void {
    const n = this.#taken;
    if (n === 0) return;
    this.#taken = 0;
    this.accounting.handOffTaken(this.subject, this.mode, n);
  }

  settle(result: TicketResult, address: string): void {
    if (this.#taken > 0) this.commit();
    if (result === 'written' && this.#bytes < 0) {
      this.#bytes = encodedEnvelopeSize(this.envelope) + FRAME_PREFIX_BYTES;
    }
    settleCopy(this.accounting, this.subject, this.mode, result, address, this.#bytes);
  }

  refused(address: string, reason: QueueRefusal = 'queue_full'): void {
    if (this.#taken > 0) this.commit();
    // The hub counts it as `subscriber_lagged`.
    this.accounting.dropNow(this.subject, address, this.mode, reason);
  }
}

/**
 * The outcome at `address` of one copy of `subject`'s message a hub connection took:
 * `bytes`, its frame's (prefix included), counts when it was `written`.
 */
function settleCopy(
  accounting: Accounting,
  subject: OutcomeSubject,
  mode: PathMode,
  result: TicketResult,
  address: string,
  bytes: number,
): void {
  if (result === 'delivered') accounting.delivered(subject, address, -1, mode);
  else if (result === 'unacknowledged') accounting.unacknowledged(subject, address, 'connection_lost', mode);
  else if (result !== 'written') accounting.lost(subject, address, mode, result);
  else accounting.flushed(subject, address, mode, bytes);
}

/**
 * A plain reply on the reply lane ({@link DirectSender.replyPlain}): its outcome's subject
 * and the ticket its connection reports to, in one object. Taken means written at once
 * (its buffer phase begins and ends in the call, as on `send()`'s lane).
 */
class PlainReply implements OutcomeTicket {
  constructor(
    private readonly accounting: Accounting,
    readonly id: string,
    readonly label: string,
    /** The address it is sent to (the receiver as printed). */
    readonly receiver: string,
    readonly metricLabel: string,
    readonly enqueuedAtMs: number,
    /** Its frame's bytes, prefix included. */
    private readonly bytes: number,
  ) {}

  taken(): void {
    this.accounting.acceptHandedOff(this.id, this.metricLabel, 'direct');
  }

  settle(result: TicketResult, address: string): void {
    settleCopy(this.accounting, this, 'direct', result, address, this.bytes);
  }

  refused(address: string, reason: QueueRefusal = 'queue_full'): void {
    this.accounting.dropNow(this, address, 'direct', reason);
  }
}
