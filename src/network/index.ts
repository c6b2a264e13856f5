export { type DedupOptions, DedupWindow } from './dedup.js';
export { BROADCAST_MARK, broadcastSeqOf, type Gap, MAX_TRACKED_PUBLISHERS } from './gaps.js';
export type { IncomingMessage, IncomingSink, MessageSource } from './incoming.js';
export {
  createNetwork,
  type ErrorContext,
  Network,
  type NetworkConfigUpdate,
  NetworkMessage,
  type NetworkStats,
  type PeerEvent,
  type RequestOptions,
  type SendOptions,
  type SubscribeOptions,
} from './network.js';
export type { NetworkLimits, NetworkOptions, TopologyInput } from './options.js';
export {
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_PENDING_REQUESTS,
  REPLY_MARK,
  replyIdOf,
  requestIdOf,
} from './requests.js';
