import { LabelRegistry, LabelSetCache } from '../metrics/labels.js';
import { type CounterHandle, counterOf, type Labels, type Metrics } from '../metrics/types.js';
import { CONNECTION_KINDS, type ConnectionKind } from '../transport/types.js';

const SUBSCRIBER_QUEUE: Labels = { queue: 'subscribers' };

/** `peerpost_sent_bytes_total` of one label, per mode, as handles made once. */
type SentSeries = Readonly<Record<'direct' | 'broadcast', CounterHandle>>;

function sentSeriesOf(metrics: Metrics, known: readonly string[]): LabelSetCache<SentSeries> {
  return new LabelSetCache<SentSeries>(LabelRegistry.knownOnly(known), (label) => ({
    direct: counterOf(metrics, 'peerpost_sent_bytes_total', { label, mode: 'direct' }),
    broadcast: counterOf(metrics, 'peerpost_sent_bytes_total', { label, mode: 'broadcast' }),
  }));
}

/**
 * The hub's metric bookkeeping, with label objects built once: connection gauges by
 * kind and direction, sent bytes by label and mode (known labels by name, the others as
 * `other`), and the subscriber queue depth.
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
  #sent: LabelSetCache<SentSeries>;

  constructor(metrics: Metrics, knownLabels: readonly string[] = []) {
    this.#metrics = metrics;
    this.#sent = sentSeriesOf(metrics, knownLabels);
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

  /** Replaces the labels reported by name (the others are `other` from now on). */
  setKnownLabels(known: readonly string[]): void {
    this.#sent = sentSeriesOf(this.#metrics, known);
  }

  sent(label: string, mode: 'direct' | 'broadcast', bytes: number): void {
    this.#sent.get(label)[mode].inc(bytes);
  }

  subscriberQueueDepth(depth: number): void {
    this.#metrics.set('peerpost_queue_depth', depth, SUBSCRIBER_QUEUE);
  }
}
