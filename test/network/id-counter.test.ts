import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdCounter } from '../../src/network/id-counter.js';

test('ids are exactly prefix + n.toString(36), across every carry, for ASCII and other prefixes', () => {
  for (const prefix of ['node-1-00c0ffee-', 'x', '', 'nœud-é-', `${'p'.repeat(300)}-`]) {
    const ids = new IdCounter(prefix);
    // 0 .. 36^3 + 2 passes through "z", "10", "zz", "100", "zzz", "1000".
    for (let n = 0; n <= 36 ** 3 + 2; n++) {
      const id = ids.next();
      if (id !== prefix + n.toString(36)) assert.fail(`${JSON.stringify(prefix)} #${n}: ${id}`);
    }
  }
});

test('ids are flat strings that stay unchanged as later ids are made', () => {
  const ids = new IdCounter('a-b-');
  const first = ids.next();
  const kept = Array.from({ length: 100 }, () => ids.next());
  assert.equal(first, 'a-b-0');
  assert.deepEqual(
    kept,
    Array.from({ length: 100 }, (_, i) => `a-b-${(i + 1).toString(36)}`),
  );
});
