/**
 * dashboards/: the Grafana dashboard and the Prometheus alert rules. The rules pass
 * `promtool check rules` and their unit tests (`promtool test rules`); every PromQL
 * expression of both uses only metrics of METRICS, with their own label names and values
 * the code produces; the dashboard is valid JSON with panels and covers every metric.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { ERROR_KINDS } from '../../src/metrics/error-kinds.js';
import { METRICS, type MetricName } from '../../src/metrics/types.js';
import { DROP_REASONS, SKIP_REASONS } from '../../src/sender/outcome.js';
import { CONNECTION_KINDS } from '../../src/transport/types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DASHBOARD = 'dashboards/peerpost-grafana.json';
const RULES = 'dashboards/peerpost-alerts.yml';
const RULE_TESTS = 'dashboards/peerpost-alerts.test.yml';

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
const NO_PROMTOOL = hasPromtool
  ? false
  : 'promtool is not installed (CI installs the Debian `prometheus` package, which has it)';

const tmp = mkdtempSync(join(tmpdir(), 'peerpost-dashboards-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function promtool(args: readonly string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}
interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const dashboardText = readFileSync(join(ROOT, DASHBOARD), 'utf8');
const rules = (
  parse(readFileSync(join(ROOT, RULES), 'utf8')) as { groups: { name: string; rules: Rule[] }[] }
).groups;

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Every PromQL expression of the dashboard: the panels' targets and the variables' queries. */
function dashboardExpressions(d: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of allPanels(d.panels)) {
    for (const t of p.targets ?? [])
      out.push({ where: `${DASHBOARD}: panel "${p.title}" ${t.refId}`, expr: t.expr });
  }
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    out.push({ where: `${DASHBOARD}: variable $${v.name}`, expr: q });
  }
  return out;
}

function ruleExpressions(): { where: string; expr: string }[] {
  return rules.flatMap((g) =>
    g.rules.map((r) => ({ where: `${RULES}: ${r.alert ?? r.record}`, expr: r.expr })),
  );
}

/** Grafana's variables replaced by values Prometheus accepts. */
function withoutVariables(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '5m')
    .replaceAll('$__interval', '1m')
    .replace(/\$\{?(job|instance)\}?/g, '.*');
}

/** Literal label values set in src/ (`queue: 'unresolved'`, ...). */
function srcLiterals(re: RegExp): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) for (const m of readFileSync(path, 'utf8').matchAll(re)) out.add(m[1]!);
    }
  };
  walk(join(ROOT, 'src'));
  assert.ok(out.size >= 2, `src/ has values for ${re}`);
  return out;
}

/** The values a label can have, per label name (and, for `kind`, per metric). */
function knownValues(metric: MetricName, label: string): ReadonlySet<string> | undefined {
  switch (label) {
    case 'kind':
      return new Set<string>(metric === 'peerpost_errors_total' ? ERROR_KINDS : CONNECTION_KINDS);
    case 'reason':
      return new Set<string>(['', ...DROP_REASONS, ...SKIP_REASONS]);
    case 'outcome':
      return new Set(['written', 'dropped', 'skipped']);
    case 'queue':
      return srcLiterals(/\bqueue: '([a-z_]+)'/g);
    case 'stage':
      return srcLiterals(/\bstage: '([a-z_]+)'/g);
    case 'direction':
      return srcLiterals(/\bdirection: '([a-z_]+)'/g);
    case 'phase':
      return srcLiterals(/'((?:Outgoing|Incoming)(?:Buffer|Transfer))'/g);
    case 'mode':
      return new Set(['direct', 'broadcast']);
    default:
      return undefined; // `label` (message labels), `le`, `job`, `instance`: any value
  }
}

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

/** The METRICS entry a series name belongs to (`x_bucket` of histogram `x`), or why none. */
function metricOf(series: string): { metric?: MetricName; problem?: string } {
  if (series in METRICS) {
    const def = METRICS[series as MetricName];
    if (def.type === 'histogram') {
      return { problem: `${series} is a histogram: query ${series}_bucket, _sum or _count` };
    }
    return { metric: series as MetricName };
  }
  for (const suffix of HISTOGRAM_SUFFIXES) {
    const base = series.slice(0, -suffix.length);
    if (series.endsWith(suffix) && base in METRICS && METRICS[base as MetricName].type === 'histogram') {
      return { metric: base as MetricName };
    }
  }
  return { problem: `${series} is not a metric of src/metrics/types.ts (METRICS)` };
}

/**
 * Problems of one expression: unknown metric names (every `peerpost_[a-z_]+`), label
 * names a metric does not have (in matchers and in `by (...)`), and label values the code
 * never sets.
 */
function expressionProblems(expr: string): { problems: string[]; metrics: Set<MetricName> } {
  const problems: string[] = [];
  const metrics = new Set<MetricName>();
  const extra = ['job', 'instance'];
  const labelsInExpr = new Set<string>(extra);
  for (const m of expr.matchAll(/\b(peerpost_[a-z_]+)(?:\{([^}]*)\})?/g)) {
    const series = m[1]!;
    const { metric, problem } = metricOf(series);
    if (metric === undefined) {
      problems.push(problem!);
      continue;
    }
    metrics.add(metric);
    const labels = new Set<string>([...METRICS[metric].labels, ...extra]);
    if (series.endsWith('_bucket')) labels.add('le');
    for (const l of labels) labelsInExpr.add(l);
    for (const matcher of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
      const [, name, op, value] = matcher as unknown as [string, string, string, string];
      if (!labels.has(name)) {
        problems.push(`${series} has no label ${name}`);
        continue;
      }
      const known = knownValues(metric, name);
      if (known === undefined) continue;
      const values = op === '=~' || op === '!~' ? value.split('|') : [value];
      for (const v of values) {
        if (!known.has(v))
          problems.push(`${series}{${name}${op}"${value}"}: ${JSON.stringify(v)} is not a value of ${name}`);
      }
    }
  }
  for (const m of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    for (const name of m[1]!
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')) {
      if (!labelsInExpr.has(name))
        problems.push(`by (${m[1]}): no metric of the expression has label ${name}`);
    }
  }
  if (metrics.size === 0 && problems.length === 0 && !/^up\b|\bup\{/.test(expr)) {
    problems.push('uses no peerpost metric');
  }
  return { problems, metrics };
}

describe('Prometheus alert rules (dashboards/peerpost-alerts.yml)', () => {
  test('pass `promtool check rules`', { skip: NO_PROMTOOL }, () => {
    const r = promtool(['check', 'rules', RULES]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS: \d+ rules found/);
  });

  test('pass their unit tests (`promtool test rules dashboards/peerpost-alerts.test.yml`)', {
    skip: NO_PROMTOOL,
  }, () => {
    const r = promtool(['test', 'rules', RULE_TESTS]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  });

  test('every rule is an alert with a severity, a summary and a description; names are unique', () => {
    const names = rules.flatMap((g) => g.rules.map((r) => r.alert));
    assert.ok(names.length >= 10, `${names.length} alerts`);
    assert.equal(new Set(names).size, names.length, 'alert names are unique');
    for (const g of rules) {
      for (const r of g.rules) {
        assert.match(
          r.alert ?? '',
          /^Peerpost[A-Z]\w+$/,
          `${r.alert ?? r.record}: an alert named Peerpost...`,
        );
        assert.ok(
          ['critical', 'warning', 'info'].includes(r.labels?.['severity'] ?? ''),
          `${r.alert}: severity`,
        );
        assert.ok((r.annotations?.['summary'] ?? '').length > 10, `${r.alert}: summary`);
        assert.ok((r.annotations?.['description'] ?? '').length > 20, `${r.alert}: description`);
      }
    }
  });

  test('every alert has a unit test that makes it fire', () => {
    const tests = parse(readFileSync(join(ROOT, RULE_TESTS), 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const fired = new Set(
      tests.tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    const untested = rules.flatMap((g) => g.rules.map((r) => r.alert!)).filter((a) => !fired.has(a));
    // Rules of the same shape as a tested one ("any event of kind X in 10 minutes").
    const sameShapeAsTested = [
      'PeerpostInboundHandshakesFailing',
      'PeerpostInboundConnectionCap',
      'PeerpostApplicationTooSlow',
      'PeerpostUndecodableMessages',
      'PeerpostBroadcastGaps',
      'PeerpostSubscriberDisconnected',
      'PeerpostListenerThrew',
    ];
    assert.deepEqual(
      untested.filter((a) => !sameShapeAsTested.includes(a)),
      [],
      `alerts without a firing case in ${RULE_TESTS}`,
    );
  });
});

describe('Grafana dashboard (dashboards/peerpost-grafana.json)', () => {
  const dashboard = JSON.parse(dashboardText) as Dashboard;
  const panels = allPanels(dashboard.panels);
  const graphs = panels.filter((p) => p.type !== 'row');

  test('is valid JSON with a title, a uid and panels, each with a Prometheus query, inside the 24-column grid', () => {
    assert.equal(dashboard.title, 'peerpost');
    assert.match(dashboard.uid, /^[\w-]{1,40}$/);
    assert.ok(graphs.length >= 20, `${graphs.length} panels`);
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const p of graphs) {
      assert.ok(p.title.length > 0, `panel ${p.id} has a title`);
      assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has a query`);
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: '$' + '{datasource}' }, `panel "${p.title}"`);
      for (const t of p.targets ?? []) assert.ok(t.expr.trim() !== '', `panel "${p.title}" ${t.refId}`);
      assert.ok(
        p.gridPos.x >= 0 && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24,
        `panel "${p.title}" grid`,
      );
    }
    const rows = panels.filter((p) => p.type === 'row').map((p) => p.title);
    for (const row of [
      'Delivery phases',
      'Outcomes and drops',
      'Errors',
      'Connections',
      'Queues',
      'Backoff and connect failures',
    ]) {
      assert.ok(rows.includes(row), `a "${row}" row`);
    }
  });

  test('uses only its own variables: datasource, job, instance', () => {
    const declared = new Set(dashboard.templating.list.map((v) => v.name));
    assert.deepEqual([...declared].sort(), ['datasource', 'instance', 'job']);
    for (const m of dashboardText.matchAll(/\$\{?(\w+)\}?/g)) {
      assert.ok(declared.has(m[1]!) || m[1]!.startsWith('__'), `$${m[1]} is declared`);
    }
  });

  test('every metric of METRICS has a panel', () => {
    const used = new Set<MetricName>();
    for (const { expr } of dashboardExpressions(dashboard)) {
      for (const metric of expressionProblems(expr).metrics) used.add(metric);
    }
    const missing = (Object.keys(METRICS) as MetricName[]).filter((m) => !used.has(m));
    assert.deepEqual(missing, [], `metrics without a panel in ${DASHBOARD}`);
  });

  test('every expression is valid PromQL (`promtool check rules` on them as recording rules)', {
    skip: NO_PROMTOOL,
  }, () => {
    const exprs = dashboardExpressions(dashboard).filter((e) => !e.expr.startsWith('label_values('));
    const file = join(tmp, 'dashboard-exprs.yml');
    writeFileSync(
      file,
      stringify({
        groups: [
          {
            name: 'dashboard',
            rules: exprs.map((e, i) => ({ record: `dashboard:expr_${i}`, expr: withoutVariables(e.expr) })),
          },
        ],
      }),
    );
    const r = promtool(['check', 'rules', file]);
    assert.equal(r.status, 0, `${r.output}\n${exprs.map((e, i) => `expr_${i}: ${e.where}`).join('\n')}`);
  });
});

describe('metric names, labels and values in the dashboard and the rules', () => {
  const dashboard = JSON.parse(dashboardText) as Dashboard;
  for (const [what, exprs] of [
    [DASHBOARD, dashboardExpressions(dashboard)],
    [RULES, ruleExpressions()],
  ] as const) {
    test(`${what}: every peerpost_ metric is in METRICS, with its labels and values the code sets`, () => {
      const problems = exprs.flatMap(({ where, expr }) =>
        expressionProblems(expr).problems.map((p) => `${where}: ${p}`),
      );
      assert.deepEqual(problems, []);
      assert.ok(exprs.length >= 10);
    });
  }

  test('the checker itself finds unknown metrics, labels and values', () => {
    assert.deepEqual(expressionProblems('rate(peerpost_nope_total[5m])').problems, [
      'peerpost_nope_total is not a metric of src/metrics/types.ts (METRICS)',
    ]);
    assert.match(expressionProblems('peerpost_phase_duration_seconds').problems[0]!, /is a histogram/);
    assert.match(expressionProblems('peerpost_queue_depth{reason="x"}').problems[0]!, /has no label reason/);
    assert.match(
      expressionProblems('peerpost_errors_total{kind=~"idle_timeout|nope"}').problems[0]!,
      /"nope" is not a value/,
    );
    assert.match(
      expressionProblems('peerpost_outcomes_total{reason="peer_queue_full"}').problems[0]!,
      /not a value/,
    );
    assert.match(expressionProblems('sum by (queue) (peerpost_connections)').problems[0]!, /label queue/);
    assert.deepEqual(
      expressionProblems(
        'histogram_quantile(0.9, sum by (le, phase) (rate(peerpost_phase_duration_seconds_bucket{phase="OutgoingBuffer"}[5m])))',
      ).problems,
      [],
    );
  });
});
