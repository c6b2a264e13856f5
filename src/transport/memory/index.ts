export { MemoryNetwork } from './network.js';
export type {
  LatencySpec,
  LinkOptions,
  MemoryEvent,
  MemoryIdentityInit,
  MemoryNetworkOptions,
  MemoryTransportOptions,
} from './options.js';
export { MemoryListener, MemoryTransport } from './transport.js';
