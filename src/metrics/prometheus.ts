import { inspect } from 'node:util';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { PeerpostError } from '../errors.js';
import {
  type CounterHandle,
  type HistogramHandle,
  type Labels,
  METRICS,
  type MetricDef,
  type MetricName,
  type Metrics,
  type MetricType,
} from './types.js';

export interface PrometheusMetricsOptions {
  /** Registry to register in (e.g. one shared with the application). @default a new Registry */
  registry?: Registry;
  /** Also collect prom-client's default process and Node.js metrics. @default false */
  collectDefault?: boolean;
}

/** {@link Metrics} backed by prom-client, with the text exposition for `/metrics`. */
export interface PrometheusMetrics extends Metrics {
  readonly registry: Registry;
  /** The exposition's Content-Type: `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string;
  /** The Prometheus text exposition of every registered metric. */
  metricsText(): Promise<string>;
}

const EMPTY: Labels = {};

/** The first bucket whose upper bound holds `value`, or -1 past the last one (only `count` grows then). */
function bucketOf(bounds: ArrayLike<number>, value: number): number {
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  return i < bounds.length ? i : -1;
}

/**
 * One label set of one metric: the plain numbers the hot path updates. Counters and
 * gauges use `value`; histograms `sum`, `count` and `buckets` (observations per bucket,
 * not cumulative; an observation above the last bound only counts in `count`). One class
 * for every type keeps the hot path's property accesses monomorphic.
 *
 * A series is also the handle `counterSeries()` / `histogramSeries()` give out ({@link CounterHandle},
 * {@link HistogramHandle}): a caller that keeps it counts with one method call and no
 * lookup. A series lives as long as its family: `registry.resetMetrics()` zeroes and hides
 * it (see {@link Family.clear}), so a handle kept across a reset still counts, and its
 * series shows again from its next update, as prom-client's would.
 */
class Series implements CounterHandle, HistogramHandle {
  value = 0;
  sum = 0;
  count = 0;
  /** In the exposition (`family.series`): updated since it was made or since the last reset. */
  shown = false;
  /** The last labels object that missed the identity cache for this series (see {@link Family}). */
  lastMiss: object | undefined;
  constructor(
    readonly family: Family,
    /**
     * The labels object the exposition shows (its key order is the text's): as in prom-client,
     * the first one seen with this content (since the last reset), or for a gauge the one of
     * the latest `set()`.
     */
    public labels: Labels,
    /** prom-client's hash of the label set (its key for the series). */
    readonly key: string,
    readonly buckets: Float64Array,
  ) {}

  /** A counter's increment (the handle of `counterSeries()`): validated like `inc()`. */
  inc(value = 1): void {
    if (!isCounterDelta(value)) throw badCounterValue(this.family.name, value);
    this.value += value;
    if (!this.shown) this.family.show(this, this.labels);
  }

  /** A histogram's observation (the handle of `histogramSeries()`): validated like `observe()`. */
  observe(value: number): void {
    if (!Number.isFinite(value)) throw notANumber(this.family.name, 'observe', value);
    const i = bucketOf(this.family.bounds, value);
    if (i >= 0) this.buckets[i]!++;
    this.sum += value;
    this.count++;
    if (!this.shown) this.family.show(this, this.labels);
  }

  /** `count` observations of `value` (a positive integer count), as `count` calls of observe(). */
  observeMany(value: number, count: number): void {
    if (!Number.isFinite(value)) throw notANumber(this.family.name, 'observe', value);
    const i = bucketOf(this.family.bounds, value);
    if (i >= 0) this.buckets[i]! += count;
    // Added one by one: the sum is then exactly what `count` observe() calls make.
    let sum = this.sum;
    for (let k = 0; k < count; k++) sum += value;
    this.sum = sum;
    this.count += count;
    if (!this.shown) this.family.show(this, this.labels);
  }
}

/** prom-client's internal per-series record of a histogram (`Histogram#hashMap` values). */
interface HistogramEntry {
  labels: Labels;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/** A level of {@link Family}'s index: label value (undefined if absent) to the next level or, last, the series. */
type Level = Map<string | undefined, unknown>;

/**
 * One metric, and where its label sets' {@link Series} are found:
 *
 * - By the identity of the labels object: callers cache their label objects (see
 *   src/sender/accounting.ts), so the hot path is one WeakMap lookup, with no string built,
 *   no validation and no allocation.
 * - On a miss, by content: the labels are validated and walked down a trie of label values
 *   (one level per declared label, in sorted name order; values are usually interned
 *   strings, so no string is built either). Equal content, whatever the object or its key
 *   order, reaches the same series.
 *
 * An object enters the identity cache the second time in a row it misses for its series,
 * so a caller that reuses an object pays the content path twice, while one that passes a
 * fresh literal every time does not churn the WeakMap (which costs more than the trie).
 * (Two objects of equal content used strictly alternately both stay on the content path,
 * which is still several times cheaper than prom-client's.)
 * Labels objects are `Readonly`: one mutated after use keeps counting into the series of
 * its first content.
 */
class Family {
  readonly #byObject = new WeakMap<object, Series>();
  readonly #root: Level = new Map();
  /** The series in the exposition, in first-seen order (since the last reset): prom-client's order. */
  series: Series[] = [];
  /** Every series ever made (a reset hides series, it does not forget them: handles stay valid). */
  readonly #all: Series[] = [];
  readonly #sortedLabelNames: readonly string[];

  constructor(
    readonly name: MetricName,
    readonly type: MetricType,
    readonly labelNames: readonly string[],
    /** Histogram bucket upper bounds, ascending; empty otherwise. */
    readonly bounds: Float64Array,
  ) {
    this.#sortedLabelNames = [...labelNames].sort();
    this.clear(true);
  }

  /**
   * Empties the exposition (prom-client's `reset()`): every series goes to zero and out of
   * the text until it is updated again; a counter or gauge without labels keeps its one,
   * at zero; a histogram without labels has its one at first, and none after a reset
   * until it is observed again (as prom-client's).
   */
  clear(initial = false): void {
    this.series = [];
    for (const s of this.#all) {
      s.value = 0;
      s.sum = 0;
      s.count = 0;
      s.buckets.fill(0);
      s.shown = false;
    }
    if (this.labelNames.length === 0 && (initial || this.type !== 'histogram')) {
      const series = this.#find(EMPTY);
      this.#byObject.set(EMPTY, series);
      this.show(series, EMPTY);
    }
  }

  /**
   * The series of `labels` as a handle, validated and made if new but not shown: like
   * prom-client's `labels()`, taking a handle puts nothing in the exposition; the first
   * update does.
   */
  handle(labels: Labels, call: string): Series {
    return this.#byObject.get(labels) ?? this.#miss(labels, call);
  }

  /** Puts `series` (hidden) into the exposition, after the ones shown before it, with `labels`. */
  show(series: Series, labels: Labels): void {
    series.shown = true;
    series.labels = labels;
    this.series.push(series);
  }

  /** The series of `labels`, shown: O(1) and allocation-free for a labels object seen before. */
  slot(labels: Labels, call: string): Series {
    const series = this.#byObject.get(labels) ?? this.#miss(labels, call);
    if (!series.shown) this.show(series, labels);
    return series;
  }

  #miss(labels: Labels, call: string): Series {
    if (typeof labels !== 'object' || labels === null) {
      throw misuse(this.name, call, new TypeError(`labels must be an object: ${inspect(labels)}`));
    }
    for (const label in labels) {
      if (!this.labelNames.includes(label)) {
        throw misuse(
          this.name,
          call,
          new Error(
            `Added label "${label}" is not included in initial labelset: ${inspect(this.labelNames)}`,
          ),
        );
      }
    }
    const series = this.#find(labels);
    if (series.lastMiss === labels) this.#byObject.set(labels, series);
    else series.lastMiss = labels;
    return series;
  }

  /** The series of validated `labels` by content, created (hidden, with `labels` as its exposed object) if new. */
  #find(labels: Labels): Series {
    const names = this.#sortedLabelNames;
    const last = names.length - 1;
    let level = this.#root;
    for (let i = 0; i < last; i++) {
      const value = labelValue(labels[names[i]!]);
      let next = level.get(value) as Level | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(value, next);
      }
      level = next;
    }
    const value = last < 0 ? undefined : labelValue(labels[names[last]!]);
    let series = level.get(value) as Series | undefined;
    if (series === undefined) {
      // prom-client's hash: `name:value,` per present label, names sorted.
      let key = '';
      for (const name of names) {
        const v = labelValue(labels[name]);
        if (v !== undefined) key += `${name}:${v},`;
      }
      series = new Series(this, labels, key, new Float64Array(this.bounds.length));
      level.set(value, series);
      this.#all.push(series);
    }
    return series;
  }
}

/** A label value as prom-client keyed it: absent if undefined, else its string form. */
function labelValue(value: unknown): string | undefined {
  return typeof value === 'string' || value === undefined ? value : `${value}`;
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

/** What a counter may be increased by: a finite number, 0 or more. */
function isCounterDelta(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value !== Number.POSITIVE_INFINITY;
}

function badCounterValue(name: string, value: unknown): PeerpostError {
  const err =
    typeof value === 'number' && value < 0
      ? new Error('It is not possible to decrease a counter')
      : new TypeError(`Value is not a valid number: ${inspect(value)}`);
  return misuse(name, 'inc', err);
}

function notANumber(name: string, call: string, value: unknown): PeerpostError {
  return misuse(name, call, new TypeError(`Value is not a valid number: ${inspect(value)}`));
}

/**
 * Registers the prom-client metric of `family`, whose `collect()` copies the plain numbers
 * in at scrape time (any read of the registry: `metrics()`, `getMetricsAsJSON()`, ...).
 * Counters and gauges go through prom-client's public API (reset, then one inc/set per
 * series, in first-seen order). Histograms have no public way to set bucket counts, so
 * their per-series records are written directly, in prom-client's own shape
 * ({@link HistogramEntry}); test/metrics/hot-path.test.ts compares the result with
 * prom-client fed call by call, so a prom-client that changes this shape fails there.
 */
function register(family: Family, def: MetricDef, registry: Registry): void {
  const base = { name: family.name, help: def.help, labelNames: [...def.labels], registers: [registry] };
  const metric = create(family, def, base);
  // `registry.resetMetrics()` resets the plain numbers too, as it reset prom-client's before.
  const reset = Object.getPrototypeOf(metric).reset as () => void;
  metric.reset = () => {
    family.clear();
    reset.call(metric);
  };
}

interface Base {
  name: string;
  help: string;
  labelNames: string[];
  registers: Registry[];
}

function create(
  family: Family,
  def: MetricDef,
  base: Base,
): Counter<string> | Gauge<string> | Histogram<string> {
  switch (def.type) {
    case 'counter':
      return new Counter({
        ...base,
        collect() {
          Counter.prototype.reset.call(this);
          for (const s of family.series) this.inc(s.labels, s.value);
        },
      });
    case 'gauge':
      return new Gauge({
        ...base,
        collect() {
          Gauge.prototype.reset.call(this);
          for (const s of family.series) this.set(s.labels, s.value);
        },
      });
    case 'histogram': {
      const bounds = family.bounds;
      const histogram = new Histogram({
        ...base,
        buckets: [...bounds],
        collect() {
          const entries: Record<string, HistogramEntry> = {};
          family.series.forEach((s, n) => {
            const bucketValues: Record<string, number> = {};
            for (let i = 0; i < bounds.length; i++) bucketValues[bounds[i]!] = s.buckets[i]!;
            // prom-client's hash can collide (values containing `,name:`); the series stay apart here.
            const key = Object.hasOwn(entries, s.key) ? `${s.key}#${n}` : s.key;
            entries[key] = { labels: s.labels, bucketValues, sum: s.sum, count: s.count };
          });
          (this as unknown as { hashMap: Record<string, HistogramEntry> }).hashMap = entries;
        },
      });
      const internals = histogram as unknown as { hashMap?: unknown; upperBounds?: unknown };
      if (typeof internals.hashMap !== 'object' || !Array.isArray(internals.upperBounds)) {
        throw new Error('prom-client Histogram internals changed: update src/metrics/prometheus.ts');
      }
      return histogram;
    }
  }
}

/**
 * Creates every metric of {@link METRICS} up front (so a scrape shows all of them, at
 * zero, from the start) and returns a {@link Metrics} that updates them. Only the
 * declared label names are accepted; `label` values must already be bounded by the
 * caller ({@link LabelRegistry}). Misuse (a wrong call for the type, an undeclared
 * label, a counter decrement, a value that is not a finite number) throws
 * `ERR_INVALID_OPTION`.
 *
 * The hot path counts in plain numbers (see {@link Family}); prom-client sees them only
 * when the registry is read, through each metric's `collect()`. The exposition is the one
 * prom-client produced when it was updated call by call. Metrics are meant to be updated
 * through this object only: a direct update of the registered prom-client metric is
 * overwritten at the next scrape.
 */
export function createPrometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const registry = options.registry ?? new Registry();
  if (options.collectDefault === true) collectDefaultMetrics({ register: registry });
  const families = new Map<string, Family>();
  for (const [name, def] of Object.entries(METRICS) as [MetricName, MetricDef][]) {
    const family = new Family(name, def.type, def.labels, Float64Array.from(def.buckets ?? []));
    register(family, def, registry);
    families.set(name, family);
  }

  return {
    registry,
    contentType: registry.contentType,
    inc(name, labels = EMPTY, value = 1) {
      const f = families.get(name);
      if (f === undefined) throw misuse(name, 'inc');
      if (f.type === 'counter') {
        // Checked before slot(), which would show the series: misuse leaves none behind.
        if (!isCounterDelta(value)) throw badCounterValue(name, value);
      } else if (f.type === 'gauge') {
        if (typeof value !== 'number')
          throw misuse(name, 'inc', new TypeError(`Delta is not a valid number: ${inspect(value)}`));
      } else throw misuse(name, 'inc');
      f.slot(labels, 'inc').value += value;
    },
    set(name, value, labels = EMPTY) {
      const f = families.get(name);
      if (f === undefined || f.type !== 'gauge') throw misuse(name, 'set');
      if (typeof value !== 'number') throw notANumber(name, 'set', value);
      const s = f.slot(labels, 'set');
      s.value = value;
      s.labels = labels;
    },
    observe(name, value, labels = EMPTY) {
      const f = families.get(name);
      if (f === undefined || f.type !== 'histogram') throw misuse(name, 'observe');
      if (!Number.isFinite(value)) throw notANumber(name, 'observe', value);
      f.slot(labels, 'observe').observe(value);
    },
    counterSeries(name, labels = EMPTY) {
      const f = families.get(name);
      if (f === undefined || f.type !== 'counter') throw misuse(name, 'counterSeries');
      return f.handle(labels, 'counterSeries');
    },
    histogramSeries(name, labels = EMPTY) {
      const f = families.get(name);
      if (f === undefined || f.type !== 'histogram') throw misuse(name, 'histogramSeries');
      return f.handle(labels, 'histogramSeries');
    },
    metricsText() {
      return registry.metrics();
    },
  };
}
