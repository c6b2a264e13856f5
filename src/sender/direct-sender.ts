import type { HubPort, HubResult } from '../hub/port.js';
import { type Metrics, noopMetrics } from '../metrics/types.js';
import type { IncomingSink } from '../network/incoming.js';
import { diffPeerAddresses, uniqueAddresses } from '../topology/diff.js';
import type { PeerAddress, Topology } from '../topology/types.js';
import type { Transport } from '../transport/types.js';
import { BurstClock, type Clock, systemClock, type TimerHandle } from '../util/clock.js';
import { type Logger, noopLogger } from '../util/logger.js';
import type { Observable } from '../util/observable.js';
import type { Random } from '../util/random.js';
import { type Envelope, encodableSize, encodedEnvelopeSize } from '../wire/envelope.js';
import { Accounting, type OutcomeSubject, type PathMode } from './accounting.js';
import { BackoffBook } from './backoff.js';
import { type DirectSenderConfig, type ResolvedSenderConfig, resolveSenderConfig } from './config.js';
import { storeFrame } from './frames.js';
import type { OutgoingMessage } from './message.js';
import type { DropReason, OutcomeListener } from './outcome.js';
import {
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
  /** Aborting it closes the sender without draining. */
  signal?: AbortSignal;
  /** Builds peer senders (tests inject doubles or wrappers). @default `new PeerSender(init)` */
  createSender?: PeerSenderFactory;
}

export interface CloseOptions {
  /** Let queued messages flush for up to this long before the rest end as `dropped:shutdown`. @default 0 */
  drainTimeoutMs?: number;
}

/** The senders of one resolved peer. */
interface PeerEntry {
  readonly senders: Map<string, PeerSenderLike>;
  /** One of the peer's addresses is this node's own (its targets are `skipped:self`). */
  skipSelf: boolean;
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
  readonly #unresolved = new UnresolvedQueue();
  readonly #peers = new Map<string, PeerEntry>();
  readonly #retiring = new Set<PeerSenderLike>();
  readonly #createSender: PeerSenderFactory;
  readonly #host: PeerSenderHost;
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
  #retryTimer: TimerHandle | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;

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
    this.#host = {
      transport: this.#transport,
      clock: this.#clock,
      random: options.random ?? Math.random,
      accounting: this.#accounting,
      book: this.#book,
      incoming: options.incoming,
      logger: this.#logger,
      config: () => this.#config,
      senderStopped: (sender, leftover, reason) => this.#senderStopped(sender, leftover, reason),
    };
    this.#unsubscribe.push(options.topology.subscribe((t) => this.#onTopology(t)));
    this.#unsubscribe.push(options.config.subscribe((c) => this.#onConfig(c)));
    this.#signal = options.signal;
    if (this.#signal?.aborted) void this.close();
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Sends `envelope` to `receiver`; the outcome arrives through `onOutcome` and metrics. */
  send(receiver: DirectReceiver, envelope: Envelope, enqueuedAtMs: number = this.#sendClock.now()): void {
    if (receiver.kind === 'peer') {
      this.sendToPeer(receiver.id, envelope, enqueuedAtMs);
      return;
    }
    this.#messages++;
    const cfg = this.#config;
    const subject = subjectOf(
      envelope,
      receiver.address,
      this.#metricLabel(envelope.label, cfg),
      enqueuedAtMs,
    );
    if (this.#closing) this.#accounting.dropNow(subject, undefined, 'direct', 'shutdown');
    else if (receiver.address === cfg.selfAddress)
      this.#accounting.skipNow(subject, receiver.address, 'direct', 'self');
    else this.#viaHub(subject, receiver.address, 'direct', envelope);
  }

  /** `send(peer(id), ...)` without the receiver object. */
  sendToPeer(id: string, envelope: Envelope, enqueuedAtMs: number = this.#sendClock.now()): void {
    this.#messages++;
    const cfg = this.#config;
    const metricLabel = this.#metricLabel(envelope.label, cfg);
    const mode = cfg.directSendMode;
    // In `both` mode the direct copy carries `directReceiver` too: receivers deduplicate
    // only messages that carry it, so plain direct traffic pays no dedup cost.
    let direct = envelope;
    if (this.#closing || id === cfg.selfId || mode !== 'direct') {
      const subject = subjectOf(envelope, id, metricLabel, enqueuedAtMs);
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
      this.#cannotEncode(subjectOf(envelope, id, metricLabel, enqueuedAtMs), undefined, 'direct', err);
      return;
    }
    const seq = ++this.#seq;
    const msg: OutgoingMessage = {
      seq,
      id: envelope.id,
      label: envelope.label,
      envelope: direct,
      frames: undefined,
      frameAt: 0,
      size,
      receiver: id,
      peerId: id,
      metricLabel,
      enqueuedAtMs,
      dispatchSeq: seq,
      unresolvedAtMs: 0,
    };
    const entry = this.#peers.get(id) ?? this.#resolve(id);
    if (entry === undefined) {
      this.#accounting.accept(msg, 'direct');
      this.#accounting.error('fwd_to_peer_unresolved');
      storeFrame(msg); // it waits: copy the payload now
      this.#toUnresolved(this.#unresolved.push(msg, this.#clock.now(), cfg.unresolvedCapacity));
      return;
    }
    if (entry.skipSelf) this.#accounting.skipNow(msg, cfg.selfAddress, 'direct', 'self');
    // Senders created by #resolve for this message have seen it.
    msg.dispatchSeq = this.#seq;
    for (const sender of entry.senders.values()) {
      this.#accounting.accept(msg, 'direct');
      this.#deliver(sender, msg);
    }
  }

  /** `label` as counted in metrics; the last answer is kept (consecutive messages mostly share a label). */
  #metricLabel(label: string, cfg: ResolvedSenderConfig): string {
    if (label !== this.#lastLabel || cfg !== this.#lastLabelConfig) {
      this.#lastLabel = label;
      this.#lastLabelConfig = cfg;
      this.#lastMetricLabel = cfg.knownLabels.has(label) ? label : 'other';
    }
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
      messages: this.#messages,
      counters: this.#accounting.counters,
      inFlight: this.#accounting.inFlight,
      backoffEntries: this.#book.size,
    });
  }

  /** Hands a message to the hub (reply path or broadcast path) and records its outcome. */
  #viaHub(subject: OutcomeSubject, address: string, mode: PathMode, envelope: Envelope): void {
    let result: HubResult;
    try {
      result =
        mode === 'broadcast' ? this.#hub.broadcast(envelope) : this.#hub.sendToAddress(address, envelope);
    } catch (err) {
      // The hub encodes; an envelope that cannot be encoded ends here, not in the caller.
      this.#cannotEncode(subject, address, mode, err);
      return;
    }
    this.#hubOutcome(subject, address, mode, result, envelope);
  }

  #hubOutcome(
    subject: OutcomeSubject,
    address: string,
    mode: PathMode,
    result: HubResult,
    envelope: Envelope,
  ): void {
    const accounting = this.#accounting;
    accounting.accept(subject, mode);
    if (result !== 'written') {
      accounting.dropQueued(subject, address, mode, result);
      return;
    }
    accounting.handOff(subject, mode);
    accounting.flushed(subject, address, mode, encodedEnvelopeSize(envelope) + 4);
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
    this.#accounting.error(result === 'full' ? 'fwd_to_peer_lagged' : 'fwd_to_peer_closed');
    this.#accounting.dropQueued(
      msg,
      sender.address,
      'direct',
      result === 'full' ? 'queue_full' : 'connection_lost',
    );
  }

  /** Starts senders for a peer known to the topology; undefined when it has no address. */
  #resolve(id: string): PeerEntry | undefined {
    if (this.#closing) return undefined;
    const addresses = uniqueAddresses(this.#topology.get(id));
    if (addresses.length === 0) return undefined;
    const entry: PeerEntry = { senders: new Map(), skipSelf: false };
    for (const a of addresses) this.#addAddress(id, entry, a);
    this.#peers.set(id, entry);
    return entry;
  }

  #addAddress(id: string, entry: PeerEntry, target: PeerAddress): void {
    if (target.address === this.#config.selfAddress) {
      entry.skipSelf = true;
      return;
    }
    const sender = this.#createSender({ host: this.#host, peerId: id, target, createdSeq: ++this.#seq });
    entry.senders.set(target.address, sender);
  }

  #retire(sender: PeerSenderLike): void {
    this.#retiring.add(sender);
    void sender.closed.then(() => this.#retiring.delete(sender));
  }

  #senderStopped(sender: PeerSenderLike, leftover: OutgoingMessage[], reason: StopReason): void {
    const entry = this.#peers.get(sender.peerId);
    if (entry?.senders.get(sender.address) === sender) {
      entry.senders.delete(sender.address);
      this.#accounting.error('fwd_to_peer_closed');
    }
    this.#retire(sender);
    if (reason === 'connection_lost' && leftover.length > 0 && !this.#closing) {
      const target = uniqueAddresses(this.#topology.get(sender.peerId)).find(
        (a) => a.address === sender.address,
      );
      if (target !== undefined) {
        // The address is still current: a fresh sender (after the jittered backoff) takes the queue over.
        const live = entry ?? { senders: new Map<string, PeerSenderLike>(), skipSelf: false };
        this.#peers.set(sender.peerId, live);
        this.#addAddress(sender.peerId, live, target);
        const next = live.senders.get(sender.address);
        if (next !== undefined) this.#dropAll(next.adopt(leftover), sender.address, 'queue_full');
        return;
      }
      this.#relocate(sender.peerId, leftover, sender.address);
    } else {
      const why: DropReason = reason === 'removed' || reason === 'connection_lost' ? 'shutdown' : reason;
      this.#dropAll(leftover, sender.address, why);
    }
    if (entry !== undefined && entry.senders.size === 0) this.#peers.delete(sender.peerId);
  }

  #dropAll(msgs: readonly OutgoingMessage[], address: string | undefined, reason: DropReason): void {
    for (const m of msgs) this.#accounting.dropQueued(m, address, 'direct', reason);
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
   * Moves messages queued for a removed address: each goes to every current sender of
   * the peer that has not been given it yet; when the peer has no address left, back to
   * the unresolved queue.
   */
  #relocate(id: string, msgs: readonly OutgoingMessage[], from: string | undefined): void {
    const entry = this.#peers.get(id) ?? this.#resolve(id);
    if (entry === undefined || entry.senders.size === 0) {
      if (entry?.skipSelf) {
        for (const m of msgs) this.#accounting.skipQueued(m, this.#config.selfAddress, 'direct', 'self');
        return;
      }
      const cfg = this.#config;
      this.#toUnresolved(this.#unresolved.restore(msgs, this.#clock.now(), cfg.unresolvedCapacity));
      return;
    }
    const batches = new Map<PeerSenderLike, OutgoingMessage[]>();
    for (const m of msgs) {
      let given = 0;
      for (const s of entry.senders.values()) {
        if (s.createdSeq <= m.dispatchSeq) continue;
        if (given++ > 0) this.#accounting.accept(m, 'direct');
        let batch = batches.get(s);
        if (batch === undefined) {
          batch = [];
          batches.set(s, batch);
        }
        batch.push(m);
      }
      if (given === 0) this.#accounting.skipQueued(m, from, 'direct', 'address_removed');
      m.dispatchSeq = this.#seq;
    }
    for (const [s, batch] of batches) this.#dropAll(s.adopt(batch), s.address, 'queue_full');
  }

  #onTopology(next: Topology): void {
    const prev = this.#topology;
    this.#topology = next;
    if (this.#closing) return;
    for (const [id, entry] of [...this.#peers]) {
      const diff = diffPeerAddresses(prev.get(id), next.get(id));
      if (diff.added.length === 0 && diff.removed.length === 0) continue;
      const moved: { from: string; msgs: OutgoingMessage[] }[] = [];
      for (const address of diff.removed) {
        if (address === this.#config.selfAddress) entry.skipSelf = false;
        const sender = entry.senders.get(address);
        if (sender === undefined) continue;
        entry.senders.delete(address);
        moved.push({ from: address, msgs: sender.stop('removed') });
        this.#retire(sender);
      }
      for (const a of diff.added) this.#addAddress(id, entry, a);
      if (entry.senders.size === 0 && !entry.skipSelf) this.#peers.delete(id);
      for (const { from, msgs } of moved) if (msgs.length > 0) this.#relocate(id, msgs, from);
    }
    this.#book.prune((id, address) => (next.get(id) ?? []).some((a) => a.address === address));
    this.#resolveUnresolved();
  }

  /** Hands waiting messages of every peer the topology now knows to its new senders, in send order. */
  #resolveUnresolved(): void {
    for (const id of this.#unresolved.peerIds()) {
      const entry = this.#peers.get(id) ?? this.#resolve(id);
      if (entry === undefined) continue;
      const msgs = this.#unresolved.take(id);
      const senders = [...entry.senders.values()];
      for (const m of msgs) {
        // The message holds one accepted target: the first address reuses it, the others are new.
        let held = true;
        if (entry.skipSelf) {
          this.#accounting.skipQueued(m, this.#config.selfAddress, 'direct', 'self');
          held = false;
        }
        for (let i = 0; i < senders.length; i++) {
          if (held) held = false;
          else this.#accounting.accept(m, 'direct');
        }
        m.dispatchSeq = this.#seq;
      }
      for (const s of senders) this.#dropAll(s.adopt(msgs), s.address, 'queue_full');
    }
  }

  #armRetry(): void {
    if (this.#retryTimer !== undefined || this.#closing || this.#unresolved.length === 0) return;
    this.#retryTimer = this.#clock.setTimeout(this.#onRetry, this.#config.resolveRetryMs);
  }

  #retry(): void {
    this.#retryTimer = undefined;
    const expired = this.#unresolved.expire(this.#clock.now(), this.#config.unresolvedTtlMs);
    if (expired.length > 0) this.#accounting.error('unresolved_expired');
    this.#dropAll(expired, undefined, 'unresolved_expired');
    this.#resolveUnresolved();
    this.#armRetry();
  }

  #onConfig(value: DirectSenderConfig): void {
    try {
      this.#config = resolveSenderConfig(value);
    } catch (err) {
      this.#logger.error({ err }, 'invalid direct sender config: keeping the previous one');
    }
  }

  async #shutdown(drainTimeoutMs: number): Promise<void> {
    this.#closing = true;
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
  }
}

/** What an outcome needs of a message that never became an {@link OutgoingMessage}. */
function subjectOf(
  envelope: Envelope,
  receiver: string,
  metricLabel: string,
  enqueuedAtMs: number,
): OutcomeSubject {
  return { id: envelope.id, label: envelope.label, receiver, metricLabel, enqueuedAtMs };
}
