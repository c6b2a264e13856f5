/** peerpost: direct peer-to-peer messaging over mutual TLS. The public API. */
export {
  type AdminServer,
  type AdminServerOptions,
  METRICS_CONTENT_TYPE,
  startAdminServer,
} from './admin/server.js';
export {
  type ConfigChange,
  ConfigError,
  type ConfigIssue,
  ConfigWatcher,
  type ConfigWatcherOptions,
  type DirectSendMode,
  diffConfig,
  formatIssue,
  type LoadedNodeConfig,
  loadNodeConfig,
  type NodeConfig,
  type NodeLimits,
  type ParseConfigOptions,
  parseNodeConfig,
  parseTopology,
  type ReloadResult,
} from './config/index.js';
export { ERROR_CODES, type ErrorCode, isPeerpostError, PeerpostError } from './errors.js';
export type {
  HubLimits,
  HubStats,
  InboundConnectionStats,
  SubscriptionState,
  SubscriptionStats,
} from './hub/index.js';
export * from './identity/index.js';
export { ERROR_KINDS, type ErrorKind } from './metrics/error-kinds.js';
export { LabelRegistry, OTHER_LABEL } from './metrics/labels.js';
export {
  createPrometheusMetrics,
  type PrometheusMetrics,
  type PrometheusMetricsOptions,
} from './metrics/prometheus.js';
export {
  type CounterHandle,
  counterOf,
  type HistogramHandle,
  histogramOf,
  type Labels,
  METRICS,
  type MetricName,
  type Metrics,
  noopMetrics,
} from './metrics/types.js';
export * from './network/index.js';
export { type DropRecord, DropRing, type DropSummary } from './node/drops.js';
export { type ReceivedReply, type SendOnceOptions, type SendOnceResult, sendOnce } from './node/send-once.js';
export { HEARTBEAT_LABEL, NodeService, type NodeServiceOptions, startNodeService } from './node/service.js';
export type { NodeStatus, PeerAddressStatus, PeerStatus } from './node/status.js';
export { formatStatus } from './node/status-text.js';
export * from './registry/index.js';
export type { BackoffConfig, DirectSenderConfig } from './sender/config.js';
export { type CloseOptions, DirectSender, type DirectSenderOptions } from './sender/direct-sender.js';
export {
  DROP_REASONS,
  type DropReason,
  formatOutcome,
  type Outcome,
  type OutcomeEvent,
  type OutcomeListener,
  type SendMode,
  SKIP_REASONS,
  type SkipReason,
  UNACKNOWLEDGED_DETAILS,
  type UnacknowledgedDetail,
} from './sender/outcome.js';
export {
  PeerSender,
  type PeerSenderFactory,
  type PeerSenderInit,
  type PeerSenderLike,
  type SenderState,
  type StopReason,
} from './sender/peer-sender.js';
export { addr, type DirectReceiver, formatReceiver, peer, peerInfo } from './sender/receiver.js';
export type { DirectSenderStats, SenderStats } from './sender/stats.js';
export type { PeerAddress, PeerIdentities, Topology } from './topology/types.js';
export { DEFAULT_LIMITS } from './transport/limits.js';
export { StreamConnection } from './transport/stream-connection.js';
export * from './transport/tls/index.js';
export type {
  CloseReason,
  Connection,
  ConnectionHandler,
  ConnectionKind,
  ConnectOptions,
  ExpectedIdentity,
  Listener,
  ListenOptions,
  RemoteIdentity,
  Transport,
  TransportLimits,
} from './transport/types.js';
export { ALPN_BY_KIND, CONNECTION_KINDS } from './transport/types.js';
export { type Clock, systemClock, type TimerHandle } from './util/clock.js';
export { type CreateLoggerOptions, createLogger, type LoggerLevel } from './util/log.js';
export { type Logger, noopLogger } from './util/logger.js';
export { type Random, seededRandom } from './util/random.js';
export * from './wire/index.js';
