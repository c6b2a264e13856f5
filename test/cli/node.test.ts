import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  assertBuilt,
  type CliProcess,
  eventually,
  hasPromtool,
  httpGet,
  killAll,
  makeCredentials,
  metricSum,
  promtoolCheck,
  runCli,
  startNode,
  tempDir,
  writeConfig,
} from '../node/cli-harness.js';

const tmp = tempDir('node');
const dir = tmp.dir;
after(async () => {
  await killAll();
  tmp.remove();
});

before(() => assertBuilt());

test('an invalid config exits 1 naming file:line:col, key and problem', async () => {
  await makeCredentials(dir, 'x');
  writeFileSync(
    join(dir, 'bad.yaml'),
    'nodeId: x\nlisten: 127.0.0.1:0\ncredentials: { key: x/key.pem, cert: x/cert.pem }\nlimits:\n  peerQueueCapacity: -5\n',
  );
  const r = await runCli(dir, ['node', '--config', 'bad.yaml']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /ERR_INVALID_CONFIG: bad\.yaml:5:3: limits\.peerQueueCapacity: expected a positive integer up to 1000000, got -5/,
  );
});

test('a running node: health, metrics, live reload of topology and send mode, SIGHUP with an invalid file, SIGTERM drain', async () => {
  const hashA = await makeCredentials(dir, 'a');
  const hashB = await makeCredentials(dir, 'b');
  const configA = join(dir, 'a.yaml');
  const baseA = {
    nodeId: 'a',
    listen: '127.0.0.1:0',
    admin: '127.0.0.1:0',
    credentials: { key: 'a/key.pem', cert: 'a/cert.pem' },
    logLevel: 'debug',
    topology: {},
  };
  writeConfig(configA, baseA);
  const a = await startNode(dir, ['--config', 'a.yaml', '--heartbeat', '100']);
  const aProc: CliProcess = a.proc;
  // Log lines are pino JSON with node id, address and the 4-hex identity prefix.
  assert.equal(a.ready.nodeId, 'a');
  assert.match(a.address, /^127\.0\.0\.1:\d+$/);
  assert.equal(a.ready.identity, hashA.slice(0, 4));
  assert.equal((await httpGet(`http://${a.admin}/healthz`)).status, 200);
  assert.equal((await httpGet(`http://${a.admin}/readyz`)).status, 200);

  // b subscribes to a's broadcasts (needed once a sends in broadcast mode) and knows a's identity.
  writeConfig(join(dir, 'b.yaml'), {
    nodeId: 'b',
    listen: '127.0.0.1:0',
    admin: '127.0.0.1:0',
    credentials: { key: 'b/key.pem', cert: 'b/cert.pem' },
    logLevel: 'debug',
    topology: { a: [{ address: a.address, certHash: hashA }] },
  });
  const b = await startNode(dir, ['--config', 'b.yaml', '--subscribe', 'a']);
  const received = async () =>
    metricSum((await httpGet(`http://${b.admin}/metrics`)).text, 'peerpost_received_bytes_total');
  const sentByA = async (mode: string) =>
    metricSum((await httpGet(`http://${a.admin}/metrics`)).text, 'peerpost_sent_bytes_total', {
      label: 'heartbeat',
      mode,
    });

  // a has no peers yet: its heartbeats go nowhere.
  assert.equal(await sentByA('direct'), 0);

  // Live topology change: a learns b; heartbeats flow directly to b.
  writeConfig(configA, { ...baseA, topology: { b: [{ address: b.address, certHash: hashB }] } });
  const topologyLog = await aProc.waitForLog('configuration reloaded', (l) =>
    JSON.stringify(l.changes).includes('topology: peer b added'),
  );
  assert.ok(topologyLog);
  await eventually('a sends heartbeats to b directly', async () => (await sentByA('direct')) > 0);
  await eventually('b receives them', async () => (await received()) > 0);

  // Live send-mode change: heartbeats now go through the broadcast path to b's subscription.
  writeConfig(configA, {
    ...baseA,
    directSendMode: 'broadcast',
    topology: { b: [{ address: b.address, certHash: hashB }] },
  });
  await aProc.waitForLog('configuration reloaded', (l) =>
    JSON.stringify(l.changes).includes('directSendMode: direct -> broadcast'),
  );
  const directBefore = await sentByA('direct');
  await eventually('a sends in broadcast mode', async () => (await sentByA('broadcast')) > 0);
  const receivedBefore = await received();
  await eventually(
    'b keeps receiving through its subscription',
    async () => (await received()) > receivedBefore,
  );
  // Direct sends stopped (allow the few written before the switch was applied).
  const directAfter = await sentByA('direct');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await sentByA('direct'), directAfter);
  assert.ok(directAfter >= directBefore);
  const status = JSON.parse((await httpGet(`http://${a.admin}/status`)).text);
  assert.equal(status.directSendMode, 'broadcast');
  assert.equal(status.peers[0].peerId, 'b');

  // A restart-only key is reported, not applied.
  writeConfig(configA, {
    ...baseA,
    listen: '127.0.0.1:1',
    directSendMode: 'broadcast',
    topology: { b: [{ address: b.address, certHash: hashB }] },
  });
  const restart = await aProc.waitForLog('configuration changes need a restart: not applied');
  assert.match(JSON.stringify(restart.changes), /listen: 127\.0\.0\.1:0 -> 127\.0\.0\.1:1/);

  // An invalid file on SIGHUP: the old config keeps running and the reason is logged.
  const failures = aProc.countLogs('configuration reload failed: keeping the running configuration');
  writeFileSync(
    configA,
    'nodeId: a\nlisten: 127.0.0.1:0\ncredentials: { key: a/key.pem, cert: a/cert.pem }\ndirectSendMode: sideways\n',
  );
  // The watcher sees the write; SIGHUP must reload again on its own.
  await aProc.waitFor('the watcher reports the invalid file', () =>
    aProc.countLogs('configuration reload failed: keeping the running configuration') > failures
      ? true
      : undefined,
  );
  aProc.child.kill('SIGHUP');
  // The failure logged after the SIGHUP line is the SIGHUP reload's own.
  const failed = await aProc.waitFor('the SIGHUP reload fails', () => {
    const logs = aProc.logs;
    const hup = logs.findIndex((l) => l.msg === 'SIGHUP: reloading the configuration');
    if (hup < 0) return undefined;
    return logs
      .slice(hup + 1)
      .find((l) => l.msg === 'configuration reload failed: keeping the running configuration');
  });
  assert.equal(failed.code, 'ERR_INVALID_CONFIG');
  assert.match(
    String(failed.problem),
    /a\.yaml:4:1: directSendMode: expected one of direct\|broadcast\|both, got "sideways"/,
  );
  const kept = JSON.parse((await httpGet(`http://${a.admin}/status`)).text);
  assert.equal(kept.directSendMode, 'broadcast');
  const receivedNow = await received();
  await eventually('traffic continues under the old config', async () => (await received()) > receivedNow);
  assert.equal((await httpGet(`http://${a.admin}/healthz`)).status, 200);

  // The exposition of a running node passes promtool.
  assert.ok(hasPromtool, 'promtool is missing: install the Debian package prometheus (.ci/run does)');
  const exposition = (await httpGet(`http://${a.admin}/metrics`)).text;
  assert.match(exposition, /^peerpost_sent_bytes_total\{label="heartbeat",mode="broadcast"\} \d+/m);
  const check = promtoolCheck(exposition);
  assert.equal(check.output, '');
  assert.equal(check.status, 0);

  // Incoming messages are logged at debug with label, id and sender; never the payload.
  const got = await b.proc.waitForLog('message received', (l) => l.label === 'heartbeat');
  assert.equal(got.nodeId, 'b');
  assert.equal(typeof got.messageId, 'string');
  assert.match(String(got.address), /^127\.0\.0\.1:\d+$/);
  assert.equal(got.identity, hashA.slice(0, 4));
  assert.equal('data' in got, false);

  // SIGTERM: graceful shutdown, exit code 0.
  aProc.child.kill('SIGTERM');
  b.proc.child.kill('SIGINT');
  const [exitA, exitB] = await Promise.all([aProc.exited, b.proc.exited]);
  assert.deepEqual(exitA, { code: 0, signal: null });
  assert.deepEqual(exitB, { code: 0, signal: null });
  assert.ok(aProc.logs.some((l) => l.msg === 'node stopping: draining queues' && l.drainTimeoutMs === 5000));
  assert.ok(aProc.logs.some((l) => l.msg === 'node stopped'));
  for (const line of [...aProc.lines, ...b.proc.lines]) assert.doesNotMatch(line, /"data"/);
});
