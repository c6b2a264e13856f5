import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  assertBuilt,
  eventually,
  httpGet,
  killAll,
  makeCredentials,
  runCli,
  startNode,
  tempDir,
  writeConfig,
} from '../node/cli-harness.js';

const tmp = tempDir('status');
const dir = tmp.dir;
after(async () => {
  await killAll();
  tmp.remove();
});
before(() => assertBuilt());

test('peerpost status shows peers, addresses, states, queues, backoff and recent drops', async () => {
  const hash = await makeCredentials(dir, 's');
  writeConfig(join(dir, 's.yaml'), {
    nodeId: 's',
    listen: '127.0.0.1:0',
    admin: '127.0.0.1:0',
    credentials: { key: 's/key.pem', cert: 's/cert.pem' },
    limits: { backoff: { initialMs: 50, deadlineMs: 200 } },
    // Nobody listens on port 1: connects fail. "lost" has no address: its messages wait unresolved.
    topology: { gone: ['127.0.0.1:1'], lost: [] },
  });
  const s = await startNode(dir, ['--config', 's.yaml', '--heartbeat', '100']);
  await eventually('connect failures are recorded', async () => {
    const status = JSON.parse((await httpGet(`http://${s.admin}/status`)).text);
    return (status.drops.recentByReason.connect_failed ?? 0) > 0 && status.queues.unresolved > 0;
  });

  const json = await runCli(dir, ['status', '--admin', s.admin, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const status = JSON.parse(json.stdout);
  assert.equal(status.nodeId, 's');
  assert.equal(status.identity.shortId, hash.slice(0, 4));
  assert.equal(status.address, s.address);
  assert.equal(status.ready, true);
  assert.deepEqual(
    status.peers.map((p: { peerId: string; addresses: { address: string }[] }) => [
      p.peerId,
      p.addresses.map((a) => a.address),
    ]),
    [
      ['gone', ['127.0.0.1:1']],
      ['lost', []],
    ],
  );
  assert.ok(status.queues.unresolved > 0);
  assert.equal(typeof status.backoff.entries, 'number');
  assert.ok(status.drops.totalByReason.connect_failed > 0);
  const drop = status.drops.recent[0];
  assert.deepEqual(
    { label: drop.label, receiver: drop.receiver, address: drop.address, reason: drop.reason },
    { label: 'heartbeat', receiver: 'gone', address: '127.0.0.1:1', reason: 'connect_failed' },
  );

  const text = await runCli(dir, ['status', '--admin', s.admin]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^node {7}s \\(identity ${hash.slice(0, 4)}, ${hash}\\)$`, 'm'));
  assert.match(text.stdout, new RegExp(`^listening  ${s.address} {3}admin ${s.admin} {3}ready true$`, 'm'));
  assert.match(text.stdout, /^peers \(2\)$/m);
  assert.match(text.stdout, /^ {2}gone +127\.0\.0\.1:1 +- +\w+ +\d+/m);
  assert.match(text.stdout, /^ {2}lost +\(no address\)/m);
  assert.match(
    text.stdout,
    /^queues {5}unresolved=[1-9]\d* peer-senders=\d+ subscribers=0 replies=0 incoming=0$/m,
  );
  assert.match(text.stdout, /^backoff {4}\d+ sender\(s\) in backoff, \d+ remembered$/m);
  assert.match(text.stdout, /^drops {6}recent: .*connect_failed=[1-9]/m);
  assert.match(text.stdout, /^ {2}connect_failed {2}heartbeat \S+ -> gone \(127\.0\.0\.1:1\)/m);

  s.proc.child.kill('SIGTERM');
  assert.deepEqual(await s.proc.exited, { code: 0, signal: null });

  // The node is gone: status says why and exits 1.
  const down = await runCli(dir, ['status', '--admin', s.admin]);
  assert.equal(down.code, 1);
  assert.match(
    down.stderr,
    /^error ERR_CONNECT_FAILED: cannot fetch http:\/\/127\.0\.0\.1:\d+\/status: connection refused \(ECONNREFUSED\)/m,
  );
});

test('status --admin to a port nobody listens on says "connection refused" with the address and exits 1', async () => {
  // A port that was free a moment ago, and that nobody listens on now.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  const down = await runCli(dir, ['status', '--admin', `127.0.0.1:${port}`]);
  assert.equal(down.code, 1);
  assert.equal(down.stdout, '');
  assert.equal(
    down.stderr.trim(),
    `error ERR_CONNECT_FAILED: cannot fetch http://127.0.0.1:${port}/status: connection refused (ECONNREFUSED): is the node running, with its admin server at that address?`,
  );
  assert.doesNotMatch(down.stderr, /TypeError|fetch failed/);

  // A port fetch will not use at all: said so, not a bare TypeError.
  const blocked = await runCli(dir, ['status', '--admin', '127.0.0.1:1']);
  assert.equal(blocked.code, 1);
  assert.match(
    blocked.stderr,
    /^error ERR_CONNECT_FAILED: cannot fetch http:\/\/127\.0\.0\.1:1\/status: fetch refuses to use this port/m,
  );
  assert.doesNotMatch(blocked.stderr, /TypeError/);

  const outOfRange = await runCli(dir, ['status', '--admin', '127.0.0.1:99999']);
  assert.equal(outOfRange.code, 1);
  assert.match(
    outOfRange.stderr,
    /ERR_INVALID_ADDRESS: invalid address "127\.0\.0\.1:99999": port 99999 is out of range \(1-65535\)/,
  );
});
