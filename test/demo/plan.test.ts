import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  costOf,
  DOWN_CAP_PER_SENDER,
  PHASES,
  planContext,
  type Step,
  segmentSteps,
  splitBudget,
} from '../../src/demo/plan.js';

function take(next: () => Step | undefined, n: number): Step[] {
  const out: Step[] = [];
  for (let i = 0; i < n; i++) {
    const s = next();
    if (s === undefined) break;
    out.push(s);
  }
  return out;
}

function wholePlan(nodes: number, seed: number): Step[] {
  const ctx = planContext(nodes, seed);
  return PHASES.flatMap((p) => p.segments.flatMap((_, s) => take(segmentSteps(p.name, s, ctx), 50)));
}

describe('demo plan', () => {
  test('the same seed gives the same plan; another seed a different one', () => {
    assert.deepEqual(wholePlan(5, 7), wholePlan(5, 7));
    assert.deepEqual(planContext(5, 7), planContext(5, 7));
    assert.notDeepEqual(wholePlan(5, 7), wholePlan(5, 8));
  });

  test('the direct phase covers every ordered pair in each round', () => {
    for (const nodes of [2, 3, 20]) {
      const pairs = nodes * (nodes - 1);
      const steps = take(segmentSteps('direct', 0, planContext(nodes, 3)), pairs * 2);
      for (const round of [steps.slice(0, pairs), steps.slice(pairs)]) {
        const seen = new Set(round.map((s) => `${s.from}>${s.to}`));
        assert.equal(seen.size, pairs, `nodes=${nodes}`);
        assert.ok(round.every((s) => s.kind === 'direct' && s.from !== s.to));
      }
    }
  });

  test('while the restarted node is down it sends nothing, gets no questions and at most the cap per sender', () => {
    const ctx = planContext(4, 11);
    const steps = take(segmentSteps('restart', 1, ctx), 5000);
    assert.equal(steps.length, 5000);
    assert.ok(steps.every((s) => s.from !== ctx.restarted));
    const toStopped = steps.filter((s) => s.to === ctx.restarted);
    assert.ok(toStopped.length > 0);
    assert.ok(toStopped.every((s) => s.kind === 'direct'));
    for (let from = 0; from < 4; from++) {
      assert.ok(toStopped.filter((s) => s.from === from).length <= DOWN_CAP_PER_SENDER);
    }
    // with 2 nodes the only sender reaches its cap and the segment ends
    const two = planContext(2, 1);
    assert.equal(take(segmentSteps('restart', 1, two), 1000).length, DOWN_CAP_PER_SENDER);
  });

  test('moved and restarted nodes differ when there are 3 nodes or more', () => {
    for (let seed = 0; seed < 50; seed++) {
      const ctx = planContext(3, seed);
      assert.notEqual(ctx.moved, ctx.restarted);
      assert.ok(ctx.moved >= 0 && ctx.moved < 3 && ctx.restarted >= 0 && ctx.restarted < 3);
    }
  });

  test('budgets split exactly; a question costs two (its reply)', () => {
    const parts = splitBudget(
      2001,
      PHASES.map((p) => p.weight),
    );
    assert.equal(
      parts.reduce((a, b) => a + b, 0),
      2001,
    );
    assert.deepEqual(splitBudget(10, [1, 1, 1]), [4, 3, 3]);
    assert.deepEqual(splitBudget(Number.POSITIVE_INFINITY, [1, 2]), [Infinity, Infinity]);
    assert.equal(costOf({ kind: 'question', from: 0, to: 1, bytes: 1 }), 2);
    assert.equal(costOf({ kind: 'broadcast', from: 0, to: -1, bytes: 1 }), 1);
  });

  test('payloads include compressible sizes over 1000 bytes', () => {
    const steps = take(segmentSteps('direct', 0, planContext(3, 1)), 500);
    assert.ok(steps.some((s) => s.bytes > 1000));
    assert.ok(steps.every((s) => s.bytes > 0 && s.bytes <= 8192));
  });
});
