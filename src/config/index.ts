/** Configuration of `peerpost node`: YAML parsing with located errors, loading, diff and live reload. */
export { addressProblem, formatHostPort, type HostPort, parseHostPort } from './address.js';
export { type ConfigChange, diffConfig, liveConfig, RESTART_KEYS } from './diff.js';
export { ConfigError, type ConfigIssue, formatIssue } from './issues.js';
export { type LoadedNodeConfig, loadNodeConfig } from './load.js';
export { type NodeConfig, type ParseConfigOptions, parseNodeConfig, parseTopology } from './parse.js';
export {
  DEFAULT_LIMITS,
  DIRECT_SEND_MODES,
  type DirectSendMode,
  LOG_LEVELS,
  type LogLevel,
  type NodeLimits,
} from './schema.js';
export { ConfigWatcher, type ConfigWatcherOptions, type ReloadResult } from './watch.js';
