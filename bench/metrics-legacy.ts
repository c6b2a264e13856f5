/**
 * The Prometheus binding as it was before issue 16 (every call goes straight to
 * prom-client: a label hash string per call, validation, a hash-map lookup). Kept only as
 * the baseline for bench/metrics-hot-path.ts and the exposition-equivalence tests in
 * test/metrics/hot-path.test.ts; the library uses src/metrics/prometheus.ts.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { PeerpostError } from '../src/errors.js';
import { type Labels, METRICS, type MetricDef, type MetricName, type Metrics } from '../src/metrics/types.js';

interface PrometheusMetricsOptions {
  /** Registry to register in (e.g. one shared with the application). @default a new Registry */
  registry?: Registry;
  /** Also collect prom-client's default process and Node.js metrics. @default false */
  collectDefault?: boolean;
}

/** {@link Metrics} backed by prom-client, with the text exposition for `/metrics`. */
export interface LegacyPrometheusMetrics extends Metrics {
  readonly registry: Registry;
  /** The exposition's Content-Type: `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string;
  /** The Prometheus text exposition of every registered metric. */
  metricsText(): Promise<string>;
}

type Entry =
  | { readonly type: 'counter'; readonly metric: Counter<string> }
  | { readonly type: 'gauge'; readonly metric: Gauge<string> }
  | { readonly type: 'histogram'; readonly metric: Histogram<string> };

const EMPTY: Labels = {};

function create(name: string, def: MetricDef, registry: Registry): Entry {
  const base = { name, help: def.help, labelNames: [...def.labels], registers: [registry] };
  switch (def.type) {
    case 'counter':
      return { type: 'counter', metric: new Counter(base) };
    case 'gauge':
      return { type: 'gauge', metric: new Gauge(base) };
    case 'histogram':
      return { type: 'histogram', metric: new Histogram({ ...base, buckets: [...(def.buckets ?? [])] }) };
  }
}

function misuse(name: string, call: string, err?: unknown): PeerpostError {
  const why =
    err === undefined
      ? `${call}() does not apply to a ${METRICS[name as MetricName]?.type ?? 'unknown'}`
      : String((err as Error).message ?? err);
  return new PeerpostError(
    'ERR_INVALID_OPTION',
    `metric ${name}: ${why}`,
    err === undefined ? {} : { cause: err },
  );
}

/**
 * Creates every metric of {@link METRICS} up front (so a scrape shows all of them, at
 * zero, from the start) and returns a {@link Metrics} that updates them. Only the
 * declared label names are accepted; `label` values must already be bounded by the
 * caller ({@link LabelRegistry}). Misuse (a wrong call for the type, an undeclared
 * label) throws `ERR_INVALID_OPTION`.
 */
export function createLegacyPrometheusMetrics(
  options: PrometheusMetricsOptions = {},
): LegacyPrometheusMetrics {
  const registry = options.registry ?? new Registry();
  if (options.collectDefault === true) collectDefaultMetrics({ register: registry });
  const entries = new Map<string, Entry>();
  for (const [name, def] of Object.entries(METRICS) as [MetricName, MetricDef][]) {
    entries.set(name, create(name, def, registry));
  }
  const entry = (name: MetricName, call: string): Entry => {
    const e = entries.get(name);
    if (e === undefined) throw misuse(name, call);
    return e;
  };

  return {
    registry,
    contentType: registry.contentType,
    inc(name, labels = EMPTY, value = 1) {
      const e = entry(name, 'inc');
      try {
        if (e.type === 'counter') e.metric.inc(labels, value);
        else if (e.type === 'gauge') e.metric.inc(labels, value);
        else throw misuse(name, 'inc');
      } catch (err) {
        throw err instanceof PeerpostError ? err : misuse(name, 'inc', err);
      }
    },
    set(name, value, labels = EMPTY) {
      const e = entry(name, 'set');
      if (e.type !== 'gauge') throw misuse(name, 'set');
      try {
        e.metric.set(labels, value);
      } catch (err) {
        throw misuse(name, 'set', err);
      }
    },
    observe(name, value, labels = EMPTY) {
      const e = entry(name, 'observe');
      if (e.type !== 'histogram') throw misuse(name, 'observe');
      try {
        e.metric.observe(labels, value);
      } catch (err) {
        throw misuse(name, 'observe', err);
      }
    },
    metricsText() {
      return registry.metrics();
    },
  };
}
