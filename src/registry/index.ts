/** Membership on etcd v3: nodes register themselves and discover each other (see docs/registry.md). */

export {
  ENTRY_VERSION,
  MAX_ENTRY_ADDRESSES,
  MAX_ENTRY_BYTES,
  MAX_PEER_ID_BYTES,
  mergeTopology,
  type RegistryEntry,
} from './entry.js';
export {
  EtcdRegistry,
  type EtcdRegistryOptions,
  type EtcdRegistryStats,
  type EtcdTlsOptions,
  type RegistryNetwork,
  type RegistryState,
  startEtcdRegistry,
} from './etcd.js';
export { type ListedEntry, type ReadRegistryOptions, type RegistryListing, readRegistry } from './read.js';
