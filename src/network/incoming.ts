import type { RemoteIdentity } from '../transport/types.js';
import type { Envelope, EnvelopeVersion } from '../wire/envelope.js';

/** Where an incoming message came from. */
export interface MessageSource {
  /**
   * The sending peer's id: the peer the topology names by `identity` (pinned at an address,
   * or an identity without an address); else, on a connection this node dialed, the peer
   * listed unpinned at that address; else undefined. See docs/hub.md, "Peer identification".
   */
  readonly peerId: string | undefined;
  /** Remote `host:port` of the connection it arrived on. */
  readonly address: string;
  readonly identity: RemoteIdentity;
  /** `inbound`: a connection the peer opened to us (hub); `outbound`: a reply on our sender's connection. */
  readonly direction: 'inbound' | 'outbound';
  /**
   * Closes the connection the message came on (it carried something this node refuses,
   * e.g. a payload that does not decompress: bad input closes that one connection).
   */
  readonly close?: (why: string) => void;
}

/** A decoded message on its way to the application. */
export interface IncomingMessage {
  readonly envelope: Envelope;
  readonly version: EnvelopeVersion;
  readonly from: MessageSource;
  /** Local clock (ms since epoch) when the frame was read. */
  readonly receivedAtMs: number;
}

/** The node's incoming queue, as seen by the parts that read from connections. */
export interface IncomingSink {
  push(message: IncomingMessage): void;
  /**
   * Optional: `push()` without the {@link IncomingMessage} object, for the receive path's
   * one call per message (the node's own sink has it; test doubles may have `push` only).
   */
  deliver?(envelope: Envelope, version: EnvelopeVersion, from: MessageSource, receivedAtMs: number): void;
}

/** Hands a decoded message to `sink`: through `deliver()` when it has one, else as an {@link IncomingMessage}. */
export function deliverTo(
  sink: IncomingSink,
  envelope: Envelope,
  version: EnvelopeVersion,
  from: MessageSource,
  receivedAtMs: number,
): void {
  if (sink.deliver !== undefined) sink.deliver(envelope, version, from, receivedAtMs);
  else sink.push({ envelope, version, from, receivedAtMs });
}
