/**
 * The batched sender of the raw baselines: every tick, the frames of that tick go out in
 * one write (up to `maxBatchBytes`); on backpressure it waits for the sink to drain.
 */
import { frameBatch } from './frames.js';

/** Where a pump writes: a socket, a libp2p stream, or several sockets at once. */
export interface Sink {
  /** Writes one buffer; false means "wait for drain". */
  write(buf: Buffer): boolean;
  /** Calls `cb` once when the sink can take more. */
  onceDrain(cb: () => void): void;
}

/** Bytes per write: the peerpost transport's default high-water mark, so the baseline batches as much per tick. */
export const BATCH_BYTES = 1024 * 1024;

export class BatchPump {
  #remaining = 0;
  #payload: Buffer = Buffer.alloc(0);
  #perBatch = 1;
  readonly #run = () => this.#pump();

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
    const ok = this.sink.write(frameBatch(this.#payload, n));
    if (this.#remaining === 0) return;
    if (ok) setImmediate(this.#run);
    else this.sink.onceDrain(this.#run);
  }
}

/** A sink over a node stream (net.Socket, tls.TLSSocket). */
export function socketSink(socket: NodeJS.WritableStream): Sink {
  return {
    write: (buf) => socket.write(buf),
    onceDrain: (cb) => {
      socket.once('drain', cb);
    },
  };
}
