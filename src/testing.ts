/** Test helpers for applications built on peerpost: `import { ... } from 'peerpost/testing'`. */

export {
  type LatencySpec,
  type LinkOptions,
  type MemoryEvent,
  type MemoryIdentityInit,
  MemoryListener,
  MemoryNetwork,
  type MemoryNetworkOptions,
  MemoryTransport,
  type MemoryTransportOptions,
} from './transport/memory/index.js';
export { FakeClock, settle } from './util/fake-clock.js';
