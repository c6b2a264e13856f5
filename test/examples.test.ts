import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs an example as a user would (`npx tsx examples/<name>.ts`) and returns its output. */
async function example(name: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', `examples/${name}.ts`], {
    timeout: 60_000,
  });
  return stdout;
}

test('examples/request-reply.ts: the client gets the server answer', async () => {
  const out = await example('request-reply');
  assert.match(out, /server got Question "ping"/);
  assert.match(out, /client got Answer "pong: ping" from peer server/);
  assert.match(out, /-> written/);
});

test('examples/broadcast.ts: every subscriber gets the broadcast, only s2 the private one', async () => {
  const out = await example('broadcast');
  for (const name of ['s1', 's2', 's3']) assert.match(out, new RegExp(`^${name}: News:hello, all`, 'm'));
  assert.match(out, /^s2: .*Private:only for s2/m);
  assert.doesNotMatch(out, /^s[13]: .*Private/m);
});

test('examples/envelope-roundtrip.ts: every message comes back intact', async () => {
  const out = await example('envelope-roundtrip');
  assert.equal((out.match(/ - intact/g) ?? []).length, 3);
  assert.match(out, /\(zstd\)/);
});
