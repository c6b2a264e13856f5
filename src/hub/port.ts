import type { Envelope } from '../wire/envelope.js';

/**
 * Result of handing a message to the hub, for the sender's outcome accounting. `pending`:
 * a reply was taken by its connection; its ticket reports the outcome later.
 */
export type HubResult = 'written' | 'pending' | 'no_connection' | 'no_subscriber' | 'queue_full';

/**
 * Reports the outcome of one reply (`sendToAddress`): `written` once its connection has
 * flushed the frame to the socket, `connection_lost` if the connection closed first. Called
 * exactly once.
 */
export interface ReplyTicket {
  settle(result: 'written' | 'connection_lost'): void;
}

/**
 * What the direct sender needs from the connection hub (the hub implements it; tests use
 * a double). Both calls are synchronous and never throw for a missing connection.
 */
export interface HubPort {
  /**
   * Writes `envelope` only on the open inbound direct connection whose remote address is
   * `address` (the reply path). `no_connection` when none is open, `queue_full` when its
   * reply queue is full; otherwise `pending`, and `ticket` reports `written` when the frame
   * is flushed or `connection_lost` when the connection closes before.
   */
  sendToAddress(address: string, envelope: Envelope, ticket: ReplyTicket): HubResult;
  /**
   * Writes `envelope` to the subscriber connections. With `envelope.directReceiver` set,
   * only the subscriber connection of that peer forwards it (`no_subscriber` if it has none).
   */
  broadcast(envelope: Envelope): HubResult;
}
