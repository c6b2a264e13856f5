// The plain-number Prometheus binding (issue 16) exposes exactly what the binding that
// called prom-client on every update did: same series, values, buckets, sums, label order
// and series order, for the same calls, at every scrape.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { createLegacyPrometheusMetrics } from '../../bench/metrics-legacy.js';
import { isPeerpostError } from '../../src/errors.js';
import { createPrometheusMetrics } from '../../src/metrics/prometheus.js';
import {
  counterOf,
  histogramOf,
  type Labels,
  METRICS,
  type MetricName,
  type Metrics,
  observeTimes,
} from '../../src/metrics/types.js';

type Pair = {
  readonly old: ReturnType<typeof createLegacyPrometheusMetrics>;
  readonly now: ReturnType<typeof createPrometheusMetrics>;
};

/** prom-client's typings omit the constructor's content-type argument. */
const RegistryOf = Registry as unknown as new (contentType?: string) => Registry;

function pair(contentType?: string): Pair {
  return {
    old: createLegacyPrometheusMetrics({ registry: new RegistryOf(contentType) }),
    now: createPrometheusMetrics({ registry: new RegistryOf(contentType) }),
  };
}

/** Applies `call` to both; both must succeed, or both fail with ERR_INVALID_OPTION. */
function both(p: Pair, call: (m: Metrics) => void): void {
  let oldErr: unknown;
  let nowErr: unknown;
  try {
    call(p.old);
  } catch (err) {
    oldErr = err;
  }
  try {
    call(p.now);
  } catch (err) {
    nowErr = err;
  }
  assert.equal(nowErr === undefined, oldErr === undefined, `old threw ${oldErr}, new threw ${nowErr}`);
  if (nowErr !== undefined) {
    assert.ok(isPeerpostError(nowErr, 'ERR_INVALID_OPTION'), String(nowErr));
    assert.ok(isPeerpostError(oldErr, 'ERR_INVALID_OPTION'), String(oldErr));
  }
}

async function assertSameExposition(p: Pair): Promise<string> {
  const [oldText, nowText] = await Promise.all([p.old.metricsText(), p.now.metricsText()]);
  assert.equal(nowText, oldText);
  // Through JSON text: a counter incremented by -0 alone held -0 in prom-client, 0 now (the text shows 0 for both).
  assert.equal(
    JSON.stringify(await p.now.registry.getMetricsAsJSON()),
    JSON.stringify(await p.old.registry.getMetricsAsJSON()),
  );
  return nowText;
}

const PHASE_BUFFER = { phase: 'OutgoingBuffer', label: 'chat', mode: 'direct' } as const;
const PHASE_TRANSFER = { phase: 'OutgoingTransfer', label: 'chat', mode: 'direct' } as const;
const BYTES = { label: 'chat', mode: 'direct' } as const;
const OUTCOME = { outcome: 'written', reason: '' } as const;

test('the same calls give the same exposition: cached, fresh and reordered label objects', async () => {
  const p = pair();
  for (let i = 0; i < 1000; i++) {
    both(p, (m) => {
      // Cached objects, as src/sender/accounting.ts passes them.
      m.inc('peerpost_phase_started_total', PHASE_BUFFER);
      m.inc('peerpost_phase_finished_total', PHASE_BUFFER);
      m.observe('peerpost_phase_duration_seconds', (i % 37) * 0.0007 + 0.1 * (i % 3), PHASE_BUFFER);
      m.inc('peerpost_phase_started_total', PHASE_TRANSFER);
      m.inc('peerpost_sent_bytes_total', BYTES, 64 + (i % 5));
      m.inc('peerpost_outcomes_total', OUTCOME);
      // Fresh objects with equal content (one with its keys in another order) land in the same series.
      m.inc('peerpost_phase_finished_total', { mode: 'direct', label: 'chat', phase: 'OutgoingTransfer' });
      m.inc('peerpost_sent_bytes_total', { label: 'chat', mode: 'direct' }, 0.5);
      m.observe('peerpost_message_size_bytes', i * 997, { stage: i % 2 ? 'compressed' : 'uncompressed' });
    });
  }
  both(p, (m) => {
    // Bounds exactly, above the last bound, zero and negative observations.
    for (const v of [0.0005, 0.001, 30, 30.000001, 1e9, 0, -1]) {
      m.observe('peerpost_phase_duration_seconds', v, {
        phase: 'IncomingBuffer',
        label: 'x',
        mode: 'broadcast',
      });
    }
    m.inc('peerpost_errors_total', { kind: 'fail_conn_to_peer' }, 2);
    m.inc('peerpost_errors_total', { kind: 'fail_conn_to_peer' });
    // A non-string value is keyed by its string form, as prom-client did.
    m.inc('peerpost_errors_total', { kind: 7 as unknown as string });
    m.inc('peerpost_errors_total', { kind: '7' });
    m.inc('peerpost_deduplicated_total');
    m.inc('peerpost_deduplicated_total', {}, 4);
    m.inc('peerpost_connections_opened_total', { kind: 'direct', direction: 'outbound' }, 0);
    // Gauges: set and inc, a partial label set, NaN passes as it did.
    m.set('peerpost_connections', 5, { kind: 'direct', direction: 'outbound' });
    m.inc('peerpost_connections', { direction: 'outbound', kind: 'direct' }, -2);
    m.inc('peerpost_connections', { kind: 'hub' });
    m.set('peerpost_queue_depth', 7, { queue: 'unresolved' });
    m.set('peerpost_queue_depth', 3, { queue: 'unresolved' });
    m.set('peerpost_queue_depth', Number.NaN, { queue: 'incoming' });
  });
  const text = await assertSameExposition(p);
  assert.match(
    text,
    /^peerpost_phase_started_total\{phase="OutgoingBuffer",label="chat",mode="direct"\} 1000$/m,
  );
  assert.match(
    text,
    // The first labels object of a series sets its label order, as with prom-client.
    /^peerpost_phase_finished_total\{mode="direct",label="chat",phase="OutgoingTransfer"\} 1000$/m,
  );
  assert.match(text, /^peerpost_sent_bytes_total\{label="chat",mode="direct"\} 66500$/m);
  assert.match(
    text,
    /^peerpost_phase_duration_seconds_count\{phase="OutgoingBuffer",label="chat",mode="direct"\} 1000$/m,
  );
  assert.match(
    text,
    /^peerpost_phase_duration_seconds_bucket\{le="0\.0005",phase="IncomingBuffer",label="x",mode="broadcast"\} 3$/m,
  );
  assert.match(
    text,
    /^peerpost_phase_duration_seconds_bucket\{le="30",phase="IncomingBuffer",label="x",mode="broadcast"\} 5$/m,
  );
  assert.match(
    text,
    /^peerpost_phase_duration_seconds_bucket\{le="\+Inf",phase="IncomingBuffer",label="x",mode="broadcast"\} 7$/m,
  );
  assert.match(text, /^peerpost_connections\{kind="direct",direction="outbound"\} 3$/m);
  assert.match(text, /^peerpost_queue_depth\{queue="unresolved"\} 3$/m);
  assert.match(text, /^peerpost_deduplicated_total 5$/m);
});

test('counters grow monotonically across scrapes, and every scrape matches', async () => {
  const p = pair();
  const scrapes: number[] = [];
  for (let round = 0; round < 5; round++) {
    both(p, (m) => {
      for (let i = 0; i < 100 * (round + 1); i++) {
        m.inc('peerpost_phase_started_total', PHASE_BUFFER);
        m.observe('peerpost_phase_duration_seconds', 0.002, PHASE_BUFFER);
      }
      if (round >= 2) m.inc('peerpost_errors_total', { kind: `k${round}` });
    });
    const text = await assertSameExposition(p);
    const started =
      /^peerpost_phase_started_total\{phase="OutgoingBuffer",label="chat",mode="direct"\} (\d+)$/m.exec(text);
    assert.ok(started);
    scrapes.push(Number(started[1]));
    // A second scrape with no update in between shows the same numbers.
    assert.equal(await p.now.metricsText(), text);
  }
  assert.deepEqual(scrapes, [100, 300, 600, 1000, 1500]);
});

test('registry.resetMetrics() resets the plain numbers as it reset prom-client', async () => {
  const p = pair();
  both(p, (m) => {
    m.inc('peerpost_deduplicated_total', undefined, 3);
    m.inc('peerpost_errors_total', { kind: 'a' });
    m.observe('peerpost_message_size_bytes', 100, { stage: 'compressed' });
    m.set('peerpost_queue_depth', 2, { queue: 'incoming' });
  });
  await assertSameExposition(p);
  p.old.registry.resetMetrics();
  p.now.registry.resetMetrics();
  await assertSameExposition(p);
  both(p, (m) => {
    m.inc('peerpost_errors_total', { kind: 'b' });
    m.inc('peerpost_deduplicated_total');
  });
  const text = await assertSameExposition(p);
  assert.match(text, /^peerpost_deduplicated_total 1$/m);
  assert.doesNotMatch(text, /kind="a"/);
});

test('series handles (counterOf, histogramOf) count as inc() and observe() do, across resets', async () => {
  const p = pair();
  // The binding hands out its series; any other Metrics (here the legacy one) gets a forwarding handle.
  assert.equal(typeof p.now.counterSeries, 'function');
  assert.equal(typeof p.now.histogramSeries, 'function');
  const handles = (m: Metrics) => ({
    started: counterOf(m, 'peerpost_phase_started_total', PHASE_BUFFER),
    seconds: histogramOf(m, 'peerpost_phase_duration_seconds', { ...PHASE_BUFFER }),
    bytes: counterOf(m, 'peerpost_sent_bytes_total', BYTES),
  });
  const h = { old: handles(p.old), now: handles(p.now) };
  // Taking a handle puts nothing in the exposition; the first update does.
  let text = await assertSameExposition(p);
  assert.doesNotMatch(text, /label="chat"/);
  const update = (which: 'old' | 'now', round: number) => {
    const m = p[which];
    const x = h[which];
    x.started.inc();
    m.inc('peerpost_phase_started_total', { mode: 'direct', label: 'chat', phase: 'OutgoingBuffer' });
    x.seconds.observe(0.003 * round);
    m.observe('peerpost_phase_duration_seconds', 0.2, PHASE_BUFFER);
    x.bytes.inc(100 + round);
    m.inc('peerpost_outcomes_total', OUTCOME);
  };
  for (let round = 0; round < 5; round++) {
    update('old', round);
    update('now', round);
  }
  text = await assertSameExposition(p);
  assert.match(
    text,
    /^peerpost_phase_started_total\{phase="OutgoingBuffer",label="chat",mode="direct"\} 10$/m,
  );
  assert.match(text, /^peerpost_sent_bytes_total\{label="chat",mode="direct"\} 510$/m);
  assert.match(
    text,
    /^peerpost_phase_duration_seconds_count\{phase="OutgoingBuffer",label="chat",mode="direct"\} 10$/m,
  );

  // After a reset a kept handle still counts, and its series comes back in update order.
  p.old.registry.resetMetrics();
  p.now.registry.resetMetrics();
  text = await assertSameExposition(p);
  assert.doesNotMatch(text, /label="chat"/);
  both(p, (m) => m.inc('peerpost_outcomes_total', OUTCOME));
  h.old.bytes.inc(7);
  h.now.bytes.inc(7);
  h.old.seconds.observe(0.5);
  h.now.seconds.observe(0.5);
  text = await assertSameExposition(p);
  assert.match(text, /^peerpost_sent_bytes_total\{label="chat",mode="direct"\} 7$/m);
  assert.doesNotMatch(text, /^peerpost_phase_started_total\{/m);

  // Misuse through a handle fails as the call would, and changes nothing.
  for (const m of [p.old, p.now]) {
    assert.throws(
      () => counterOf(m, 'peerpost_phase_duration_seconds', PHASE_BUFFER).inc(),
      (err) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
    );
  }
  assert.throws(
    () => p.now.counterSeries?.('peerpost_phase_duration_seconds'),
    (err) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
  );
  assert.throws(
    () => p.now.histogramSeries?.('peerpost_outcomes_total'),
    (err) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
  );
  assert.throws(
    () => counterOf(p.now, 'peerpost_errors_total', { nope: 'x' }),
    (err) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
  );
  for (const which of ['old', 'now'] as const) {
    assert.throws(
      () => h[which].bytes.inc(-1),
      (err) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
    );
    assert.throws(
      () => h[which].seconds.observe(Number.NaN),
      (err) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
    );
  }
  await assertSameExposition(p);
});

test('observeTimes(handle, v, n) records what n observe(v) calls do, with or without observeMany', async () => {
  const p = pair();
  const seconds = (m: Metrics) => histogramOf(m, 'peerpost_phase_duration_seconds', PHASE_BUFFER);
  const now = seconds(p.now);
  const old = seconds(p.old);
  // The binding's handle has observeMany; the legacy (forwarding) one does not.
  assert.equal(typeof now.observeMany, 'function');
  assert.equal(old.observeMany, undefined);
  // Values whose repeated sums are not exact in binary (0.1 + 0.1 + 0.1 !== 0.3).
  for (const [value, count] of [
    [0.1, 3],
    [0.0007, 11],
    [0, 40],
    [2.5, 1],
    [1e6, 2],
  ] as const) {
    observeTimes(now, value, count);
    observeTimes(old, value, count);
  }
  const text = await assertSameExposition(p);
  assert.match(
    text,
    /^peerpost_phase_duration_seconds_count\{phase="OutgoingBuffer",label="chat",mode="direct"\} 57$/m,
  );
  // NaN is refused as by observe(), and changes nothing.
  assert.throws(
    () => observeTimes(now, Number.NaN, 2),
    (err) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
  );
  await assertSameExposition(p);
});

test('an OpenMetrics registry gives the same exposition too', async () => {
  const p = pair(Registry.OPENMETRICS_CONTENT_TYPE);
  both(p, (m) => {
    m.inc('peerpost_errors_total', { kind: 'x' });
    m.observe('peerpost_phase_duration_seconds', 0.3, PHASE_TRANSFER);
    m.set('peerpost_connections', 1, { kind: 'hub', direction: 'inbound' });
  });
  await assertSameExposition(p);
});

test('misuse fails as before and leaves no series behind; a NaN counter increment is now refused', async () => {
  const p = pair();
  const labels = { kind: 'x' };
  both(p, (m) => m.inc('peerpost_errors_total', labels, -1));
  both(p, (m) => m.inc('peerpost_errors_total', labels, Number.POSITIVE_INFINITY));
  both(p, (m) => m.inc('peerpost_errors_total', { kind: 'x', peer: 'alice' }));
  both(p, (m) => m.observe('peerpost_message_size_bytes', Number.NaN, { stage: 'compressed' }));
  both(p, (m) => m.observe('peerpost_message_size_bytes', 1, { stage: 'compressed', le: '1' }));
  both(p, (m) => m.set('peerpost_sent_bytes_total', 1));
  both(p, (m) => m.observe('peerpost_connections', 1));
  both(p, (m) => m.inc('peerpost_message_size_bytes'));
  both(p, (m) => m.inc('nope' as MetricName));
  both(p, (m) => m.set('peerpost_queue_depth', '3' as unknown as number, { queue: 'incoming' }));
  await assertSameExposition(p);
  // prom-client added NaN to the counter (its check is `value && ...`), poisoning the series for good.
  assert.throws(
    () => p.now.inc('peerpost_errors_total', labels, Number.NaN),
    (err: unknown) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
  );
  assert.throws(
    () => p.now.inc('peerpost_errors_total', labels, '2' as unknown as number),
    (err: unknown) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
  );
  assert.doesNotMatch(await p.now.metricsText(), /kind="x"/);
});

const NAMES = Object.keys(METRICS) as MetricName[];
const VALUES = ['a', 'b', 'c,d', ''];

/** A labels object of `name`: any subset of its labels, in any key order, sometimes an undefined value. */
const labelsArb = (name: MetricName): fc.Arbitrary<Labels> =>
  fc
    .shuffledSubarray([...METRICS[name].labels] as string[])
    .chain((keys) =>
      fc
        .tuple(...keys.map(() => fc.option(fc.constantFrom(...VALUES), { freq: 8, nil: undefined })))
        .map((values) => Object.fromEntries(keys.map((k, i) => [k, values[i]])) as Labels),
    );

const opArb = fc.oneof(
  fc.constantFrom(...NAMES).chain((name) =>
    fc.record({
      call: fc.constantFrom('inc', 'set', 'observe'),
      name: fc.constant(name),
      labels: labelsArb(name),
      value: fc.oneof(
        fc.integer({ min: -3, max: 100_000 }),
        fc.double({ min: -1, max: 5e7, noNaN: true }),
        fc.constantFrom(0.0005, 64, 16777216, 30, Number.POSITIVE_INFINITY),
      ),
      /** Reuse the first labels object of this content (the callers' cache) or pass a fresh one. */
      cached: fc.boolean(),
      scrape: fc.boolean(),
    }),
  ),
);

test('property: random call sequences, with scrapes in between, expose the same text', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), async (ops) => {
      const p = pair();
      const cache = new Map<string, Labels>();
      for (const op of ops) {
        const key = `${op.name}|${JSON.stringify(op.labels)}`;
        let labels = op.labels;
        if (op.cached) {
          labels = cache.get(key) ?? labels;
          cache.set(key, labels);
        } else labels = { ...labels };
        both(p, (m) => {
          if (op.call === 'inc') m.inc(op.name, labels, op.value);
          else if (op.call === 'set') m.set(op.name, op.value, labels);
          else m.observe(op.name, op.value, labels);
        });
        if (op.scrape) await assertSameExposition(p);
      }
      await assertSameExposition(p);
    }),
    { numRuns: 300 },
  );
});

test('the exposition after heavy use passes promtool check metrics', {
  skip:
    spawnSync('promtool', ['--version']).status !== 0 && !process.env.CI
      ? 'promtool not installed (Debian package prometheus); CI installs it'
      : false,
}, async () => {
  const m = createPrometheusMetrics();
  for (let i = 0; i < 10_000; i++) {
    m.inc('peerpost_phase_started_total', PHASE_BUFFER);
    m.observe('peerpost_phase_duration_seconds', i / 1000, PHASE_BUFFER);
    m.observe('peerpost_message_size_bytes', i * 100, { stage: 'uncompressed' });
    m.inc('peerpost_outcomes_total', { outcome: 'dropped', reason: 'queue_full' });
  }
  m.set('peerpost_queue_depth', 4, { queue: 'subscribers' });
  const r = spawnSync('promtool', ['check', 'metrics'], { input: await m.metricsText(), encoding: 'utf8' });
  assert.equal(`${r.stdout}${r.stderr}`, '');
  assert.equal(r.status, 0);
});
