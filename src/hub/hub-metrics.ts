import type { Labels, Metrics } from '../metrics/types.js';
import { CONNECTION_KINDS, type ConnectionKind } from '../transport/types.js';

const SUBSCRIBER_QUEUE: Labels = { queue: 'subscribers' };
/** Distinct (label, mode) sets kept for sent bytes; others get a fresh object per call. */
const MAX_SENT_LABELS = 256;

/**
 * The hub's metric bookkeeping, with label objects built once: connection gauges by
 * kind and direction, sent bytes by label and mode, and the subscriber queue depth.
 */
export class HubMetrics {
  readonly #metrics: Metrics;
  readonly #labels = {
    inbound: new Map<ConnectionKind, Labels>(),
    outbound: new Map<ConnectionKind, Labels>(),
  };
  readonly #open = {
    inbound: { direct: 0, 'subscribe-node': 0, 'subscribe-proxy': 0 } as Record<ConnectionKind, number>,
    outbound: { direct: 0, 'subscribe-node': 0, 'subscribe-proxy': 0 } as Record<ConnectionKind, number>,
  };
  readonly #sentLabels = new Map<string, Labels>();

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
    for (const kind of CONNECTION_KINDS) {
      this.#labels.inbound.set(kind, { kind, direction: 'inbound' });
      this.#labels.outbound.set(kind, { kind, direction: 'outbound' });
    }
  }

  opened(kind: ConnectionKind, direction: 'inbound' | 'outbound'): void {
    const labels = this.#labels[direction].get(kind);
    this.#metrics.inc('peerpost_connections_opened_total', labels);
    this.#metrics.set('peerpost_connections', ++this.#open[direction][kind], labels);
  }

  closed(kind: ConnectionKind, direction: 'inbound' | 'outbound'): void {
    const labels = this.#labels[direction].get(kind);
    this.#metrics.set('peerpost_connections', --this.#open[direction][kind], labels);
  }

  sent(label: string, mode: 'direct' | 'broadcast', bytes: number): void {
    const key = mode === 'direct' ? `d:${label}` : `b:${label}`;
    let labels = this.#sentLabels.get(key);
    if (labels === undefined) {
      labels = { label, mode };
      if (this.#sentLabels.size < MAX_SENT_LABELS) this.#sentLabels.set(key, labels);
    }
    this.#metrics.inc('peerpost_sent_bytes_total', labels, bytes);
  }

  subscriberQueueDepth(depth: number): void {
    this.#metrics.set('peerpost_queue_depth', depth, SUBSCRIBER_QUEUE);
  }
}
