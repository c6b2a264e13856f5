export { ConnectionHub, type ConnectionHubOptions } from './hub.js';
export { IdentityIndex } from './identify.js';
export { type IncomingMode, IncomingReader, type IncomingReaderDeps } from './incoming-reader.js';
export { DEFAULT_HUB_LIMITS, type HubLimits, type ResolvedHubLimits, resolveHubLimits } from './options.js';
export type { HubPort, HubResult } from './port.js';
export type { HubStats, InboundConnectionStats } from './stats.js';
export {
  Subscription,
  type SubscriptionBackoff,
  type SubscriptionOptions,
  type SubscriptionState,
  type SubscriptionStats,
} from './subscription.js';
