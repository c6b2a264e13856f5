import type { RemoteIdentity } from '../transport/types.js';
import type { Envelope, EnvelopeVersion } from '../wire/envelope.js';

/** Where an incoming message came from. */
export interface MessageSource {
  /** The sending peer's id when the topology knows its identity; otherwise undefined. */
  readonly peerId: string | undefined;
  /** Remote `host:port` of the connection it arrived on. */
  readonly address: string;
  readonly identity: RemoteIdentity;
  /** `inbound`: a connection the peer opened to us (hub); `outbound`: a reply on our sender's connection. */
  readonly direction: 'inbound' | 'outbound';
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
}
