import {
  type HistogramHandle,
  histogramOf,
  type Metrics,
  noopMetrics,
  observeTimes,
} from '../metrics/types.js';
import type { Logger } from '../util/logger.js';
import { EndOfTask } from '../util/microtask.js';
import { type Envelope, encodedEnvelopeSize } from '../wire/envelope.js';
import { createEnvelope } from '../wire/message.js';
import { BROADCAST_MARK } from './gaps.js';
import { IdCounter } from './id-counter.js';

/**
 * Builds the envelopes a node sends: message ids (`<node>-<random>-<n>`), the timestamp
 * (messages of one millisecond share one bigint), zstd above the compression threshold,
 * the size metric, and the check against `maxFrameBytes`. Small payloads are built in
 * place: no option objects on the hot path.
 */
export class OutgoingEnvelopes {
  readonly #ids: IdCounter;
  /** Broadcast ids: a sequence of their own (see gaps.ts). */
  readonly #broadcastIds: IdCounter;
  readonly #compressThresholdBytes: number;
  /** `peerpost_message_size_bytes` by stage, as handles; undefined with the no-op metrics. */
  readonly #sizes:
    | { readonly uncompressed: HistogramHandle; readonly compressed: HistogramHandle }
    | undefined;
  readonly #logger: Logger;
  #lastMs = -1;
  #lastTimestamp = 0n;
  /** The size of the plain messages counted but not yet observed, and how many (see {@link observePlain}). */
  #runBytes = -1;
  #runMessages = 0;
  /** Observes the run at the end of the task (before any scrape). */
  readonly #runEnd = new EndOfTask(() => this.#endSizeRun());

  constructor(idPrefix: string, compressThresholdBytes: number, metrics: Metrics, logger: Logger) {
    this.#ids = new IdCounter(idPrefix);
    this.#broadcastIds = new IdCounter(`${idPrefix}${BROADCAST_MARK}`);
    this.#compressThresholdBytes = compressThresholdBytes;
    this.#sizes =
      metrics === noopMetrics
        ? undefined
        : {
            uncompressed: histogramOf(metrics, 'peerpost_message_size_bytes', { stage: 'uncompressed' }),
            compressed: histogramOf(metrics, 'peerpost_message_size_bytes', { stage: 'compressed' }),
          };
    this.#logger = logger;
  }

  nextId(): string {
    return this.#ids.next();
  }

  /** The next broadcast id: `<prefix>b:<n>`, n counting this node's broadcasts. */
  nextBroadcastId(): string {
    return this.#broadcastIds.next();
  }

  /**
   * The timestamp of message `id` sent at `nowMs`, in whole ms, when it can be sent as a
   * plain message (see `encodePlainInto`): its payload is not compressed, its frame is
   * surely within `maxFrameBytes` and the timestamp is a whole number of ms from 0 to
   * 2^53 - 1. -1 otherwise: {@link make} builds its envelope. Once the plain message is
   * sent, {@link observePlain} counts its size.
   */
  plainTimestamp(id: string, label: string, data: Uint8Array, nowMs: number, maxFrameBytes: number): number {
    const n = data.length;
    if (n > this.#compressThresholdBytes || sizeBound(id, label, n) > maxFrameBytes) return -1;
    const ms = Math.trunc(nowMs);
    return ms >= 0 && ms <= Number.MAX_SAFE_INTEGER ? ms : -1;
  }

  /** The size metric of a plain message of `bytes` sent (as {@link make} observes it). */
  observePlain(bytes: number): void {
    if (this.#sizes === undefined) return;
    // Consecutive messages mostly have one size: counted as a run, reported with one
    // update when a message of another size comes or at the end of the task.
    if (bytes === this.#runBytes) {
      this.#runMessages++;
      return;
    }
    this.#endSizeRun();
    this.#runBytes = bytes;
    this.#runMessages = 1;
    this.#runEnd.arm();
  }

  /** `nowMs` as a u64 bigint of whole ms (messages of one millisecond share one). */
  #timestamp(nowMs: number): bigint {
    const ms = Math.trunc(nowMs);
    if (ms !== this.#lastMs) {
      this.#lastMs = ms;
      this.#lastTimestamp = BigInt(ms);
    }
    return this.#lastTimestamp;
  }

  /** The envelope of one message sent at `nowMs` (and its size observed). */
  make(id: string, label: string, data: Uint8Array, nowMs: number): Envelope {
    let envelope: Envelope;
    if (data.length > this.#compressThresholdBytes) {
      envelope = createEnvelope(
        { id, label, data, nowMs },
        { compressThresholdBytes: this.#compressThresholdBytes },
      );
    } else {
      envelope = {
        deliveryStartTimestampMs: this.#timestamp(nowMs),
        id,
        label,
        compressed: false,
        data,
        lastSenderIsProxy: false,
        directReceiver: undefined,
      };
    }
    const sizes = this.#sizes;
    if (sizes !== undefined) {
      // Payload size before compression, and after it for compressed messages.
      this.#endSizeRun();
      sizes.uncompressed.observe(data.length);
      if (envelope.compressed) sizes.compressed.observe(envelope.data.length);
    }
    return envelope;
  }

  /** Reports the pending run of plain message sizes (see {@link observePlain}). */
  #endSizeRun(): void {
    const n = this.#runMessages;
    const sizes = this.#sizes;
    if (n === 0 || sizes === undefined) return;
    this.#runMessages = 0;
    const bytes = this.#runBytes;
    this.#runBytes = -1;
    observeTimes(sizes.uncompressed, bytes, n);
  }

  /**
   * A frame above maxFrameBytes would make the receiver close the connection (and every
   * message queued behind it would be lost with it): such a message is dropped, named.
   */
  tooLarge(envelope: Envelope, maxFrameBytes: number): boolean {
    // Cheap bound first; exact size only near the limit.
    const bound = sizeBound(envelope.id, envelope.label, envelope.data.length);
    if (bound <= maxFrameBytes || encodedEnvelopeSize(envelope) <= maxFrameBytes) return false;
    this.#logger.warn(
      { messageId: envelope.id, bytes: envelope.data.length, maxFrameBytes },
      'message larger than maxFrameBytes: dropped',
    );
    return true;
  }
}

/**
 * At least the encoded size of a message (no direct receiver) with this id, label and
 * payload size: UTF-8 is at most 3 bytes per UTF-16 unit, and 64 covers the fixed fields.
 */
function sizeBound(id: string, label: string, dataLength: number): number {
  return 64 + dataLength + 3 * (id.length + label.length);
}
