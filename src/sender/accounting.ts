import { type ErrorKind, errorLabels } from '../metrics/error-kinds.js';
import { type Labels, type Metrics, noopMetrics } from '../metrics/types.js';
import type { Clock } from '../util/clock.js';
import type { OutgoingMessage } from './message.js';
import type { DropReason, Outcome, OutcomeListener, SkipReason, UnacknowledgedDetail } from './outcome.js';

const OUTBOUND_DIRECT = { kind: 'direct', direction: 'outbound' } as const;
const NO_LABELS: Labels = Object.freeze({});

export type PathMode = 'direct' | 'broadcast';

/** A message someone waits on: its targets still open, and who to tell when none is. */
interface Watch {
  open: number;
  scheduled: boolean;
  readonly settled: () => void;
}

/** Counters of the outcome invariant and the delivery phases. */
export interface AccountingCounters {
  /** Targets accepted: one per target address (or per broadcast, or per unresolved message). */
  accepted: number;
  written: number;
  /** Acknowledged by the peer's node (acknowledged delivery). */
  delivered: number;
  dropped: number;
  skipped: number;
  bufferStarted: number;
  bufferFinished: number;
  transferStarted: number;
  transferFinished: number;
  /** Acknowledged messages written again on a new connection. */
  retransmits: number;
}

const WRITTEN: Outcome = Object.freeze({ kind: 'written' });
const DELIVERED: Outcome = Object.freeze({ kind: 'delivered' });
const UNACKNOWLEDGED = new Map<UnacknowledgedDetail, Outcome>();
function unacknowledged(detail: UnacknowledgedDetail): Outcome {
  let o = UNACKNOWLEDGED.get(detail);
  if (o === undefined) {
    o = Object.freeze({ kind: 'dropped', reason: 'unacknowledged', detail });
    UNACKNOWLEDGED.set(detail, o);
  }
  return o;
}
const DROPS = new Map<DropReason, Outcome>();
const SKIPS = new Map<SkipReason, Outcome>();
function drop(reason: DropReason): Outcome {
  let o = DROPS.get(reason);
  if (o === undefined) {
    o = Object.freeze({ kind: 'dropped', reason });
    DROPS.set(reason, o);
  }
  return o;
}
function skip(reason: SkipReason): Outcome {
  let o = SKIPS.get(reason);
  if (o === undefined) {
    o = Object.freeze({ kind: 'skipped', reason });
    SKIPS.set(reason, o);
  }
  return o;
}

/** The label objects of one (metric label, mode): the outgoing phases and the sent bytes. */
interface PathLabels {
  readonly buffer: Labels;
  readonly transfer: Labels;
  readonly bytes: Labels;
}

/** The minimum an outcome needs to know about a message. */
export type OutcomeSubject = Pick<
  OutgoingMessage,
  'id' | 'label' | 'receiver' | 'metricLabel' | 'enqueuedAtMs'
>;

/**
 * Where every target of every message ends: counts the outcome invariant
 * (accepted = written + dropped + skipped + in-flight), the OutgoingBuffer and
 * OutgoingTransfer phases, reports metrics and calls the outcome listener. Label
 * objects are cached so the hot path allocates nothing for metrics.
 */
export class Accounting {
  readonly counters: AccountingCounters = {
    accepted: 0,
    written: 0,
    delivered: 0,
    dropped: 0,
    skipped: 0,
    bufferStarted: 0,
    bufferFinished: 0,
    transferStarted: 0,
    transferFinished: 0,
    retransmits: 0,
  };
  readonly #clock: Clock;
  readonly #metrics: Metrics;
  /** False with the no-op metrics: the hot path then skips label lookups entirely. */
  readonly #on: boolean;
  readonly #listener: OutcomeListener | undefined;
  /** Label objects by metric label (bounded: known labels and `other`), per mode. */
  readonly #pathLabels: Record<PathMode, Map<string, PathLabels>> = {
    direct: new Map(),
    broadcast: new Map(),
  };
  /** By outcome object (they are shared: one per kind and reason). */
  readonly #outcomeLabels = new Map<Outcome, Labels>();
  #idle: (() => void) | undefined;
  /**
   * False while nobody listens to every outcome (the owner says so): the listener is then
   * called only for watched messages, and no event object is made for the others.
   */
  listening = true;
  /** Outcomes so far, by outcome (the objects are shared: one per kind, reason and detail). */
  readonly outcomeCounts = new Map<Outcome, number>();
  /** Watched messages by id; undefined while none is (the hot path then checks one field). */
  #watched: Map<string, Watch> | undefined;

  constructor(clock: Clock, metrics: Metrics, listener: OutcomeListener | undefined) {
    this.#clock = clock;
    this.#metrics = metrics;
    this.#on = metrics !== noopMetrics;
    this.#listener = listener;
  }

  get inFlight(): number {
    const c = this.counters;
    return c.accepted - c.written - c.delivered - c.dropped - c.skipped;
  }

  /**
   * Calls `settled` once every target of message `id` has its outcome: checked in a
   * microtask after the count of its open targets reaches zero, since a target that ends
   * may hand the message on to new targets in the same call (a peer that moved). Call
   * before the message is sent; {@link unwatch} forgets it.
   */
  watch(id: string, settled: () => void): void {
    this.#watched ??= new Map();
    this.#watched.set(id, { open: 0, scheduled: false, settled });
  }

  unwatch(id: string): void {
    const watched = this.#watched;
    if (watched === undefined) return;
    watched.delete(id);
    if (watched.size === 0) this.#watched = undefined;
  }

  #opened(id: string): void {
    const w = this.#watched?.get(id);
    if (w !== undefined) w.open++;
  }

  #closedTarget(id: string): void {
    const w = this.#watched?.get(id);
    if (w === undefined || --w.open > 0 || w.scheduled) return;
    w.scheduled = true;
    queueMicrotask(() => {
      w.scheduled = false;
      if (w.open === 0 && this.#watched?.get(id) === w) {
        this.unwatch(id);
        w.settled();
      }
    });
  }

  /** Calls `fn` once, as soon as nothing is in flight. */
  whenIdle(fn: (() => void) | undefined): void {
    this.#idle = fn;
    if (fn !== undefined && this.inFlight === 0) this.#fireIdle();
  }

  /** Outbound direct connections open now (the `peerpost_connections` gauge). */
  #openConnections = 0;

  /** A peer sender's connection opened (`closed = false`) or closed. */
  connection(closed: boolean): void {
    this.#openConnections += closed ? -1 : 1;
    if (!this.#on) return;
    if (!closed) this.#metrics.inc('peerpost_connections_opened_total', OUTBOUND_DIRECT);
    this.#metrics.set('peerpost_connections', this.#openConnections, OUTBOUND_DIRECT);
  }

  /** Kinds of errors and warnings, e.g. `fwd_to_peer_lagged`. */
  error(kind: ErrorKind): void {
    if (this.#on) this.#metrics.inc('peerpost_errors_total', errorLabels(kind));
  }

  /** A target entered a queue (OutgoingBuffer starts). */
  accept(msg: OutcomeSubject, mode: PathMode): void {
    this.counters.accepted++;
    if (this.#watched !== undefined) this.#opened(msg.id);
    this.counters.bufferStarted++;
    if (this.#on) this.#metrics.inc('peerpost_phase_started_total', this.#labels(msg, mode).buffer);
  }

  /** A queued target was dropped before reaching the transport. */
  dropQueued(msg: OutcomeSubject, address: string | undefined, mode: PathMode, reason: DropReason): void {
    this.#endBuffer(msg, mode);
    this.#final(msg, address, mode, drop(reason));
  }

  /** A queued target was skipped after all (its address left the topology). */
  skipQueued(msg: OutcomeSubject, address: string | undefined, mode: PathMode, reason: SkipReason): void {
    this.#endBuffer(msg, mode);
    this.#final(msg, address, mode, skip(reason));
  }

  /** A target that is skipped on arrival (no phase). */
  skipNow(msg: OutcomeSubject, address: string | undefined, mode: PathMode, reason: SkipReason): void {
    this.counters.accepted++;
    if (this.#watched !== undefined) this.#opened(msg.id);
    this.#final(msg, address, mode, skip(reason));
  }

  /** A target that is dropped on arrival (no phase). */
  dropNow(msg: OutcomeSubject, address: string | undefined, mode: PathMode, reason: DropReason): void {
    this.counters.accepted++;
    if (this.#watched !== undefined) this.#opened(msg.id);
    this.#final(msg, address, mode, drop(reason));
  }

  /** A queued target was accepted by a connection's write() (OutgoingTransfer starts). */
  handOff(msg: OutcomeSubject, mode: PathMode): void {
    this.#endBuffer(msg, mode);
    this.counters.transferStarted++;
    if (this.#on) this.#metrics.inc('peerpost_phase_started_total', this.#labels(msg, mode).transfer);
  }

  /** The connection handed the frame to the socket: outcome `written`. */
  flushed(msg: OutcomeSubject, address: string, mode: PathMode, bytes: number): void {
    this.#endTransfer(msg, mode);
    if (this.#on) this.#metrics.inc('peerpost_sent_bytes_total', this.#labels(msg, mode).bytes, bytes);
    this.#final(msg, address, mode, WRITTEN);
  }

  /**
   * An acknowledged message's frame reached the socket (the first time: a retransmission
   * counts bytes only): its OutgoingTransfer phase ends; the outcome waits for the ack.
   * `bytes` 0: the connection closed before the flush (the phase ends all the same).
   */
  ackFlushed(msg: OutcomeSubject, mode: PathMode, bytes: number): void {
    this.#endTransfer(msg, mode);
    if (this.#on && bytes > 0)
      this.#metrics.inc('peerpost_sent_bytes_total', this.#labels(msg, mode).bytes, bytes);
  }

  /** The peer's node acknowledged the message, `latencyMs` after its first write: outcome `delivered`. */
  delivered(msg: OutcomeSubject, address: string, latencyMs: number, mode: PathMode = 'direct'): void {
    if (this.#on && latencyMs >= 0)
      this.#metrics.observe('peerpost_ack_latency_seconds', latencyMs / 1000, NO_LABELS);
    this.#final(msg, address, mode, DELIVERED);
  }

  /** Messages and bytes waiting for an acknowledgement changed by the given amounts (gauges). */
  unackedChanged(messages: number, bytes: number): void {
    this.unackedMessages += messages;
    this.unackedBytes += bytes;
    if (!this.#on) return;
    this.#metrics.set('peerpost_ack_unacknowledged_messages', this.unackedMessages, NO_LABELS);
    this.#metrics.set('peerpost_ack_unacknowledged_bytes', this.unackedBytes, NO_LABELS);
  }

  /** Messages written and waiting for their acknowledgement, over every stream. */
  unackedMessages = 0;
  unackedBytes = 0;

  /** An acknowledged message written again on a new connection (`bytes` with the prefix). */
  retransmitted(msg: OutcomeSubject, bytes: number): void {
    this.counters.retransmits++;
    if (!this.#on) return;
    this.#metrics.inc('peerpost_ack_retransmits_total', NO_LABELS);
    this.#metrics.inc('peerpost_sent_bytes_total', this.#labels(msg, 'direct').bytes, bytes);
  }

  /** A written acknowledged message whose delivery cannot be known any more: `dropped:unacknowledged`. */
  unacknowledged(
    msg: OutcomeSubject,
    address: string,
    detail: UnacknowledgedDetail,
    mode: PathMode = 'direct',
  ): void {
    this.#final(msg, address, mode, unacknowledged(detail));
  }

  /** The connection closed before the frame reached the socket. */
  lost(msg: OutcomeSubject, address: string, mode: PathMode, reason: DropReason): void {
    this.#endTransfer(msg, mode);
    this.#final(msg, address, mode, drop(reason));
  }

  #endBuffer(msg: OutcomeSubject, mode: PathMode): void {
    this.counters.bufferFinished++;
    if (!this.#on) return;
    const labels = this.#labels(msg, mode).buffer;
    this.#metrics.inc('peerpost_phase_finished_total', labels);
    this.#metrics.observe(
      'peerpost_phase_duration_seconds',
      Math.max(0, this.#clock.now() - msg.enqueuedAtMs) / 1000,
      labels,
    );
  }

  #endTransfer(msg: OutcomeSubject, mode: PathMode): void {
    this.counters.transferFinished++;
    if (this.#on) this.#metrics.inc('peerpost_phase_finished_total', this.#labels(msg, mode).transfer);
  }

  #final(msg: OutcomeSubject, address: string | undefined, mode: PathMode, outcome: Outcome): void {
    const c = this.counters;
    if (outcome.kind === 'written') c.written++;
    else if (outcome.kind === 'delivered') c.delivered++;
    else if (outcome.kind === 'dropped') c.dropped++;
    else c.skipped++;
    if (this.#on) this.#metrics.inc('peerpost_outcomes_total', this.#outcomeLabelsOf(outcome));
    const counts = this.outcomeCounts;
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    if (this.#listener !== undefined && (this.listening || this.#watched?.has(msg.id) === true)) {
      this.#listener({
        messageId: msg.id,
        label: msg.label,
        receiver: msg.receiver,
        address,
        mode,
        outcome,
      });
    }
    if (this.#watched !== undefined) this.#closedTarget(msg.id);
    if (this.#idle !== undefined && this.inFlight === 0) this.#fireIdle();
  }

  #fireIdle(): void {
    const fn = this.#idle;
    this.#idle = undefined;
    fn?.();
  }

  /** The cached label objects of `msg`'s metric label (already bounded by the sender) and `mode`. */
  #labels(msg: OutcomeSubject, mode: PathMode): PathLabels {
    const byLabel = this.#pathLabels[mode];
    const label = msg.metricLabel;
    let labels = byLabel.get(label);
    if (labels === undefined) {
      labels = {
        buffer: { phase: 'OutgoingBuffer', label, mode },
        transfer: { phase: 'OutgoingTransfer', label, mode },
        bytes: { label, mode },
      };
      byLabel.set(label, labels);
    }
    return labels;
  }

  #outcomeLabelsOf(outcome: Outcome): Labels {
    let labels = this.#outcomeLabels.get(outcome);
    if (labels === undefined) {
      labels = {
        outcome: outcome.kind,
        reason: outcome.kind === 'written' || outcome.kind === 'delivered' ? '' : outcome.reason,
      };
      this.#outcomeLabels.set(outcome, labels);
    }
    return labels;
  }
}
