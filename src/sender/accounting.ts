import { type ErrorKind, errorLabels } from '../metrics/error-kinds.js';
import {
  type CounterHandle,
  counterOf,
  type HistogramHandle,
  histogramOf,
  type Labels,
  type Metrics,
  noopMetrics,
  observeTimes,
} from '../metrics/types.js';
import { BurstClock, type Clock } from '../util/clock.js';
import { EndOfTask, inMicrotask } from '../util/microtask.js';
import { SoloMap } from '../util/solo-map.js';
import { messageIdOf, type OutgoingMessage } from './message.js';
import type { DropReason, Outcome, OutcomeListener, SkipReason, UnacknowledgedDetail } from './outcome.js';

const OUTBOUND_DIRECT = { kind: 'direct', direction: 'outbound' } as const;
const NO_LABELS: Labels = Object.freeze({});

export type PathMode = 'direct' | 'broadcast';

/** A message someone waits on: its targets still open, and who to tell when none is. */
interface Watch {
  readonly id: string;
  open: number;
  scheduled: boolean;
  /** Called with the message's id (one function may serve every watched message). */
  readonly settled: (id: string) => void;
}

/** What a checked entry of a list of watches to check is overwritten with. */
const NO_WATCH: Watch = { id: '', open: 0, scheduled: false, settled: () => {} };
/** Entries a list of watches to check keeps room for between checks. */
const KEEP_TO_CHECK = 1024;

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

/**
 * The metric series of one (metric label, mode), as handles made once: the outgoing
 * phases (started, finished, the buffer's duration) and the sent bytes.
 */
interface PathSeries {
  readonly bufferStarted: CounterHandle;
  readonly bufferFinished: CounterHandle;
  readonly bufferSeconds: HistogramHandle;
  readonly transferStarted: CounterHandle;
  readonly transferFinished: CounterHandle;
  readonly bytes: CounterHandle;
}

/**
 * The minimum an outcome needs to know about a message: its id, or (an
 * {@link OutgoingMessage} sent while nobody wanted ids) where to read it.
 */
export type OutcomeSubject = Pick<
  OutgoingMessage,
  'id' | 'label' | 'receiver' | 'metricLabel' | 'enqueuedAtMs'
> &
  Partial<Pick<OutgoingMessage, 'envelope' | 'frames' | 'frameAt'>>;

/** The id of `msg` (see {@link messageIdOf}). */
function idOf(msg: OutcomeSubject): string {
  return msg.id ?? messageIdOf(msg as OutgoingMessage);
}

/**
 * Where every target of every message ends: counts the outcome invariant
 * (accepted = written + dropped + skipped + in-flight), the OutgoingBuffer and
 * OutgoingTransfer phases, reports metrics and calls the outcome listener. The metric
 * series are handles made once per label set (`counterOf`, `histogramOf`), so the hot
 * path counts with a method call per metric: no label lookup, no allocation.
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
  /** For the OutgoingBuffer durations: one clock reading per burst of messages (see BurstClock). */
  readonly #clock: BurstClock;
  readonly #metrics: Metrics;
  /** False with the no-op metrics: the hot path then skips label lookups entirely. */
  readonly #on: boolean;
  readonly #listener: OutcomeListener | undefined;
  /** Series by metric label (bounded: known labels and `other`), per mode. */
  readonly #paths: Record<PathMode, Map<string, PathSeries>> = {
    direct: new Map(),
    broadcast: new Map(),
  };
  /** The last series {@link #series} returned, and for what: messages come in runs of one label. */
  #lastSeries: PathSeries | undefined;
  #lastLabel = '';
  #lastMode: PathMode = 'direct';
  /** The series of the hand-offs counted but not yet reported (see {@link #tally}), and the run's numbers. */
  #run: PathSeries | undefined;
  #runBufferMs = 0;
  #runMessages = 0;
  /** Of the run's messages, those whose OutgoingBuffer also started in the run (written at once). */
  #runStarted = 0;
  /**
   * The series of the targets counted `written` but not yet reported (see
   * {@link #tallyWritten}), how many and their bytes. At most one of the two runs (this
   * and the hand-offs', {@link #run}) is pending: each starts by reporting the other.
   */
  #written: PathSeries | undefined;
  #writtenTargets = 0;
  #writtenBytes = 0;
  /** Reports the pending run at the end of the task (before any scrape). */
  readonly #runEnd = new EndOfTask(() => this.#endRuns());
  /** `peerpost_outcomes_total` by outcome object (they are shared: one per kind, reason and detail). */
  readonly #outcomeSeries = new Map<Outcome, CounterHandle>();
  /** Its entry for `written`, once made. */
  #writtenSeries: CounterHandle | undefined;
  /** `peerpost_ack_latency_seconds`, made on the first acknowledgement. */
  #ackLatency: HistogramHandle | undefined;
  #idle: (() => void) | undefined;
  /**
   * False while nobody listens to every outcome (the owner says so): the listener is then
   * called only for watched messages, and no event object is made for the others.
   */
  listening = true;
  /**
   * Outcomes so far, by outcome (the objects are shared: one per kind, reason and detail),
   * in first-seen order. `written` and `delivered`, by far the most frequent, are kept in
   * `counters` and only their place is held here (no map update per message).
   */
  readonly #outcomeCounts = new Map<Outcome, number>();
  /** Watched messages by id; undefined while none is (the hot path then checks one field). */
  #watched: SoloMap<string, Watch> | undefined;
  /** The map {@link #watched} is while some message is watched: kept, not made anew per watch. */
  readonly #watches = new SoloMap<string, Watch>();
  /**
   * Watches whose last open target ended, checked in the next microtask ({@link
   * #checkSettled}): the first {@link #toCheckCount}. The lists keep their length (a
   * checked entry is overwritten with {@link NO_WATCH}): emptying an array drops its
   * backing store, to be grown again by the next watch.
   */
  #toCheck: Watch[] = [];
  #toCheckCount = 0;
  /** The other of the two lists {@link #toCheck} alternates with (one is drained while the other fills). */
  #checking: Watch[] = [];

  /**
   * What `enqueuedAtMs` counts from: the clock's reading (in whole ms) when the accounting
   * was made, so that an enqueue time is a small integer (see OutgoingMessage.enqueuedAtMs).
   */
  readonly epochMs: number;

  constructor(clock: Clock, metrics: Metrics, listener: OutcomeListener | undefined) {
    this.epochMs = Math.floor(clock.now());
    this.#clock = new BurstClock(clock);
    this.#metrics = metrics;
    this.#on = metrics !== noopMetrics;
    this.#listener = listener;
  }

  /**
   * True when outcomes of messages sent now need their ids (a listener hears every outcome,
   * or some message is watched): the sender then keeps each message's id string; otherwise
   * it is read from the frame if it is wanted after all ({@link messageIdOf}).
   */
  get wantsIds(): boolean {
    return this.#watched !== undefined || (this.#listener !== undefined && this.listening);
  }

  /** Outcomes so far, by outcome object, in first-seen order (a copy). */
  get outcomeCounts(): ReadonlyMap<Outcome, number> {
    const out = new Map(this.#outcomeCounts);
    if (out.has(WRITTEN)) out.set(WRITTEN, this.counters.written);
    if (out.has(DELIVERED)) out.set(DELIVERED, this.counters.delivered);
    return out;
  }

  get inFlight(): number {
    const c = this.counters;
    return c.accepted - c.written - c.delivered - c.dropped - c.skipped;
  }

  /**
   * Calls `settled(id)` once every target of message `id` has its outcome: checked in a
   * microtask after the count of its open targets reaches zero, since a target that ends
   * may hand the message on to new targets in the same call (a peer that moved). Call
   * before the message is sent; {@link unwatch} forgets it.
   */
  watch(id: string, settled: (id: string) => void): void {
    this.#watches.set(id, { id, open: 0, scheduled: false, settled });
    this.#watched = this.#watches;
  }

  unwatch(id: string): void {
    const watched = this.#watched;
    if (watched === undefined) return;
    watched.delete(id);
    if (watched.size === 0) this.#watched = undefined;
  }

  #opened(id: string, targets = 1): void {
    const w = this.#watched?.get(id);
    if (w !== undefined) w.open += targets;
  }

  #closedTarget(id: string): void {
    const w = this.#watched?.get(id);
    if (w === undefined || --w.open > 0 || w.scheduled) return;
    w.scheduled = true;
    // One microtask per batch of watches, and no closure per message.
    const n = this.#toCheckCount++;
    this.#toCheck[n] = w;
    if (n === 0) inMicrotask(this.#checkSettled);
  }

  /**
   * The watches of {@link #toCheck}: those with no open target left (none was added in the
   * meantime) are settled. Watches whose last target ends meanwhile wait for the next
   * microtask, as if each had one of its own.
   */
  readonly #checkSettled = (): void => {
    const list = this.#toCheck;
    const n = this.#toCheckCount;
    this.#toCheck = this.#checking;
    this.#toCheckCount = 0;
    this.#checking = list;
    for (let i = 0; i < n; i++) {
      const w = list[i] as Watch;
      list[i] = NO_WATCH;
      w.scheduled = false;
      if (w.open === 0 && this.#watched?.get(w.id) === w) {
        this.unwatch(w.id);
        w.settled(w.id);
      }
    }
    if (list.length > KEEP_TO_CHECK) list.length = 0;
  };

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
    if (this.#watched !== undefined) this.#opened(idOf(msg));
    this.counters.bufferStarted++;
    if (this.#on) this.#series(msg.metricLabel, mode).bufferStarted.inc();
  }

  /**
   * {@link accept} of a plain message told by its id and metric label: `send()`'s lane
   * when the message waits in the queue ({@link acceptHandedOff} when it is written at once).
   */
  acceptQueued(id: string, metricLabel: string, mode: PathMode): void {
    this.counters.accepted++;
    if (this.#watched !== undefined) this.#opened(id);
    this.counters.bufferStarted++;
    if (this.#on) this.#series(metricLabel, mode).bufferStarted.inc();
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
    if (this.#watched !== undefined) this.#opened(idOf(msg));
    this.#final(msg, address, mode, skip(reason));
  }

  /** A target that is dropped on arrival (no phase). */
  dropNow(msg: OutcomeSubject, address: string | undefined, mode: PathMode, reason: DropReason): void {
    this.counters.accepted++;
    if (this.#watched !== undefined) this.#opened(idOf(msg));
    this.#final(msg, address, mode, drop(reason));
  }

  /** A queued target was accepted by a connection's write() (OutgoingTransfer starts). */
  handOff(msg: OutcomeSubject, mode: PathMode): void {
    this.counters.bufferFinished++;
    this.counters.transferStarted++;
    if (!this.#on) return;
    const bufferMs = Math.max(0, this.#clock.now() - this.epochMs - msg.enqueuedAtMs);
    this.#tally(this.#seriesOf(msg.metricLabel, mode), bufferMs, 0);
  }

  /**
   * One target of a message a hub connection took: accepted now (so the count in flight
   * stays exact for whoever settles meanwhile); the rest of {@link accept} and
   * {@link handOff} waits for {@link handOffTaken}, told once for all the message's copies.
   */
  acceptTaken(): void {
    this.counters.accepted++;
  }

  /**
   * {@link accept} then {@link handOff} of `count` targets of `msg` already accepted one by
   * one ({@link acceptTaken}): the copies of a message the hub's connections took (a
   * broadcast's, one per subscriber), counted once per message instead of once per copy. They are taken in the call that sends the message, so their
   * buffer phase ends then: one clock reading for all.
   */
  handOffTaken(msg: OutcomeSubject, mode: PathMode, count: number): void {
    const counters = this.counters;
    if (this.#watched !== undefined) this.#opened(idOf(msg), count);
    counters.bufferStarted += count;
    counters.bufferFinished += count;
    counters.transferStarted += count;
    if (!this.#on) return;
    const bufferMs = Math.max(0, this.#clock.now() - this.epochMs - msg.enqueuedAtMs);
    this.#tally(this.#seriesOf(msg.metricLabel, mode), bufferMs, count, count);
  }

  /**
   * {@link handOff} of `count` plain messages with metric label `metricLabel` written one
   * after the other, message `i` waiting in its queue since `waits.enqueuedAtMs(i)` (ms
   * after {@link epochMs}) for `i` in `[from, from + count)`: the counters once for all,
   * and with metrics on one clock reading for all (they are handed over in one loop, where
   * {@link handOff} read the clock for each, ~25 ns), made no object per message.
   */
  handOffMany(
    metricLabel: string,
    mode: PathMode,
    count: number,
    waits: { enqueuedAtMs(i: number): number },
    from: number,
  ): void {
    const counters = this.counters;
    counters.bufferFinished += count;
    counters.transferStarted += count;
    if (!this.#on) return;
    const series = this.#seriesOf(metricLabel, mode);
    const nowMs = this.#clock.now() - this.epochMs;
    for (let i = from; i < from + count; i++)
      this.#tally(series, Math.max(0, nowMs - waits.enqueuedAtMs(i)), 0);
  }

  /**
   * A plain message written at once ({@link accept} then {@link handOff}), told by its id
   * and metric label: `send()`'s fast lane, which makes no subject object. Its buffer
   * phase begins and ends inside that one `send()` call, so it is observed as 0 s (the
   * first bucket, as any sub-millisecond stay): no clock read per message. Reading the
   * clock for it cost ~40 ns per message with metrics on (bench/send-micro.ts --metrics)
   * and measured only whether a millisecond boundary fell between two clock readings.
   */
  acceptHandedOff(id: string, metricLabel: string, mode: PathMode): void {
    const counters = this.counters;
    counters.accepted++;
    if (this.#watched !== undefined) this.#opened(id);
    counters.bufferStarted++;
    counters.bufferFinished++;
    counters.transferStarted++;
    if (this.#on) this.#tally(this.#seriesOf(metricLabel, mode), 0, 1);
  }

  /**
   * Counts the end of `count` messages' OutgoingBuffer phase after `bufferMs` (and, for
   * `started` of them, its start too) and the start of their OutgoingTransfer: as more of the
   * current run when it has the run's series and buffer time (the messages of one write
   * mostly do), else as a new run. A run is reported when the next one starts, before any
   * other update of the sender's series ({@link #series}) and at the end of the task
   * ({@link #runEnd}, a microtask: before any scrape), with one update per series
   * instead of three or four per message; the exposition is what the updates one by one
   * would have made.
   */
  #tally(series: PathSeries, bufferMs: number, started: number, count = 1): void {
    if (series === this.#run && bufferMs === this.#runBufferMs) {
      this.#runMessages += count;
      this.#runStarted += started;
      return;
    }
    this.#endRuns();
    this.#run = series;
    this.#runBufferMs = bufferMs;
    this.#runMessages = count;
    this.#runStarted = started;
    this.#runEnd.arm();
  }

  /** Reports the pending run, of hand-offs or of written targets (if any), to its series. */
  #endRuns(): void {
    if (this.#written !== undefined) this.#endWritten();
    else if (this.#run !== undefined) this.#endRun();
  }

  /** Reports the current run of hand-offs (if any) to its series. */
  #endRun(): void {
    const series = this.#run;
    if (series === undefined) return;
    this.#run = undefined;
    const n = this.#runMessages;
    if (this.#runStarted > 0) series.bufferStarted.inc(this.#runStarted);
    series.bufferFinished.inc(n);
    observeTimes(series.bufferSeconds, this.#runBufferMs / 1000, n);
    series.transferStarted.inc(n);
  }

  /** The connection handed the frame to the socket: outcome `written`. */
  flushed(msg: OutcomeSubject, address: string, mode: PathMode, bytes: number): void {
    this.counters.transferFinished++;
    if (this.#on) this.#tallyWritten(this.#seriesOf(msg.metricLabel, mode), bytes);
    this.#final(msg, address, mode, WRITTEN);
  }

  /**
   * The metrics of one target flushed (`written`, `bytes` with the prefix): its
   * OutgoingTransfer's end, its bytes and its outcome, counted as one more of the pending
   * run of written targets when it has the run's series (the copies of a broadcast a
   * connection flushes together, or the messages of one flush, mostly do), else as a new
   * run, reported as {@link #tally}'s runs are: when another run starts, before any other
   * update of the sender's series or outcomes, and at the end of the task. Three updates
   * per run instead of per target, the exposition the same.
   */
  #tallyWritten(series: PathSeries, bytes: number): void {
    if (series === this.#written) {
      this.#writtenTargets++;
      this.#writtenBytes += bytes;
      return;
    }
    this.#endRuns();
    this.#written = series;
    this.#writtenTargets = 1;
    this.#writtenBytes = bytes;
    this.#runEnd.arm();
  }

  /** Reports the pending run of written targets (if any), in the order of the updates one by one. */
  #endWritten(): void {
    const series = this.#written;
    if (series === undefined) return;
    this.#written = undefined;
    const n = this.#writtenTargets;
    series.transferFinished.inc(n);
    series.bytes.inc(this.#writtenBytes);
    this.#outcomeSeriesOf(WRITTEN).inc(n);
  }

  /**
   * `count` frames of `bytes` in all (prefixes included), of messages with `subject`'s
   * metric label, reached the socket: {@link flushed} for each, in one call. Only while
   * nobody hears outcomes one by one ({@link wantsIds} false): no event is made.
   */
  flushedMany(
    subject: Pick<OutcomeSubject, 'metricLabel'>,
    mode: PathMode,
    count: number,
    bytes: number,
  ): void {
    this.counters.transferFinished += count;
    this.#addWritten(count);
    if (this.#on) {
      const series = this.#series(subject.metricLabel, mode);
      series.transferFinished.inc(count);
      series.bytes.inc(bytes);
      this.#outcomeSeriesOf(WRITTEN).inc(count);
    }
    if (this.#idle !== undefined && this.inFlight === 0) this.#fireIdle();
  }

  /**
   * An acknowledged message's frame reached the socket (the first time: a retransmission
   * counts bytes only): its OutgoingTransfer phase ends; the outcome waits for the ack.
   * `bytes` 0: the connection closed before the flush (the phase ends all the same).
   */
  ackFlushed(msg: OutcomeSubject, mode: PathMode, bytes: number): void {
    this.#endTransfer(msg, mode);
    if (this.#on && bytes > 0) this.#series(msg.metricLabel, mode).bytes.inc(bytes);
  }

  /**
   * `count` acknowledged frames of `bytes` in all (prefixes included), of messages with
   * `subject`'s metric label, reached the socket for the first time: {@link ackFlushed}
   * for each, in one call (`bytes` 0: their connection closed first).
   */
  ackFlushedMany(
    subject: Pick<OutcomeSubject, 'metricLabel'>,
    mode: PathMode,
    count: number,
    bytes: number,
  ): void {
    this.counters.transferFinished += count;
    if (!this.#on) return;
    const series = this.#series(subject.metricLabel, mode);
    series.transferFinished.inc(count);
    if (bytes > 0) series.bytes.inc(bytes);
  }

  /** The peer's node acknowledged the message, `latencyMs` after its first write: outcome `delivered`. */
  delivered(msg: OutcomeSubject, address: string, latencyMs: number, mode: PathMode = 'direct'): void {
    if (this.#on) this.ackLatency(latencyMs);
    this.#final(msg, address, mode, DELIVERED);
  }

  /** Whether {@link ackLatency} records anything (metrics are on). */
  get timesAcks(): boolean {
    return this.#on;
  }

  /** A message was acknowledged `latencyMs` after its first write (its `delivered` told apart). */
  ackLatency(latencyMs: number): void {
    if (!this.#on || latencyMs < 0) return;
    this.#ackLatency ??= histogramOf(this.#metrics, 'peerpost_ack_latency_seconds', NO_LABELS);
    this.#ackLatency.observe(latencyMs / 1000);
  }

  /**
   * `count` targets ended `delivered` (their {@link ackLatency} told already): {@link
   * delivered} for each, in one call. Only while nobody hears outcomes one by one
   * ({@link wantsIds} false): no event is made.
   */
  deliveredMany(count: number): void {
    const c = this.counters;
    if (c.delivered === 0) this.#outcomeCounts.set(DELIVERED, 0);
    c.delivered += count;
    if (this.#on) {
      if (this.#written !== undefined) this.#endWritten();
      this.#outcomeSeriesOf(DELIVERED).inc(count);
    }
    if (this.#idle !== undefined && this.inFlight === 0) this.#fireIdle();
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
  retransmitted(msg: Pick<OutcomeSubject, 'metricLabel'>, bytes: number): void {
    this.counters.retransmits++;
    if (!this.#on) return;
    this.#metrics.inc('peerpost_ack_retransmits_total', NO_LABELS);
    this.#series(msg.metricLabel, 'direct').bytes.inc(bytes);
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
    const series = this.#series(msg.metricLabel, mode);
    series.bufferFinished.inc();
    series.bufferSeconds.observe(Math.max(0, this.#clock.now() - this.epochMs - msg.enqueuedAtMs) / 1000);
  }

  #endTransfer(msg: OutcomeSubject, mode: PathMode): void {
    this.counters.transferFinished++;
    if (this.#on) this.#series(msg.metricLabel, mode).transferFinished.inc();
  }

  #final(msg: OutcomeSubject, address: string | undefined, mode: PathMode, outcome: Outcome): void {
    const c = this.counters;
    const counts = this.#outcomeCounts;
    // `written` and `delivered` are the only outcomes of their kinds.
    if (outcome === WRITTEN) this.#addWritten(1);
    else if (outcome === DELIVERED) {
      if (++c.delivered === 1) counts.set(DELIVERED, 0);
    } else {
      if (outcome.kind === 'dropped') c.dropped++;
      else c.skipped++;
      counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    }
    // A `written` target's metrics are counted by its caller (see #tallyWritten).
    if (this.#on && outcome !== WRITTEN) {
      if (this.#written !== undefined) this.#endWritten();
      this.#outcomeSeriesOf(outcome).inc();
    }
    const watched = this.#watched;
    // The id only when it is used: reading it back from a frame makes a string.
    const id = watched !== undefined || (this.listening && this.#listener !== undefined) ? idOf(msg) : '';
    if (this.#listener !== undefined && (this.listening || watched?.has(id) === true)) {
      this.#listener({
        messageId: id,
        label: msg.label,
        receiver: msg.receiver,
        address,
        mode,
        outcome,
      });
    }
    if (watched !== undefined) this.#closedTarget(id);
    if (this.#idle !== undefined && this.inFlight === 0) this.#fireIdle();
  }

  /** `n` more targets ended `written` (counted in `counters`; only its place is held in the outcome counts). */
  #addWritten(n: number): void {
    const c = this.counters;
    if (c.written === 0) this.#outcomeCounts.set(WRITTEN, 0);
    c.written += n;
  }

  #fireIdle(): void {
    const fn = this.#idle;
    this.#idle = undefined;
    fn?.();
  }

  /** The series of `msg`'s metric label (already bounded by the sender) and `mode`, made on first use. */
  #series(label: string, mode: PathMode): PathSeries {
    this.#endRuns();
    return this.#seriesOf(label, mode);
  }

  /** {@link #series} without reporting the pending run first (for {@link #tally}). */
  #seriesOf(label: string, mode: PathMode): PathSeries {
    if (label === this.#lastLabel && mode === this.#lastMode && this.#lastSeries !== undefined) {
      return this.#lastSeries;
    }
    const byLabel = this.#paths[mode];
    let series = byLabel.get(label);
    if (series === undefined) {
      const metrics = this.#metrics;
      const buffer: Labels = { phase: 'OutgoingBuffer', label, mode };
      const transfer: Labels = { phase: 'OutgoingTransfer', label, mode };
      series = {
        bufferStarted: counterOf(metrics, 'peerpost_phase_started_total', buffer),
        bufferFinished: counterOf(metrics, 'peerpost_phase_finished_total', buffer),
        bufferSeconds: histogramOf(metrics, 'peerpost_phase_duration_seconds', buffer),
        transferStarted: counterOf(metrics, 'peerpost_phase_started_total', transfer),
        transferFinished: counterOf(metrics, 'peerpost_phase_finished_total', transfer),
        bytes: counterOf(metrics, 'peerpost_sent_bytes_total', { label, mode }),
      };
      byLabel.set(label, series);
    }
    this.#lastSeries = series;
    this.#lastLabel = label;
    this.#lastMode = mode;
    return series;
  }

  #outcomeSeriesOf(outcome: Outcome): CounterHandle {
    // `written`, by far the most frequent, without a map lookup.
    if (outcome === WRITTEN && this.#writtenSeries !== undefined) return this.#writtenSeries;
    let series = this.#outcomeSeries.get(outcome);
    if (series === undefined) {
      series = counterOf(this.#metrics, 'peerpost_outcomes_total', {
        outcome: outcome.kind,
        reason: outcome.kind === 'written' || outcome.kind === 'delivered' ? '' : outcome.reason,
      });
      this.#outcomeSeries.set(outcome, series);
      if (outcome === WRITTEN) this.#writtenSeries = series;
    }
    return series;
  }
}
