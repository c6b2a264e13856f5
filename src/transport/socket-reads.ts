import { Buffer } from 'node:buffer';

/**
 * Where every socket made with {@link SocketReads.onread} reads: one buffer for all of
 * them. A read lands here and is copied out before anything else runs (so a read of
 * another socket, even one started from inside the handler, cannot overwrite it). 16 KiB:
 * node hands TLS cleartext over at most one record (16 KiB) at a time.
 */
const LANDING = Buffer.allocUnsafe(16 * 1024);

/**
 * Bytes of an area reads are copied out to. The areas are shared by every socket's reads
 * and filled from the front, each read right behind the one before, whichever socket it
 * came from; a full area is let go (the chunks cut from it keep it while they are
 * referenced) and a new one made. So a read costs a view and a copy, where a buffer of
 * its own (`Buffer.allocUnsafe`) cost an ArrayBuffer for every read of 4 KiB or more
 * (node's pool takes only smaller ones). An area is filled by the reads of the whole
 * process, so it lives briefly under load; a message the application keeps keeps its
 * area (at most this much) alive, as it kept its read's chunk (at most 16 KiB) before.
 */
const AREA_BYTES = 64 * 1024;
let area = Buffer.allocUnsafeSlow(AREA_BYTES);
let areaAt = 0;

/** The first `n` bytes of {@link LANDING}, copied into the area, as a chunk of their own. */
function copyOut(n: number): Buffer {
  if (AREA_BYTES - areaAt < n) {
    area = Buffer.allocUnsafeSlow(AREA_BYTES);
    areaAt = 0;
  }
  const at = areaAt;
  areaAt += n;
  LANDING.copy(area, at, 0, n);
  return Buffer.from(area.buffer, area.byteOffset + at, n);
}

/**
 * The reads of a socket made with node's `onread` option (`tls.connect`): the socket
 * decrypts each record into a buffer of ours and calls back with it, without node's
 * readable-stream machinery (a chunk pushed onto the stream, a `'data'` event, and a
 * `process.nextTick` per read for the stream's read-ahead: on a connection that reads one
 * small reply per round trip, those were several microseconds of the requester's turn).
 *
 * Each read is copied out at once, into an area shared by all sockets' reads
 * ({@link copyOut}), as a chunk no later read overwrites: the chunks handed on may be kept
 * (a message's payload is a view of its chunk), and a socket that waits holds no buffer.
 * Chunks go to the sink given to {@link attach}; until then (a connection is attached
 * after `connect()` resolves) they wait here, in order.
 */
export class SocketReads {
  #sink: ((chunk: Buffer) => void) | undefined;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #detached = false;
  /** attach() is handing over what waited: new reads queue behind it. */
  #draining = false;

  /** The `onread` option of `tls.connect` / `net.connect` for this socket. */
  readonly onread = {
    buffer: LANDING,
    callback: (n: number): boolean => {
      this.#took(n);
      return true;
    },
  };

  /** Called (before attach) each time something was read and waits. */
  onPending: (() => void) | undefined;

  /** Bytes read and not yet handed to a sink. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** The first `n` bytes read and waiting (`n` <= {@link pendingBytes}), as one buffer, taken out of the wait. */
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const chunk = this.#pending[0] as Buffer;
      const part = Math.min(chunk.length, n - at);
      out.set(part === chunk.length ? chunk : chunk.subarray(0, part), at);
      at += part;
      if (part === chunk.length) this.#pending.shift();
      else this.#pending[0] = chunk.subarray(part);
    }
    this.#pendingBytes -= n;
    return out;
  }

  /** From now on every chunk read goes to `sink`, the ones waiting first (a read meanwhile waits its turn). */
  attach(sink: (chunk: Buffer) => void): void {
    if (this.#detached) return;
    this.#sink = sink;
    this.#draining = true;
    while (this.#pending.length > 0 && this.#sink === sink) {
      const chunk = this.#pending.shift() as Buffer;
      this.#pendingBytes -= chunk.length;
      sink(chunk);
    }
    this.#draining = false;
  }

  /** Nothing read from now on goes anywhere (the connection is gone); what waited is let go. */
  detach(): void {
    this.#detached = true;
    this.#sink = undefined;
    this.#pending = [];
    this.#pendingBytes = 0;
  }

  /** `n` bytes were read into {@link LANDING}. */
  #took(n: number): void {
    if (this.#detached) return;
    const chunk = copyOut(n);
    const sink = this.#sink;
    if (sink !== undefined && !this.#draining) {
      sink(chunk);
      return;
    }
    this.#pending.push(chunk);
    this.#pendingBytes += n;
    if (sink === undefined) this.onPending?.();
  }
}
