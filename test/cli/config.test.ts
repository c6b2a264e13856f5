// `peerpost config check --config <file>`: validates a node config without starting it.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generateCredentials, saveCredentials } from '../../src/identity/credentials.js';
import { assertBuilt, killAll, makeCredentials, runCli, tempDir } from '../node/cli-harness.js';
import { freePort } from '../registry/etcd-server.js';

const tmp = tempDir('config-check');
const dir = tmp.dir;
const held: Server[] = [];
after(async () => {
  await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
  await killAll();
  tmp.remove();
});

let hashA = '';
let hashB = '';
before(async () => {
  assertBuilt();
  [hashA, hashB] = await Promise.all([makeCredentials(dir, 'a'), makeCredentials(dir, 'b')]);
  chmodSync(join(dir, 'a/key.pem'), 0o600);
});

/** Binds 127.0.0.1:0 and returns the server (kept until the file ends) and its port. */
async function holdPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  held.push(server);
  return (server.address() as { port: number }).port;
}

/** Line 1 nodeId, 2 listen, 3 admin, 4 credentials (key at column 16), 5 trust, then `more`. */
function config(listen: string, admin: string, more = '', key = 'a/key.pem', cert = 'a/cert.pem'): string {
  return (
    `nodeId: alice\nlisten: ${listen}\nadmin: ${admin}\n` +
    `credentials: { key: ${key}, cert: ${cert} }\n` +
    `trust: { certHashes: ["${hashB}"] }\n${more}`
  );
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port }, () => s.close(() => resolve(true)));
  });
}

test('a valid config: exit 0 with an "ok" summary, and the ports are free again afterwards', async () => {
  const [listen, admin] = [await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'ok.yaml'),
    config(`127.0.0.1:${listen}`, `127.0.0.1:${admin}`, `topology:\n  bob: ["127.0.0.1:7002"]\n`),
  );
  const r = await runCli(dir, ['config', 'check', '--config', 'ok.yaml']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'ok: ok.yaml');
  assert.match(r.stdout, /^ {2}node +alice$/m);
  assert.match(r.stdout, new RegExp(`^  identity +${hashA} \\(owner keys: none\\)$`, 'm'));
  assert.match(r.stdout, new RegExp(`^  listen +127\\.0\\.0\\.1:${listen} \\(free\\)$`, 'm'));
  assert.match(r.stdout, new RegExp(`^  admin +127\\.0\\.0\\.1:${admin} \\(free\\)$`, 'm'));
  assert.match(r.stdout, /^ {2}peers +1$/m);
  assert.match(r.stdout, /^ {2}trust +1 certificate hash, 0 owner keys$/m);
  assert.ok(await canBind(listen), 'the listen port was released');
  assert.ok(await canBind(admin), 'the admin port was released');
});

test('port 0 is reported as any free port, and no admin line without admin', async () => {
  writeFileSync(
    join(dir, 'zero.yaml'),
    `nodeId: alice\nlisten: 127.0.0.1:0\ncredentials: { key: a/key.pem, cert: a/cert.pem }\ntrust: { certHashes: ["${hashB}"] }\n`,
  );
  const r = await runCli(dir, ['config', 'check', '--config', 'zero.yaml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ {2}listen +127\.0\.0\.1:0 \(any free port\)$/m);
  assert.doesNotMatch(r.stdout, /admin/);
});

test('the loader problems: the same file:line:col lines as `peerpost node`, exit 1', async () => {
  writeFileSync(
    join(dir, 'bad.yaml'),
    config('127.0.0.1:0', '127.0.0.1:0', 'limits:\n  peerQueueCapacity: -5\n  lisen: 3\n'),
  );
  const check = await runCli(dir, ['config', 'check', '--config', 'bad.yaml']);
  const node = await runCli(dir, ['node', '--config', 'bad.yaml']);
  assert.equal(check.code, 1);
  assert.equal(check.stdout, '');
  assert.match(
    check.stderr,
    /^error ERR_INVALID_CONFIG: bad\.yaml:7:3: limits\.peerQueueCapacity: expected a positive integer up to 1000000, got -5$/m,
  );
  assert.match(check.stderr, /^bad\.yaml:8:3: limits\.lisen: unknown key/m);
  assert.equal(node.code, 1);
  assert.equal(check.stderr, node.stderr, 'config check and node report the same problems');

  writeFileSync(join(dir, 'missing.yaml'), config('127.0.0.1:0', '127.0.0.1:0', '', 'nope/key.pem'));
  const missing = await runCli(dir, ['config', 'check', '--config', 'missing.yaml']);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /^error ERR_INVALID_CONFIG: missing\.yaml:4:16: credentials\.key: cannot read \/.*\/nope\/key\.pem: ENOENT$/m,
  );
  const none = await runCli(dir, ['config', 'check', '--config', 'none.yaml']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^error ERR_INVALID_CONFIG: none\.yaml: cannot read: ENOENT$/m);
});

test('a key that does not match the certificate: both files named, at the line of credentials.key', async () => {
  writeFileSync(
    join(dir, 'mismatch.yaml'),
    config('127.0.0.1:0', '127.0.0.1:0', '', 'a/key.pem', 'b/cert.pem'),
  );
  const r = await runCli(dir, ['config', 'check', '--config', 'mismatch.yaml']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  const key = join(dir, 'a/key.pem');
  const cert = join(dir, 'b/cert.pem');
  assert.equal(
    r.stderr,
    `error ERR_INVALID_CONFIG: mismatch.yaml:4:16: credentials.key: the private key in ${key} does not match the certificate in ${cert}\n`,
  );
});

test('a certificate or key that does not parse is named, with every problem listed in line order', async () => {
  writeFileSync(
    join(dir, 'broken-cert.pem'),
    '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
  );
  writeFileSync(
    join(dir, 'broken-key.pem'),
    '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
  );
  const port = await holdPort();
  writeFileSync(
    join(dir, 'broken.yaml'),
    config(`127.0.0.1:${port}`, '127.0.0.1:0', '', 'broken-key.pem', 'broken-cert.pem'),
  );
  const r = await runCli(dir, ['config', 'check', '--config', 'broken.yaml']);
  assert.equal(r.code, 1);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 3, r.stderr);
  assert.equal(
    lines[0],
    `error ERR_INVALID_CONFIG: broken.yaml:2:1: listen: 127.0.0.1:${port} is in use by another process (EADDRINUSE)`,
  );
  assert.match(
    lines[1]!,
    new RegExp(
      `^broken\\.yaml:4:16: credentials\\.key: ${join(dir, 'broken-key.pem')} is not a valid private key: `,
    ),
  );
  assert.match(
    lines[2]!,
    new RegExp(
      `^broken\\.yaml:4:${'credentials: { key: broken-key.pem, '.length + 1}: credentials\\.cert: ${join(dir, 'broken-cert.pem')} is not a valid certificate: `,
    ),
  );
});

test('ports in use: another process, or admin on the listen port; --no-ports skips the check', async () => {
  const port = await holdPort();
  writeFileSync(join(dir, 'busy.yaml'), config(`127.0.0.1:${port}`, '127.0.0.1:0'));
  const busy = await runCli(dir, ['config', 'check', '--config', 'busy.yaml']);
  assert.equal(busy.code, 1);
  assert.equal(
    busy.stderr,
    `error ERR_INVALID_CONFIG: busy.yaml:2:1: listen: 127.0.0.1:${port} is in use by another process (EADDRINUSE)\n`,
  );
  const skipped = await runCli(dir, ['config', 'check', '--config', 'busy.yaml', '--no-ports']);
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stdout, new RegExp(`^  listen +127\\.0\\.0\\.1:${port} \\(not checked\\)$`, 'm'));

  const free = await freePort();
  writeFileSync(join(dir, 'same.yaml'), config(`127.0.0.1:${free}`, `127.0.0.1:${free}`));
  const same = await runCli(dir, ['config', 'check', '--config', 'same.yaml']);
  assert.equal(same.code, 1);
  assert.equal(
    same.stderr,
    `error ERR_INVALID_CONFIG: same.yaml:3:1: admin: 127.0.0.1:${free} is in use (EADDRINUSE): listen (127.0.0.1:${free}) binds the same port\n`,
  );
});

test('warnings do not fail the check: a key file others can read, an empty trust, an expired certificate', async () => {
  copyFileSync(join(dir, 'a/key.pem'), join(dir, 'open-key.pem'));
  chmodSync(join(dir, 'open-key.pem'), 0o644);
  writeFileSync(
    join(dir, 'warn.yaml'),
    'nodeId: alice\nlisten: 127.0.0.1:0\ncredentials: { key: open-key.pem, cert: a/cert.pem }\n',
  );
  const r = await runCli(dir, ['config', 'check', '--config', 'warn.yaml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok: warn\.yaml$/m);
  assert.match(
    r.stderr,
    new RegExp(
      `^warning: warn\\.yaml:3:16: credentials\\.key: ${join(dir, 'open-key.pem')} can be read by other users \\(mode 0644; chmod 600 it\\)$`,
      'm',
    ),
  );
  assert.match(
    r.stderr,
    /^warning: warn\.yaml:1:1: trust: no certHashes and no ownerKeys: every peer that connects is trusted$/m,
  );

  await saveCredentials(
    join(dir, 'old'),
    await generateCredentials({ notBefore: new Date('2020-01-01T00:00:00Z'), validityDays: 1 }),
  );
  writeFileSync(
    join(dir, 'expired.yaml'),
    config('127.0.0.1:0', '127.0.0.1:0', '', 'old/key.pem', 'old/cert.pem'),
  );
  const expired = await runCli(dir, ['config', 'check', '--config', 'expired.yaml']);
  assert.equal(expired.code, 0, expired.stderr);
  assert.equal(
    expired.stderr,
    `warning: expired.yaml:4:${'credentials: { key: old/key.pem, '.length + 1}: credentials.cert: the certificate in ${join(dir, 'old/cert.pem')} expired on 2020-01-02T00:00:00.000Z\n`,
  );
});

test('the topology file is read and validated like the node does', async () => {
  writeFileSync(join(dir, 'topo.yaml'), 'bob:\n  - address: 127.0.0.1:7002\n    certHash: nothex\n');
  writeFileSync(
    join(dir, 'withtopo.yaml'),
    config('127.0.0.1:0', '127.0.0.1:0', 'topologyFile: topo.yaml\n'),
  );
  const r = await runCli(dir, ['config', 'check', '--config', 'withtopo.yaml']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error ERR_INVALID_CONFIG: \/.*\/topo\.yaml:3:5: bob\[0\]\.certHash: /m);
  writeFileSync(join(dir, 'topo.yaml'), `bob:\n  - address: 127.0.0.1:7002\n    certHash: ${hashB}\n`);
  const ok = await runCli(dir, ['config', 'check', '--config', 'withtopo.yaml']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ {2}peers +1 \(from \/.*\/topo\.yaml\)$/m);
});
