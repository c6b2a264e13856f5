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

test('examples/broadcast-backpressure.ts: every subscriber gets every broadcast, none dropped, the loop waited', async () => {
  const { stdout: out } = await run(
    process.execPath,
    ['--import', 'tsx', 'examples/broadcast-backpressure.ts', '20000'],
    { timeout: 120_000 },
  );
  assert.match(out, /^sent 20000, received s1 20000, s2 20000, s3 20000, waited for room [1-9]\d* times$/m);
  assert.match(out, /^outcomes: written 60000$/m);
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

test('examples/kv-replication.ts: the leader learns which puts the crashed replica missed, re-sends exactly those, both replicas converge', async () => {
  const out = await example('kv-replication');
  assert.match(out, /^r2 crashed after put 150; restarting it on 127\.0\.0\.1:\d+$/m);
  assert.match(out, /^r1: 300 delivered, 0 not acknowledged$/m);
  const r2 = out.match(
    /^r2: (\d+) delivered, (\d+) not acknowledged \[dropped:unacknowledged \(peer_lost_state\)\]: puts ([\d, -]+)$/m,
  );
  assert.ok(r2, `r2's line:\n${out}`);
  const [delivered, missed] = [Number(r2[1]), Number(r2[2])];
  assert.equal(delivered + missed, 300, 'one outcome per put');
  assert.ok(missed > 0, 'the crash cost r2 puts in flight');
  // The missed puts are the ones in flight at the crash, at most put 150.
  for (const n of r2[3]!.split(/[, -]+/)) assert.ok(Number(n) <= 150, `missed put ${n} after the crash`);
  assert.match(
    out,
    new RegExp(`^re-sent ${missed} puts to r2: ${missed} delivered, 0 not acknowledged$`, 'm'),
  );
  assert.doesNotMatch(out, /^re-sent \d+ puts to r1/m);
  assert.match(out, /^r1 matches the leader: yes \(100 keys\)$/m);
  assert.match(out, /^r2 matches the leader: yes \(100 keys\)$/m);
});
