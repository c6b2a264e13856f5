/** The BENCHMARKS.md generator: target evaluation and splicing of the generated section. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Figure } from '../../bench/lib.js';
import { END, generated, type Results, START, splice, suiteTable } from '../../bench/report.js';
import { evaluate, type Target } from '../../bench/targets.js';

function fig(suite: string, system: string, kase: string, value: number, baseline?: string): Figure {
  const f: Figure = {
    suite,
    name: `${system} ${kase}`,
    system,
    case: kase,
    value,
    unit: 'msg/s',
    rounds: [value],
  };
  if (baseline) f.baseline = baseline;
  return f;
}

const figures = [
  fig('throughput', 'raw TLS', '64B', 1000, 'raw TLS 64B'),
  fig('throughput', 'ZeroMQ', '64B', 100, 'raw TLS 64B'),
  fig('throughput', 'peerpost TLS', '64B', 400, 'raw TLS 64B'),
];

test('a target is met, missed, or pending when its figure is absent', () => {
  const targets: Target[] = [
    { issue: 8, text: 'a', suite: 'throughput', figure: 'peerpost TLS 64B', op: '>=', threshold: 0.3 },
    {
      issue: 8,
      text: 'b',
      suite: 'throughput',
      figure: 'peerpost TLS 64B',
      versus: 'ZeroMQ 64B',
      op: '>=',
      threshold: 5,
    },
    { issue: 8, text: 'c', suite: 'throughput', figure: 'peerpost TLS 1KiB', op: '>=', threshold: 0.5 },
    { issue: 5, text: 'd', suite: 'throughput', figure: /^ZeroMQ/, op: '<=', threshold: 150, absolute: true },
  ];
  const r = evaluate(figures, targets);
  assert.deepEqual(
    r.map((x) => [x.target.text, x.status, x.measured]),
    [
      ['a', 'met', 0.4],
      ['b', 'missed', 4],
      ['c', 'pending', undefined],
      ['d', 'met', 100],
    ],
  );
});

test('suite tables have one row per system and the ratio to the baseline', () => {
  const t = suiteTable(figures).split('\n');
  assert.equal(t[0], '| system | 64B |');
  assert.equal(t[3], '| ZeroMQ | 100 msg/s (**0.10x**) |');
  assert.equal(t.length, 5);
});

test('splice replaces only the generated section, or appends one', () => {
  const results: Results = {
    date: '2026-01-01T00:00:00Z',
    quick: false,
    machine: { node: 'v20', cpus: 2, cpuModel: 'x', platform: 'linux' },
    figures,
  };
  const section = generated(results);
  assert.ok(section.startsWith(START) && section.endsWith(END));
  const doc = `# Title\n\nintro\n\n${START}\nold\n${END}\n\n## Log\nkept\n`;
  const next = splice(doc, section);
  assert.ok(next.startsWith('# Title\n\nintro\n\n'));
  assert.ok(next.endsWith('\n\n## Log\nkept\n'));
  assert.ok(!next.includes('\nold\n'));
  assert.match(next, /\| 8 \| 64 B >= 0\.3x raw batched TLS \| 0\.40x \| met \|/);
  assert.ok(splice('# T\n', section).endsWith(`${END}\n`));
});
