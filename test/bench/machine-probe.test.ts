import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { affinityOf, cpusOf } from '../../bench/cpu-affinity.js';
import { formatProbe, probeMachine } from '../../bench/machine-probe.js';

describe('bench: machine probe', () => {
  // The CPUs this process may use, where `taskset` can tell (the probe's requirement).
  const own = process.platform === 'linux' ? affinityOf(process.pid) : undefined;

  it('times each unit of work on every CPU this process may use (eight at most), each in a process pinned there', {
    skip: own === undefined && 'no taskset here',
  }, () => {
    const probe = probeMachine(1);
    assert.deepEqual(
      probe.map((p) => p.cpu),
      cpusOf(own as string).slice(0, 8),
    );
    for (const p of probe) {
      for (const ms of [p.memoryMs, p.copyMs, p.arithmeticMs]) {
        assert.ok(Number.isFinite(ms) && ms > 0, `CPU ${p.cpu}: ${JSON.stringify(p)}`);
      }
    }
    const line = formatProbe(probe);
    for (const p of probe) assert.match(line, new RegExp(`CPU ${p.cpu}: memory ${p.memoryMs} ms`));
  });

  it('says when it has nothing to show', () => {
    assert.equal(formatProbe([]), 'machine probe: not available here');
  });
});

describe('bench: taskset CPU lists', () => {
  it('reads single CPUs, ranges and both', () => {
    assert.deepEqual(cpusOf('0'), [0]);
    assert.deepEqual(cpusOf('0-3'), [0, 1, 2, 3]);
    assert.deepEqual(cpusOf('0-2,5,7-8'), [0, 1, 2, 5, 7, 8]);
  });
});
