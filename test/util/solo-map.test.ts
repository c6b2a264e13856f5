/**
 * SoloMap answers as a Map would, whatever the order of sets and deletes (its first entry
 * lives outside the Map it keeps for the others).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SoloMap } from '../../src/util/solo-map.js';

type Op = { kind: 'set'; key: string; value: number } | { kind: 'delete'; key: string };

const key = fc.constantFrom('a', 'b', 'c', 'd');
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), key }),
);

test('SoloMap agrees with a Map after any sequence of sets and deletes', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const solo = new SoloMap<string, number>();
      const model = new Map<string, number>();
      for (const o of ops) {
        if (o.kind === 'set') {
          solo.set(o.key, o.value);
          model.set(o.key, o.value);
        } else {
          assert.equal(solo.delete(o.key), model.delete(o.key), `delete ${o.key}`);
        }
        assert.equal(solo.size, model.size);
        for (const k of ['a', 'b', 'c', 'd']) {
          assert.equal(solo.has(k), model.has(k), `has ${k}`);
          assert.equal(solo.get(k), model.get(k), `get ${k}`);
        }
        assert.deepEqual(
          [...solo.values()].sort((x, y) => x - y),
          [...model.values()].sort((x, y) => x - y),
        );
      }
    }),
  );
});

test('values() is a copy: deleting while walking it visits every entry once', () => {
  const solo = new SoloMap<string, number>();
  for (const [i, k] of ['a', 'b', 'c'].entries()) solo.set(k, i);
  const seen: number[] = [];
  for (const v of solo.values()) {
    seen.push(v);
    solo.delete(['a', 'b', 'c'][v] as string);
  }
  assert.deepEqual(seen, [0, 1, 2]);
  assert.equal(solo.size, 0);
});
