export { type DedupOptions, DedupWindow } from './dedup.js';
export type { IncomingMessage, IncomingSink, MessageSource } from './incoming.js';
export {
  createNetwork,
  Network,
  type NetworkConfigUpdate,
  NetworkMessage,
  type NetworkStats,
  type SubscribeOptions,
} from './network.js';
export type { NetworkLimits, NetworkOptions, TopologyInput } from './options.js';
