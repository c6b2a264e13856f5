import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { isPeerpostError } from '../../src/errors.js';
import { LabelRegistry, OTHER_LABEL } from '../../src/metrics/labels.js';
import { createPrometheusMetrics } from '../../src/metrics/prometheus.js';
import { type Labels, METRICS, type MetricName } from '../../src/metrics/types.js';

const SAMPLE_LABELS: Record<string, string> = {
  phase: 'OutgoingBuffer',
  label: 'chat',
  mode: 'direct',
  stage: 'uncompressed',
  kind: 'direct',
  direction: 'inbound',
  outcome: 'dropped',
  reason: 'queue_full',
  queue: 'unresolved',
  operation: 'watch',
};

function labelsFor(name: MetricName): Labels {
  return Object.fromEntries(
    METRICS[name].labels.map((l: string) => [l, SAMPLE_LABELS[l] ?? assert.fail(`no sample for ${l}`)]),
  );
}

/** Every metric, each updated through the Metrics interface. */
function exerciseAll() {
  const metrics = createPrometheusMetrics();
  for (const name of Object.keys(METRICS) as MetricName[]) {
    const labels = labelsFor(name);
    const type = METRICS[name].type;
    if (type === 'counter') metrics.inc(name, labels, 3);
    else if (type === 'gauge') {
      metrics.set(name, 5, labels);
      metrics.inc(name, labels, -2);
    } else {
      metrics.observe(name, 0.003, labels);
      metrics.observe(name, 2000, labels);
    }
  }
  return metrics;
}

const promtool = spawnSync('promtool', ['--version']).status === 0;

function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('every declared metric is exposed with its type, help, labels and value', async () => {
  const metrics = exerciseAll();
  const text = await metrics.metricsText();
  for (const [name, def] of Object.entries(METRICS)) {
    assert.ok(text.includes(`# TYPE ${name} ${def.type}\n`), `${name} type`);
    assert.ok(text.includes(`# HELP ${name} `), `${name} help`);
  }
  assert.match(text, /^peerpost_sent_bytes_total\{label="chat",mode="direct"\} 3$/m);
  assert.match(text, /^peerpost_deduplicated_total 3$/m);
  assert.match(text, /^peerpost_connections\{kind="direct",direction="inbound"\} 3$/m);
  assert.match(text, /^peerpost_queue_depth\{queue="unresolved"\} 3$/m);
  assert.match(
    text,
    /^peerpost_phase_duration_seconds_bucket\{le="0\.001",phase="OutgoingBuffer",label="chat",mode="direct"\} 0$/m,
  );
  assert.match(
    text,
    /^peerpost_phase_duration_seconds_bucket\{le="0\.005",phase="OutgoingBuffer",label="chat",mode="direct"\} 1$/m,
  );
  assert.match(
    text,
    /^peerpost_phase_duration_seconds_count\{phase="OutgoingBuffer",label="chat",mode="direct"\} 2$/m,
  );
  assert.match(text, /^peerpost_message_size_bytes_bucket\{le="4096",stage="uncompressed"\} 2$/m);
  assert.match(text, /^peerpost_message_size_bytes_bucket\{le="1024",stage="uncompressed"\} 1$/m);
  assert.equal(metrics.contentType, 'text/plain; version=0.0.4; charset=utf-8');
});

test('metrics exist at zero before any update, in a caller-supplied registry', async () => {
  const registry = new Registry();
  createPrometheusMetrics({ registry });
  const text = await registry.metrics();
  assert.match(text, /^peerpost_deduplicated_total 0$/m);
  assert.equal((await registry.getMetricsAsJSON()).length, Object.keys(METRICS).length);
});

test('misuse is a coded error: wrong call for the type, undeclared label', () => {
  const metrics = createPrometheusMetrics();
  const invalid = (err: unknown) => isPeerpostError(err, 'ERR_INVALID_OPTION');
  assert.throws(() => metrics.set('peerpost_sent_bytes_total', 1), invalid);
  assert.throws(() => metrics.observe('peerpost_connections', 1), invalid);
  assert.throws(() => metrics.inc('peerpost_message_size_bytes'), invalid);
  assert.throws(() => metrics.inc('peerpost_errors_total', { kind: 'x', peer: 'alice' }), invalid);
  assert.throws(() => metrics.inc('peerpost_errors_total', { kind: 'x' }, -1), invalid);
  assert.throws(() => metrics.inc('nope' as MetricName), invalid);
});

test('the exposition passes promtool check metrics', {
  skip:
    !promtool && !process.env.CI
      ? 'promtool not installed (Debian package prometheus); CI installs it'
      : false,
}, async () => {
  const r = promtoolCheck(await exerciseAll().metricsText());
  assert.equal(r.output, '');
  assert.equal(r.status, 0);
  const withDefaults = createPrometheusMetrics({ collectDefault: true });
  withDefaults.inc('peerpost_errors_total', { kind: 'fail_conn_to_peer' });
  const text = await withDefaults.metricsText();
  assert.match(text, /^process_cpu_seconds_total /m);
  // prom-client names three of its default gauges `nodejs_active_*_total`, which promtool's
  // lint flags; everything else, and all of peerpost's own metrics, must pass.
  const problems = promtoolCheck(text)
    .output.split('\n')
    .filter((line) => line.trim() !== '');
  const foreign = problems.filter(
    (line) => !/^nodejs_active_(handles|requests|resources)_total non-counter/.test(line),
  );
  assert.deepEqual(foreign, []);
  // And promtool does catch a broken exposition, so the checks above can fail.
  assert.notEqual(promtoolCheck('# TYPE x counter\nx{a="1" 2\n').status, 0);
});

test('docs/metrics.md documents every metric with its type and labels', () => {
  const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  for (const [name, def] of Object.entries(METRICS)) {
    const row = doc.split('\n').find((line) => line.startsWith(`| \`${name}\``));
    assert.ok(row, `${name} missing from docs/metrics.md`);
    assert.ok(row.includes(` ${def.type} `), `${name}: type`);
    for (const label of def.labels) assert.ok(row.includes(`\`${label}\``), `${name}: label ${label}`);
  }
});

test('LabelRegistry admits known labels, then the first newcomers, then maps to other', () => {
  const labels = new LabelRegistry(['a', 'b'], 4);
  assert.equal(labels.bound('a'), 'a');
  assert.equal(labels.bound('x'), 'x');
  assert.equal(labels.bound('y'), 'y');
  assert.equal(labels.bound('z'), OTHER_LABEL);
  assert.equal(labels.bound('x'), 'x');
  assert.equal(labels.bound('b'), 'b');
  assert.equal(labels.size, 4);
  assert.ok(labels.isKnown('a') && !labels.isKnown('x'));
  assert.equal(new LabelRegistry().bound('q'.repeat(65)), OTHER_LABEL);
  // Known labels pass even when there are more of them than the bound.
  const many = new LabelRegistry(['k1', 'k2', 'k3'], 2);
  assert.deepEqual(
    ['k1', 'k2', 'k3', 'n'].map((l) => many.bound(l)),
    ['k1', 'k2', 'k3', OTHER_LABEL],
  );
  // A flood of distinct labels yields a bounded set of values.
  const flood = new LabelRegistry([], 100);
  const seen = new Set(Array.from({ length: 10_000 }, (_, i) => flood.bound(`l${i}`)));
  assert.equal(seen.size, 101);
});
