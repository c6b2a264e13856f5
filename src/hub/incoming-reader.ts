import type { Buffer } from 'node:buffer';
import { LabelRegistry, LabelSetCache } from '../metrics/labels.js';
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
import { deliverTo, type IncomingSink, type MessageSource } from '../network/incoming.js';
import { BurstClock, type Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { EndOfTask } from '../util/microtask.js';
import { WarnLimiter } from '../util/warn-limiter.js';
import {
  decodeEnvelopeAt,
  type Envelope,
  type EnvelopeVersion,
  lastDecodedVersion,
  type ReceivedEnvelope,
} from '../wire/envelope.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';

/** The path a message took to reach us, as used in metric labels. */
export type IncomingMode = 'direct' | 'broadcast';

/** The metric series of one (label, mode), as handles made once (see `counterOf`). */
interface LabelSeries {
  readonly bytes: CounterHandle;
  readonly transferStarted: CounterHandle;
  readonly transferFinished: CounterHandle;
  readonly transferSeconds: HistogramHandle;
  readonly bufferStarted: CounterHandle;
  readonly bufferFinished: CounterHandle;
  readonly bufferSeconds: HistogramHandle;
}

export interface IncomingReaderDeps {
  readonly incoming: IncomingSink;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clockSkewToleranceMs: number;
  readonly maxTransferMs: number;
  /** Message labels reported by name in metrics; every other label is `other`. @default [] */
  readonly knownLabels?: readonly string[];
}

/** The series of the incoming metrics per mode: `known` labels by name, the others as `other`. */
function labelSeriesOf(
  metrics: Metrics,
  known: readonly string[],
): Record<IncomingMode, LabelSetCache<LabelSeries>> {
  const registry = LabelRegistry.knownOnly(known);
  const cache = (mode: IncomingMode) =>
    new LabelSetCache<LabelSeries>(registry, (label) => {
      const transfer: Labels = { phase: 'IncomingTransfer', label, mode };
      const buffer: Labels = { phase: 'IncomingBuffer', label, mode };
      return {
        bytes: counterOf(metrics, 'peerpost_received_bytes_total', { label, mode }),
        transferStarted: counterOf(metrics, 'peerpost_phase_started_total', transfer),
        transferFinished: counterOf(metrics, 'peerpost_phase_finished_total', transfer),
        transferSeconds: histogramOf(metrics, 'peerpost_phase_duration_seconds', transfer),
        bufferStarted: counterOf(metrics, 'peerpost_phase_started_total', buffer),
        bufferFinished: counterOf(metrics, 'peerpost_phase_finished_total', buffer),
        bufferSeconds: histogramOf(metrics, 'peerpost_phase_duration_seconds', buffer),
      };
    });
  return { direct: cache('direct'), broadcast: cache('broadcast') };
}

/**
 * Turns frame bodies into {@link IncomingMessage}s for the node's incoming queue, and
 * measures the incoming phases on the way: `IncomingTransfer` (sender's
 * `deliveryStartTimestampMs` to frame read, which crosses two clocks and is therefore
 * checked against a skew tolerance) and `IncomingBuffer` (frame read to handed to the
 * sink). Shared by the hub's inbound connections, its outbound subscriptions and the
 * peer senders' outbound connections (replies, through `HubPort.reader`).
 *
 * Message labels come from the network, so the label sets used in metrics are bounded
 * as the sender's are: known labels (`knownLabels`) by name, every other one as `other`.
 */
export class IncomingReader {
  /** Warnings about undecodable frames, rate-limited (made on the first one). */
  #warnings: WarnLimiter | undefined;
  readonly #deps: IncomingReaderDeps;
  #series: Record<IncomingMode, LabelSetCache<LabelSeries>>;
  /** For the IncomingBuffer durations: one clock reading per burst of messages (see BurstClock). */
  readonly #bufferClock: BurstClock;
  readonly #errorLabels = new Map<string, Labels>();
  /** False with the no-op metrics: the phase bookkeeping (clock reads, label lookups) is skipped. */
  readonly #measured: boolean;
  /** The series of the messages counted but not yet reported (see {@link #newRun}). */
  #run: LabelSeries | undefined;
  #runMessages = 0;
  #runBytes = 0;
  /** The run's IncomingTransfer time in ms, or -1 when it was not credible (counted as skew instead). */
  #runTransferMs = -1;
  #runBufferMs = 0;
  /**
   * The series of the last message measured, its label and mode: the next one mostly has
   * them too. (LabelSetCache.get keeps its last label as well, but is a call per message,
   * which V8 no longer inlined here: see #pushMeasured.)
   */
  #lastSeries: LabelSeries | undefined;
  #lastLabel = '';
  #lastMode: IncomingMode = 'direct';
  /** Reports the run at the end of the task (before any scrape). */
  readonly #runEnd = new EndOfTask(() => this.#endRun());

  constructor(deps: IncomingReaderDeps) {
    this.#deps = deps;
    this.#measured = deps.metrics !== noopMetrics;
    this.#series = labelSeriesOf(deps.metrics, deps.knownLabels ?? []);
    this.#bufferClock = new BurstClock(deps.clock);
  }

  /** Replaces the labels reported by name (the others are `other` from now on). */
  setKnownLabels(known: readonly string[]): void {
    this.#endRun();
    this.#series = labelSeriesOf(this.#deps.metrics, known);
    this.#lastSeries = undefined;
  }

  /**
   * Decodes the frame body `chunk[start, end)` (read at `readAtMs`, by default now; see
   * ConnectionHandler.onFrameAt) and pushes it to the sink. Returns false when the frame
   * does not decode (counted `fail_deser_msg`; the caller must close the connection,
   * since the peer speaks something else).
   */
  readAt(
    chunk: Buffer,
    start: number,
    end: number,
    from: MessageSource,
    mode: IncomingMode,
    readAtMs?: number,
  ): boolean {
    const readAt = readAtMs ?? this.#deps.clock.now();
    let envelope: ReceivedEnvelope;
    try {
      envelope = decodeEnvelopeAt(chunk, start, end);
    } catch (err) {
      this.countError('fail_deser_msg');
      this.#warnings ??= new WarnLimiter(this.#deps.logger, this.#deps.clock);
      this.#warnings.warn(
        'undecodable',
        { address: from.address, peer: from.identity.shortId, code: (err as { code?: string }).code },
        'incoming frame does not decode; closing the connection',
      );
      return false;
    }
    const version = lastDecodedVersion();
    if (!this.#measured) {
      this.#push(envelope, version, from, readAt);
      return true;
    }
    this.#pushMeasured(envelope, version, from, mode, readAt, end - start + FRAME_PREFIX_BYTES);
    return true;
  }

  /**
   * {@link #push} with the incoming phases and bytes counted: apart from readAt(), whose
   * decode path stays the same size with metrics on and off (V8 inlines into a function
   * up to a budget). What every message needs is written out here rather than called
   * (the series of the last label, the transfer time, one more message of the run): past
   * the budget V8 no longer inlined those calls, and they were ~40 ns of the ~190 a
   * message cost with metrics on (`bench/receive-micro.ts --metrics`).
   */
  #pushMeasured(
    envelope: ReceivedEnvelope,
    version: EnvelopeVersion,
    from: MessageSource,
    mode: IncomingMode,
    readAt: number,
    frameBytes: number,
  ): void {
    const label = envelope.label;
    let series = this.#lastSeries;
    if (series === undefined || label !== this.#lastLabel || mode !== this.#lastMode) {
      series = this.#series[mode].get(label);
      this.#lastSeries = series;
      this.#lastLabel = label;
      this.#lastMode = mode;
    }
    // The transfer time in ms, clamped at 0 within the skew tolerance; -1 when not credible
    // (NaN, a start of 2^53 ms or more, fails both comparisons: not credible either).
    const ms = readAt - envelope.startMs;
    const deps = this.#deps;
    let transferMs = -1;
    if (ms >= -deps.clockSkewToleranceMs && ms <= deps.maxTransferMs) transferMs = Math.max(ms, 0);
    else this.countError('in_transfer_skew');
    this.#push(envelope, version, from, readAt);
    const bufferMs = Math.max(0, this.#bufferClock.now() - readAt);
    // One more of the current run when it is measured like the run's messages (see #newRun).
    if (series === this.#run && transferMs === this.#runTransferMs && bufferMs === this.#runBufferMs) {
      this.#runMessages++;
      this.#runBytes += frameBytes;
      return;
    }
    this.#newRun(series, transferMs, bufferMs, frameBytes);
  }

  /**
   * Counts one message's phases and bytes as a new run, the current one reported first.
   * The messages after it that are measured like it (same series, same transfer and
   * buffer times: the messages of one received chunk mostly are) count as more of it
   * ({@link #pushMeasured}). A run is reported when the next one starts and at the end of
   * the task ({@link #runEnd}, a microtask: before any scrape), with one update per
   * series instead of seven per message.
   */
  #newRun(series: LabelSeries, transferMs: number, bufferMs: number, frameBytes: number): void {
    this.#endRun();
    this.#run = series;
    this.#runMessages = 1;
    this.#runBytes = frameBytes;
    this.#runTransferMs = transferMs;
    this.#runBufferMs = bufferMs;
    this.#runEnd.arm();
  }

  /** Reports the current run (if any) to its series, as its messages one by one would have. */
  #endRun(): void {
    const series = this.#run;
    if (series === undefined) return;
    this.#run = undefined;
    const n = this.#runMessages;
    series.bytes.inc(this.#runBytes);
    series.transferStarted.inc(n);
    if (this.#runTransferMs >= 0) observeTimes(series.transferSeconds, this.#runTransferMs / 1000, n);
    series.transferFinished.inc(n);
    series.bufferStarted.inc(n);
    series.bufferFinished.inc(n);
    observeTimes(series.bufferSeconds, this.#runBufferMs / 1000, n);
  }

  #push(envelope: Envelope, version: EnvelopeVersion, from: MessageSource, readAt: number): void {
    try {
      deliverTo(this.#deps.incoming, envelope, version, from, readAt);
    } catch (err) {
      // The sink is application-side code: its failure must not tear down the connection.
      this.#deps.logger.error({ err, address: from.address }, 'incoming sink threw');
    }
  }

  /** Counts `peerpost_errors_total{kind}` with a cached label object. */
  countError(kind: string): void {
    let labels = this.#errorLabels.get(kind);
    if (labels === undefined) {
      labels = { kind };
      this.#errorLabels.set(kind, labels);
    }
    this.#deps.metrics.inc('peerpost_errors_total', labels);
  }
}
