import type { Envelope } from '../wire/envelope.js';
import type { IdentityIndex } from './identify.js';
import type { IncomingReader } from './incoming-reader.js';

/**
 * Result of handing a message to the hub, for the sender's outcome accounting. `pending`:
 * connections took it; its ticket reports each one's outcome.
 */
export type HubResult =
  | 'written'
  | 'pending'
  | 'no_connection'
  | 'no_subscriber'
  | 'queue_full'
  | 'node_queue_full';

/** Why a connection's queue refused a frame: its own bounds, or the node's byte budget. */
export type QueueRefusal = 'queue_full' | 'node_queue_full';

/**
 * How a frame a connection took ended: flushed to the socket, or not. On a subscriber
 * connection with acks (docs/acks.md): `delivered` once the subscriber acknowledged it,
 * `unacknowledged` if the connection closed after the flush and before the ack.
 */
export type TicketResult = 'written' | 'delivered' | 'unacknowledged' | 'connection_lost' | 'shutdown';

/**
 * Follows one message through the connections the hub hands it to (one for a reply, one
 * per subscriber connection for a broadcast). For each connection, by its remote address:
 * `taken` when the connection takes the frame (handed to the transport or queued), then
 * exactly one `settle`: `written` once the connection flushed the frame to the socket,
 * `connection_lost` if the connection closed before, `shutdown` if the hub closed it
 * before (its drain time ran out). A broadcast subscriber whose queue is full gets
 * `refused` instead, and nothing else.
 */
export interface OutcomeTicket {
  taken(address: string): void;
  settle(result: TicketResult, address: string): void;
  refused(address: string, reason?: QueueRefusal): void;
}

/**
 * What the direct sender needs from the connection hub (the hub implements it; tests use
 * a double). Both calls are synchronous and never throw for a missing connection.
 */
export interface HubPort {
  /**
   * Writes `envelope` only on the open inbound direct connection whose remote address is
   * `address` (the reply path). `no_connection` when none is open, `queue_full` when its
   * reply queue is full, `node_queue_full` when the node's byte budget is spent (the ticket is not called); otherwise `pending`: the ticket was
   * told `taken` and will be settled.
   */
  sendToAddress(address: string, envelope: Envelope, ticket: OutcomeTicket): HubResult;
  /**
   * Optional fast path of {@link sendToAddress} for a plain message (the one
   * `encodePlainInto` describes, of encoded size `size`) with no envelope: true when the
   * connection took it at once (the ticket was told `taken` and will be settled); false,
   * having done nothing, when it needs {@link sendToAddress} (no connection, frames waiting).
   */
  replyPlain?(
    address: string,
    size: number,
    timestampMs: number,
    id: string,
    label: string,
    data: Uint8Array,
    ticket: OutcomeTicket,
  ): boolean;
  /**
   * Writes `envelope` to the subscriber connections. With `envelope.directReceiver` set,
   * only the subscriber connection of that peer forwards it. `no_subscriber` when there is
   * no target (the ticket is not called); otherwise every target connection is reported to
   * `ticket` (taken then settled, or refused), and the result sums them up: `written` when
   * at least one took it, `queue_full` when none did.
   */
  broadcast(envelope: Envelope, ticket?: OutcomeTicket): HubResult;
  /**
   * The node's reader: the peer senders read replies on the connections they opened
   * through it, so every path counts received bytes and the incoming phases once, with the
   * same labels. Absent (a test double): they decode and push replies themselves.
   */
  readonly reader?: IncomingReader;
  /**
   * The node's current identity index (a new object after each topology change): the peer
   * senders identify replies with it, so one identity gets one peer id on every path.
   */
  identities?(): IdentityIndex;
}
