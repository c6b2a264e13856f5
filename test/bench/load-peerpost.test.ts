/**
 * What the two-process benchmark's sending and receiving processes run: `loadPeerpost()`
 * (bench/two-process-shared.ts) gives the built package (`dist/`, as deployed) when the
 * bench runs with `--built` (which sets PEERPOST_BENCH_LIB=dist for them), else the
 * source. Told apart by the module each hands out: the same functions as `src/index.ts`'s,
 * or other ones that work the same.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { loadPeerpost } from '../../bench/two-process-shared.js';
import * as source from '../../src/index.js';
import { assertBuilt } from '../node/cli-harness.js';

const saved = process.env.PEERPOST_BENCH_LIB;
afterEach(() => {
  if (saved === undefined) delete process.env.PEERPOST_BENCH_LIB;
  else process.env.PEERPOST_BENCH_LIB = saved;
});

test('without --built the processes run the source', async () => {
  delete process.env.PEERPOST_BENCH_LIB;
  const lib = await loadPeerpost();
  assert.equal(lib.createNetwork, source.createNetwork);
  process.env.PEERPOST_BENCH_LIB = 'src';
  assert.equal((await loadPeerpost()).createNetwork, source.createNetwork);
});

test('with --built they run the built package, which works as the source does', async () => {
  assertBuilt();
  process.env.PEERPOST_BENCH_LIB = 'dist';
  const lib = await loadPeerpost();
  assert.notEqual(lib.createNetwork, source.createNetwork, 'not the source module');
  const a = await lib.generateCredentials();
  const b = await source.generateCredentials();
  assert.equal(lib.certificateHash(b.certPem), source.certificateHash(b.certPem));
  assert.equal(lib.certificateHash(a.certPem), source.certificateHash(a.certPem));
});

test('a file: URL names another copy (--baseline): they run that module', async () => {
  process.env.PEERPOST_BENCH_LIB = new URL('../../src/index.ts', import.meta.url).href;
  assert.equal((await loadPeerpost()).createNetwork, source.createNetwork, 'the source, named by its URL');
  assertBuilt();
  process.env.PEERPOST_BENCH_LIB = new URL('../../dist/index.js', import.meta.url).href;
  const lib = await loadPeerpost();
  assert.notEqual(lib.createNetwork, source.createNetwork, 'the module that URL names');
  const a = await lib.generateCredentials();
  assert.equal(lib.certificateHash(a.certPem), source.certificateHash(a.certPem));
});
