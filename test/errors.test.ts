import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES, isPeerpostError, PeerpostError } from '../src/errors.js';

test('every error code is documented in docs/errors.md, and every documented code exists', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/^\|\s*`(ERR_[A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]));
  for (const code of Object.keys(ERROR_CODES)) assert.ok(documented.has(code), `${code} is documented`);
  for (const code of documented) assert.ok(code! in ERROR_CODES, `${code} exists in src/errors.ts`);
});

test('PeerpostError carries code, offset and cause', () => {
  const cause = new Error('inner');
  const err = new PeerpostError('ERR_TRUNCATED', 'short', { offset: 7, cause });
  assert.equal(err.code, 'ERR_TRUNCATED');
  assert.equal(err.offset, 7);
  assert.equal(err.cause, cause);
  assert.equal(err.name, 'PeerpostError');
  assert.ok(isPeerpostError(err, 'ERR_TRUNCATED'));
  assert.ok(!isPeerpostError(err, 'ERR_CLOSED'));
  assert.ok(!isPeerpostError(new Error('x')));
});
