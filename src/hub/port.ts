import type { Envelope } from '../wire/envelope.js';

/** Result of handing a message to the hub, for the sender's outcome accounting. */
export type HubResult = 'written' | 'no_connection' | 'no_subscriber' | 'queue_full';

/**
 * What the direct sender needs from the connection hub (the hub implements it; tests use
 * a double). Both calls are synchronous and never throw for a missing connection.
 */
export interface HubPort {
  /**
   * Writes `envelope` only on the open inbound direct connection whose remote address is
   * `address` (the reply path). `no_connection` when none is open.
   */
  sendToAddress(address: string, envelope: Envelope): HubResult;
  /**
   * Writes `envelope` to the subscriber connections. With `envelope.directReceiver` set,
   * only the subscriber connection of that peer forwards it (`no_subscriber` if it has none).
   */
  broadcast(envelope: Envelope): HubResult;
}
