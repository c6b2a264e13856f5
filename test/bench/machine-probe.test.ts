import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { formatProbe, probeMachine } from '../../bench/machine-probe.js';

/** Whether `taskset` can pin here (Linux with util-linux): the probe's requirement. */
function canPin(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    execFileSync('taskset', ['-c', '-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('bench: machine probe', () => {
  it('times both units of work on every CPU this process may use, each in a process pinned there', {
    skip: !canPin() && 'no taskset here',
  }, () => {
    const probe = probeMachine(1);
    const own = execFileSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' });
    const list = own.slice(own.lastIndexOf(':') + 1).trim();
    const cpus = list.split(',').flatMap((part) => {
      const [a, b] = part.split('-').map(Number) as [number, number | undefined];
      return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
    });
    assert.deepEqual(
      probe.map((p) => p.cpu),
      cpus,
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
