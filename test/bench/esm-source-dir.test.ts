/**
 * The micro-benchmarks' `--baseline=DIR` / `--src=DIR` take a copy of `src/` only when it
 * loads as ES modules, as the repository's does (`esmSourceDir` in bench/lib.ts): a copy
 * without a `package.json` saying `"type": "module"` beside it runs as CommonJS, slower by
 * itself, which an A/B would read as a difference of the code.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { esmSourceDir } from '../../bench/lib.js';

test("the repository's src is taken, resolved", () => {
  const src = path.join(import.meta.dirname, '../../src');
  assert.equal(esmSourceDir(src), path.resolve(src));
});

test('a copy without a package.json saying "type": "module" beside it is refused, naming the file', (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'peerpost-esm-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const src = path.join(root, 'src');
  mkdirSync(src);
  const manifest = path.join(root, 'package.json');
  assert.throws(() => esmSourceDir(src), new RegExp(`${manifest}.*"type": "module"`));
  writeFileSync(manifest, JSON.stringify({ name: 'copy' }));
  assert.throws(() => esmSourceDir(src), /CommonJS/);
  writeFileSync(manifest, '{ not json');
  assert.throws(() => esmSourceDir(src), /CommonJS/);
  writeFileSync(manifest, JSON.stringify({ type: 'module' }));
  assert.equal(esmSourceDir(src), src);
});
