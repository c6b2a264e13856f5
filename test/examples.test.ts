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

test('examples/request-reply.ts: each request gets its own answer; a request without route fails coded', async () => {
  const out = await example('request-reply');
  assert.match(out, /server got Question "ping"/);
  for (const q of ['ping', 'ping 2', 'ping 3'])
    assert.match(out, new RegExp(`client got Answer "pong: ${q}" from peer server`));
  assert.match(out, /request to nobody failed: ERR_REQUEST_TIMEOUT \(no reply .* within 500 ms/);
});

test('examples/backpressure.ts: every message delivered, none dropped, the loop waited for room', async () => {
  // 200,000 here to keep the suite short; the example's default is a million.
  const { stdout: out } = await run(
    process.execPath,
    ['--import', 'tsx', 'examples/backpressure.ts', '200000'],
    {
      timeout: 120_000,
    },
  );
  assert.match(out, /^sent 200000, delivered 200000, waited for room [1-9]\d* times$/m);
  assert.match(out, /^outcomes: written 200000$/m);
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
