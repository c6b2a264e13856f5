import { Buffer } from 'node:buffer';
import type {
  CloseReason,
  Connection,
  ConnectionHandler,
  ConnectionKind,
  ConnectOptions,
  Listener,
  ListenOptions,
  Transport,
} from '../../src/transport/types.js';
import { isControlFrame } from '../../src/wire/ack-frames.js';
import { decodeEnvelopeAt, type Envelope } from '../../src/wire/envelope.js';
import { FRAME_PREFIX_BYTES, frameLength } from '../../src/wire/framing.js';

/**
 * What a transport carried, seen from outside the code under test: every frame a node
 * handed to a connection, every frame it was told was flushed, every frame it received,
 * and every connection's open and close. The oracle reads these; nothing here comes from
 * the sender's or the hub's own accounting.
 */
export type TapEvent =
  | {
      readonly t: 'open';
      readonly node: string;
      readonly conn: number;
      readonly kind: ConnectionKind;
      readonly direction: 'outbound' | 'inbound';
      readonly local: string;
      readonly remote: string;
      /** The connection negotiated acknowledged delivery (its control frames are handed as `ctl`). */
      readonly acks?: boolean;
    }
  | { readonly t: 'handed'; readonly node: string; readonly conn: number; readonly ids: readonly string[] }
  | { readonly t: 'flushed'; readonly node: string; readonly conn: number; readonly count: number }
  | { readonly t: 'received'; readonly node: string; readonly conn: number; readonly id: string }
  | { readonly t: 'closed'; readonly node: string; readonly conn: number; readonly code: string };

export type TapSink = (event: TapEvent) => void;

/** Wraps a transport so that every connection it makes or accepts reports to `sink`. */
export class TapTransport implements Transport {
  /** Open tapped connections by number; `inner` is the transport's own object (for fault injection). */
  readonly open = new Map<number, TapConnection>();

  /**
   * `numbers` gives each connection its number; share one between the taps of one run, so
   * that numbers are unique in the run and the same in every replay.
   */
  constructor(
    readonly inner: Transport,
    readonly node: string,
    private readonly sink: TapSink,
    private readonly numbers: { next: number } = { next: 1 },
  ) {}

  async listen(address: string, options: ListenOptions): Promise<Listener> {
    return this.inner.listen(address, {
      ...options,
      onConnection: (connection) => options.onConnection(this.#wrap(connection, 'inbound')),
    });
  }

  async connect(address: string, kind: ConnectionKind, options?: ConnectOptions): Promise<Connection> {
    return this.#wrap(await this.inner.connect(address, kind, options), 'outbound');
  }

  #wrap(connection: Connection, direction: 'outbound' | 'inbound'): TapConnection {
    const tapped = new TapConnection(connection, this.numbers.next++, this.node, this.sink);
    this.open.set(tapped.number, tapped);
    this.sink({
      t: 'open',
      node: this.node,
      conn: tapped.number,
      kind: connection.kind,
      direction,
      local: connection.localAddress,
      remote: connection.remoteAddress,
      ...(connection.acks === true ? { acks: true } : {}),
    });
    // A connection never attached (refused, or closed first) reports its close here.
    void connection.closed.then((reason) => {
      this.open.delete(tapped.number);
      tapped.reportClosed(reason);
    });
    return tapped;
  }
}

/** What the tap records for a control frame of acknowledged delivery (it carries no message). */
export const CONTROL_ID = 'ctl';

function idsOfFrames(frames: Uint8Array, count: number): string[] {
  const buf = frames;
  const ids: string[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const len = frameLength(frames, at);
    ids.push(idOf(buf, at + FRAME_PREFIX_BYTES, at + FRAME_PREFIX_BYTES + len));
    at += FRAME_PREFIX_BYTES + len;
  }
  return ids;
}

function idOf(buf: Uint8Array, start: number, end: number): string {
  if (isControlFrame(buf, start, end)) return CONTROL_ID;
  const asBuffer = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  return decodeEnvelopeAt(asBuffer, start, end).id;
}

/** A connection that reports what goes through it and forwards everything to the real one. */
export class TapConnection implements Connection {
  #closeReported = false;

  constructor(
    readonly inner: Connection,
    readonly number: number,
    private readonly node: string,
    private readonly sink: TapSink,
  ) {}

  /**
   * Records the close once: when the handler is told (synchronously, before it), so that
   * the close is observed when the code under test sees it, not a promise turn later (a
   * broadcast accepted in between would seem to have skipped an open connection).
   */
  reportClosed(reason: CloseReason): void {
    if (this.#closeReported) return;
    this.#closeReported = true;
    this.sink({ t: 'closed', node: this.node, conn: this.number, code: reason.code });
  }

  get kind(): ConnectionKind {
    return this.inner.kind;
  }
  get remoteAddress(): string {
    return this.inner.remoteAddress;
  }
  get localAddress(): string {
    return this.inner.localAddress;
  }
  get remoteIdentity() {
    return this.inner.remoteIdentity;
  }
  get acks(): boolean {
    return this.inner.acks === true;
  }
  get bufferedBytes(): number {
    return this.inner.bufferedBytes;
  }
  get pendingFrames(): number {
    return this.inner.pendingFrames;
  }
  get closed(): Promise<CloseReason> {
    return this.inner.closed;
  }
  get closeReason(): CloseReason | undefined {
    return this.inner.closeReason;
  }

  attach(handler: ConnectionHandler): void {
    const { node, number, sink } = this;
    const received = (chunk: Buffer, start: number, end: number): void => {
      const id = idOf(chunk, start, end);
      if (id !== CONTROL_ID) sink({ t: 'received', node, conn: number, id });
    };
    const tapped: ConnectionHandler = {
      onFrame: (frame, readAtMs) => {
        received(frame, 0, frame.length);
        handler.onFrame(frame, readAtMs);
      },
      onFlushed: (count) => {
        sink({ t: 'flushed', node, conn: number, count });
        handler.onFlushed?.(count);
      },
      onDrain: () => handler.onDrain?.(),
      onClose: (reason) => {
        this.reportClosed(reason);
        handler.onClose?.(reason);
      },
    };
    if (handler.onFrameAt !== undefined) {
      const at = handler.onFrameAt.bind(handler);
      tapped.onFrameAt = (chunk, start, end, readAtMs) => {
        received(chunk, start, end);
        at(chunk, start, end, readAtMs);
      };
    }
    this.inner.attach(tapped);
  }

  write(body: Uint8Array): boolean {
    if (this.inner.closeReason === undefined && body.length > 0) {
      this.#handed([idOf(body, 0, body.length)]);
    }
    return this.inner.write(body);
  }

  writeEnvelope(envelope: Envelope, size: number): boolean {
    if (this.inner.closeReason === undefined) this.#handed([envelope.id]);
    if (this.inner.writeEnvelope !== undefined) return this.inner.writeEnvelope(envelope, size);
    throw new Error('tapped transport has no writeEnvelope');
  }

  writePlain(size: number, timestampMs: number, id: string, label: string, data: Uint8Array): boolean {
    if (this.inner.closeReason === undefined) this.#handed([id]);
    if (this.inner.writePlain !== undefined) return this.inner.writePlain(size, timestampMs, id, label, data);
    throw new Error('tapped transport has no writePlain');
  }

  writeFrames(frames: Uint8Array, count: number): boolean {
    if (this.inner.closeReason === undefined) this.#handed(idsOfFrames(frames, count));
    if (this.inner.writeFrames !== undefined) return this.inner.writeFrames(frames, count);
    throw new Error('tapped transport has no writeFrames');
  }

  writeEncoded(frames: Buffer, start: number, end: number, count: number): boolean {
    if (this.inner.closeReason === undefined) this.#handed(idsOfFrames(frames.subarray(start, end), count));
    if (this.inner.writeEncoded !== undefined) return this.inner.writeEncoded(frames, start, end, count);
    throw new Error('tapped transport has no writeEncoded');
  }

  close(reason?: string): void {
    this.inner.close(reason);
  }

  #handed(ids: string[]): void {
    this.sink({ t: 'handed', node: this.node, conn: this.number, ids });
  }
}
