/**
 * The metrics interface the library reports through. It is injected and optional: the
 * default is a no-op, and the Prometheus binding (src/metrics/prometheus.ts) implements
 * it for `peerpost node`. Names and label sets are fixed in {@link METRICS}, so label
 * cardinality stays bounded.
 */
export type Labels = Readonly<Record<string, string>>;

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDef {
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly string[];
  /** Histogram buckets (seconds or bytes). */
  readonly buckets?: readonly number[];
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BYTES = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];

export const METRICS = {
  peerpost_phase_started_total: {
    type: 'counter',
    help: 'Messages that entered a delivery phase (OutgoingBuffer, OutgoingTransfer, IncomingTransfer, IncomingBuffer)',
    labels: ['phase', 'label', 'mode'],
  },
  peerpost_phase_finished_total: {
    type: 'counter',
    help: 'Messages that left a delivery phase',
    labels: ['phase', 'label', 'mode'],
  },
  peerpost_phase_duration_seconds: {
    type: 'histogram',
    help: 'Time spent in a delivery phase',
    labels: ['phase', 'label', 'mode'],
    buckets: SECONDS,
  },
  peerpost_sent_bytes_total: {
    type: 'counter',
    help: 'Frame bytes handed to the transport',
    labels: ['label', 'mode'],
  },
  peerpost_received_bytes_total: {
    type: 'counter',
    help: 'Frame bytes received',
    labels: ['label', 'mode'],
  },
  peerpost_message_size_bytes: {
    type: 'histogram',
    help: 'Payload size before (uncompressed) and after (compressed) compression',
    labels: ['stage'],
    buckets: BYTES,
  },
  peerpost_errors_total: {
    type: 'counter',
    help: 'Errors and warnings by kind (fwd_to_peer_lagged, fail_conn_to_peer, fail_deser_msg, ...)',
    labels: ['kind'],
  },
  peerpost_outcomes_total: {
    type: 'counter',
    help: 'Final outcome of each message per target: written, dropped or skipped, with the reason',
    labels: ['outcome', 'reason'],
  },
  peerpost_connections: {
    type: 'gauge',
    help: 'Open connections by kind and direction',
    labels: ['kind', 'direction'],
  },
  peerpost_connections_opened_total: {
    type: 'counter',
    help: 'Connections established by kind and direction',
    labels: ['kind', 'direction'],
  },
  peerpost_queue_depth: {
    type: 'gauge',
    help: 'Messages waiting in a queue (unresolved, peer_senders, subscribers, incoming)',
    labels: ['queue'],
  },
  peerpost_deduplicated_total: {
    type: 'counter',
    help: 'Incoming messages dropped as duplicates of a message id already delivered',
    labels: [],
  },
  peerpost_ack_unacknowledged_messages: {
    type: 'gauge',
    help: 'Acknowledged-delivery messages written and waiting for their acknowledgement (all peers)',
    labels: [],
  },
  peerpost_ack_unacknowledged_bytes: {
    type: 'gauge',
    help: 'Frame bytes of the messages waiting for their acknowledgement (all peers)',
    labels: [],
  },
  peerpost_ack_retransmits_total: {
    type: 'counter',
    help: 'Messages written again on a new connection because their acknowledgement had not come',
    labels: [],
  },
  peerpost_ack_latency_seconds: {
    type: 'histogram',
    help: "Time from a message's first write to its acknowledgement",
    labels: [],
    buckets: SECONDS,
  },
  peerpost_ack_duplicates_total: {
    type: 'counter',
    help: 'Retransmitted messages this node received again and did not deliver twice',
    labels: [],
  },
  peerpost_registry_connected: {
    type: 'gauge',
    help: 'Whether the etcd registry watches its prefix on top of a complete listing (1) or not (0: connecting, reconnecting, closed, or no registry)',
    labels: [],
  },
  peerpost_registry_registered: {
    type: 'gauge',
    help: "Whether this node's registry entry is written under a live etcd lease (1) or not (0)",
    labels: [],
  },
  peerpost_registry_revision: {
    type: 'gauge',
    help: 'The last etcd revision the registry has seen',
    labels: [],
  },
  peerpost_registry_entries: {
    type: 'gauge',
    help: "Valid registry entries held (this node's included)",
    labels: [],
  },
  peerpost_registry_watch_restarts_total: {
    type: 'counter',
    help: 'Listings of the registry prefix after the first one (after a lost or compacted watch)',
    labels: [],
  },
  peerpost_registry_reregistrations_total: {
    type: 'counter',
    help: 'etcd leases granted after the first one (after a lost lease)',
    labels: [],
  },
  peerpost_registry_ignored_entries_total: {
    type: 'counter',
    help: 'Registry entries ignored because they were malformed, too large, or beyond maxEntries',
    labels: [],
  },
  peerpost_registry_errors_total: {
    type: 'counter',
    help: 'Failed etcd operations of the registry by operation (list, watch, register, lease, apply)',
    labels: ['operation'],
  },
} as const satisfies Record<string, MetricDef>;

export type MetricName = keyof typeof METRICS;

export interface Metrics {
  inc(name: MetricName, labels?: Labels, value?: number): void;
  set(name: MetricName, value: number, labels?: Labels): void;
  observe(name: MetricName, value: number, labels?: Labels): void;
  /**
   * Optional: the series of counter `name` with `labels`, as a handle the hot path keeps
   * and increments with no lookup per call (see {@link counterOf}). An implementation
   * without it is called through {@link inc} instead.
   */
  counterSeries?(name: MetricName, labels?: Labels): CounterHandle;
  /** Optional: the series of histogram `name` with `labels`, as a handle (see {@link histogramOf}). */
  histogramSeries?(name: MetricName, labels?: Labels): HistogramHandle;
}

/** One series of a counter: `inc(n)` is `metrics.inc(name, labels, n)`. */
export interface CounterHandle {
  inc(value?: number): void;
}

/** One series of a histogram: `observe(v)` is `metrics.observe(name, v, labels)`. */
export interface HistogramHandle {
  observe(value: number): void;
  /**
   * Optional: `count` observations of `value` at once (what `count` calls of `observe(value)`
   * would record). The hot paths report runs of equal observations this way; a handle
   * without it gets `count` calls of `observe()` ({@link observeTimes}).
   */
  observeMany?(value: number, count: number): void;
}

/** `count` observations of `value` in `histogram`: one `observeMany()` call when it has one. */
export function observeTimes(histogram: HistogramHandle, value: number, count: number): void {
  if (histogram.observeMany !== undefined) histogram.observeMany(value, count);
  else for (let i = 0; i < count; i++) histogram.observe(value);
}

/** Metrics that cost nothing. */
export const noopMetrics: Metrics = {
  inc() {},
  set() {},
  observe() {},
};

/** A counter handle for a {@link Metrics} without {@link Metrics.counterSeries}: each call is an `inc()`. */
class ForwardingCounter implements CounterHandle {
  constructor(
    readonly metrics: Metrics,
    readonly name: MetricName,
    readonly labels: Labels | undefined,
  ) {}
  inc(value = 1): void {
    this.metrics.inc(this.name, this.labels, value);
  }
}

/** A histogram handle for a {@link Metrics} without {@link Metrics.histogramSeries}: each call is an `observe()`. */
class ForwardingHistogram implements HistogramHandle {
  constructor(
    readonly metrics: Metrics,
    readonly name: MetricName,
    readonly labels: Labels | undefined,
  ) {}
  observe(value: number): void {
    this.metrics.observe(this.name, value, this.labels);
  }
}

/**
 * The handle of counter `name` with `labels` in `metrics`: made once per label set by
 * the hot paths (the sender's accounting, the incoming reader), which then count with
 * one method call per message and no lookup. The Prometheus binding returns its series
 * itself (plain numbers read at scrape time); any other {@link Metrics} gets a handle
 * that forwards to `inc()`.
 */
export function counterOf(metrics: Metrics, name: MetricName, labels?: Labels): CounterHandle {
  return metrics.counterSeries?.(name, labels) ?? new ForwardingCounter(metrics, name, labels);
}

/** The handle of histogram `name` with `labels` in `metrics` (see {@link counterOf}). */
export function histogramOf(metrics: Metrics, name: MetricName, labels?: Labels): HistogramHandle {
  return metrics.histogramSeries?.(name, labels) ?? new ForwardingHistogram(metrics, name, labels);
}
