import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assertBuilt, killAll, runCli, startNode, tempDir, writeConfig } from '../node/cli-harness.js';

const tmp = tempDir('control');
const dir = tmp.dir;
after(async () => {
  await killAll();
  tmp.remove();
});
before(() => assertBuilt());

test('send --via goes through the running node (its identity and connections); a wrong or missing token is refused', async () => {
  const [kx, ky] = await Promise.all([
    runCli(dir, ['keygen', '--out', 'x']),
    runCli(dir, ['keygen', '--out', 'y']),
  ]);
  const hashX = kx.stdout.trim();
  const hashY = ky.stdout.trim();
  writeConfig(join(dir, 'x.yaml'), {
    nodeId: 'x',
    listen: '127.0.0.1:0',
    credentials: { key: 'x/key.pem', cert: 'x/cert.pem' },
    trust: { certHashes: [hashY] },
  });
  const x = await startNode(dir, ['--config', 'x.yaml', '--echo', 'ping']);
  writeFileSync(join(dir, 'token'), 'a-control-token-of-32-characters\n', { mode: 0o600 });
  writeFileSync(join(dir, 'wrong'), 'another-token-of-32-characters!!\n', { mode: 0o600 });
  writeConfig(join(dir, 'y.yaml'), {
    nodeId: 'y',
    listen: '127.0.0.1:0',
    admin: '127.0.0.1:0',
    controlTokenFile: 'token',
    credentials: { key: 'y/key.pem', cert: 'y/cert.pem' },
    trust: { certHashes: [hashX] },
    topology: { x: [{ address: x.address, certHash: hashX }] },
  });
  const y = await startNode(dir, ['--config', 'y.yaml']);

  const via = await runCli(dir, [
    'send',
    '--via',
    y.admin,
    '--token-file',
    'token',
    '--to',
    'x',
    '--label',
    'ping',
    '--data',
    'through y',
    '--wait-reply',
    '10000',
  ]);
  assert.equal(via.code, 0, `${via.stdout}\n${via.stderr}`);
  assert.match(via.stdout, new RegExp(`^written  ping \\S+ -> x \\(${x.address}\\)$`, 'm'));
  // x answered y's node (its pinned identity), and the reply came back through it.
  assert.match(via.stdout, /^reply {2}ping \S+ from x .*: through y$/m);

  const wrong = await runCli(dir, [
    'send',
    '--via',
    y.admin,
    '--token-file',
    'wrong',
    '--to',
    'x',
    '--label',
    'ping',
    '--data',
    'no',
  ]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /ERR_UNAUTHORIZED/);
  const none = await runCli(dir, ['send', '--via', y.admin, '--to', 'x', '--label', 'ping', '--data', 'no']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /--via needs --token-file/);
  // A raw request without the header: 401, nothing sent.
  const res = await fetch(`http://${y.admin}/send`, { method: 'POST', body: '{}' });
  assert.equal(res.status, 401);
  assert.equal(((await res.json()) as { code: string }).code, 'ERR_UNAUTHORIZED');
  const status = (await (await fetch(`http://${y.admin}/status`)).json()) as Record<string, unknown>;
  assert.ok(JSON.stringify(status).length > 0);
});

test('controlTokenFile needs a loopback admin address: refused at load', async () => {
  writeConfig(join(dir, 'z.yaml'), {
    nodeId: 'z',
    listen: '127.0.0.1:0',
    admin: '0.0.0.0:0',
    controlTokenFile: 'token',
    credentials: { key: 'x/key.pem', cert: 'x/cert.pem' },
  });
  const run = await runCli(dir, ['node', '--config', 'z.yaml']);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /controlTokenFile.*loopback only/);
});
