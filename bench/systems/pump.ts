/**
 * The batched sender of the raw baselines: every tick, the frames of that tick go out in
 * one write (up to `maxBatchBytes`); on backpressure it waits for the sink to drain.
 */
import { frameBatch } from './frames.js';

/** Where a pump writes: a socket, a libp2p stream, or several sockets at once. */
export interface Sink {
  /**
   * Writes one buffer; false means "wait for drain". `done`, when the sink can tell, is
   * called once the buffer is written and no longer referenced (a socket's write callback):
   * the pump then fills it again. A sink that cannot tell never calls it.
   */
  write(buf: Buffer, done?: () => void): boolean;
  /** Calls `cb` once when the sink can take more. */
  onceDrain(cb: () => void): void;
}

/** Bytes per write: the peerpost transport's default high-water mark, so the baseline batches as much per tick. */
export const BATCH_BYTES = 1024 * 1024;

/** Batch buffers a pump keeps for reuse, at most (16 MiB of 1 MiB batches). */
const FREE_BATCHES = 16;

/**
 * The batched sender of the raw baselines, at its best: a batch buffer whose write has
 * completed is filled again for a later batch instead of a new one being allocated per
 * write (a 1 MiB buffer per write was external memory that drove the sending process's
 * collections, mark-compacts included, at 64 KiB; peerpost reuses its frame slabs the
 * same way). Each payload is still copied into the batch once per frame, as a real
 * sender copies each message.
 */
export class BatchPump {
  #remaining = 0;
  #payload: Buffer = Buffer.alloc(0);
  #perBatch = 1;
  /** Buffers whose write completed, ready to be filled again. */
  readonly #free: Buffer[] = [];
  readonly #run = () => this.#pump();
  /** Batch buffers allocated so far (the rest of the batches reused one). */
  allocated = 0;

  constructor(
    readonly sink: Sink,
    readonly maxBatchBytes = BATCH_BYTES,
  ) {}

  /** Starts sending `count` frames of `payload` (the previous start must have finished). */
  start(count: number, payload: Buffer): void {
    this.#remaining = count;
    this.#payload = payload;
    this.#perBatch = Math.max(1, Math.floor(this.maxBatchBytes / (4 + payload.length)));
    this.#pump();
  }

  #pump(): void {
    if (this.#remaining === 0) return;
    const n = Math.min(this.#remaining, this.#perBatch);
    this.#remaining -= n;
    const step = 4 + this.#payload.length;
    // A full batch's buffer, written whole or for the last batch of a start in part; one
    // sized for another payload is dropped.
    let buf = this.#free.pop();
    while (buf !== undefined && buf.length !== this.#perBatch * step) buf = this.#free.pop();
    if (buf === undefined) {
      buf = Buffer.allocUnsafeSlow(this.#perBatch * step);
      this.allocated++;
    }
    const whole = buf;
    const batch = frameBatch(this.#payload, n, n === this.#perBatch ? whole : whole.subarray(0, n * step));
    const ok = this.sink.write(batch, () => {
      if (this.#free.length < FREE_BATCHES) this.#free.push(whole);
    });
    if (this.#remaining === 0) return;
    if (ok) setImmediate(this.#run);
    else this.sink.onceDrain(this.#run);
  }
}

/** A sink over a node stream (net.Socket, tls.TLSSocket). */
export function socketSink(socket: NodeJS.WritableStream): Sink {
  return {
    write: (buf, done) => socket.write(buf, done),
    onceDrain: (cb) => {
      socket.once('drain', cb);
    },
  };
}

/**
 * The fan-out twin of BatchPump: the same batches (up to `maxBatchBytes` of frames per
 * write, each batch encoded once and the same buffer written to every sink), but every
 * sink paced by its own backpressure, as BatchPump paces one: after a write it goes on at
 * the next tick, or at that sink's `drain`, without waiting for the slowest sink. A batch
 * buffer is dropped once every sink has written it.
 */
export class FanoutPump {
  #payload: Buffer = Buffer.alloc(0);
  #perBatch = 1;
  #batches = 0;
  #lastBatch = 0;
  /** Per sink: the index of the next batch it writes. */
  readonly #next: number[];
  readonly #run: (() => void)[];
  /** Batches some sink has not written yet: the buffer and how many sinks still need it. */
  readonly #pending = new Map<number, { buf: Buffer; sinks: number }>();

  constructor(
    readonly sinks: readonly Sink[],
    readonly maxBatchBytes = BATCH_BYTES,
  ) {
    this.#next = sinks.map(() => 0);
    this.#run = sinks.map((_, i) => () => this.#pump(i));
  }

  /** Starts sending `count` frames of `payload` to every sink (the previous start must have finished). */
  start(count: number, payload: Buffer): void {
    if (count <= 0) return;
    this.#payload = payload;
    this.#perBatch = Math.max(1, Math.floor(this.maxBatchBytes / (4 + payload.length)));
    this.#batches = Math.ceil(count / this.#perBatch);
    this.#lastBatch = count - (this.#batches - 1) * this.#perBatch;
    this.#pending.clear();
    for (let i = 0; i < this.sinks.length; i++) {
      this.#next[i] = 0;
      this.#pump(i);
    }
  }

  #batch(k: number): Buffer {
    let entry = this.#pending.get(k);
    if (entry === undefined) {
      const n = k === this.#batches - 1 ? this.#lastBatch : this.#perBatch;
      entry = { buf: frameBatch(this.#payload, n), sinks: this.sinks.length };
      this.#pending.set(k, entry);
    }
    if (--entry.sinks === 0) this.#pending.delete(k);
    return entry.buf;
  }

  #pump(i: number): void {
    const k = this.#next[i]!;
    if (k >= this.#batches) return;
    this.#next[i] = k + 1;
    const ok = this.sinks[i]!.write(this.#batch(k));
    if (k + 1 === this.#batches) return;
    if (ok) setImmediate(this.#run[i]!);
    else this.sinks[i]!.onceDrain(this.#run[i]!);
  }
}
