import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type Credentials,
  generateCredentials,
  identityOfCredentials,
  saveCredentials,
} from '../../src/identity/credentials.js';
import { ALPN_BY_KIND } from '../../src/transport/types.js';
import { CountingMetrics, delay, RecordingLogger, startServer } from './tls-helpers.js';

// Interop with an independent TLS stack: openssl s_client against a peerpost listener.
const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

let dir: string;
let server: Credentials;
let trusted: Credentials;
let untrusted: Credentials;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peerpost-openssl-'));
  [server, trusted, untrusted] = await Promise.all([
    generateCredentials(),
    generateCredentials(),
    generateCredentials(),
  ]);
  await saveCredentials(join(dir, 'trusted'), trusted);
  await saveCredentials(join(dir, 'untrusted'), untrusted);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sClient(
  address: string,
  credsDir: string,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(
    'openssl',
    [
      's_client',
      '-connect',
      address,
      '-tls1_3',
      '-alpn',
      ALPN_BY_KIND.direct,
      '-cert',
      join(credsDir, 'cert.pem'),
      '-key',
      join(credsDir, 'key.pem'),
      '-ign_eof',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('latin1');
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString('latin1');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe('openssl s_client interop', { skip: haveOpenssl ? false : 'openssl not installed' }, () => {
  it('a trusted certificate completes the handshake and its frames arrive', async () => {
    const s = await startServer({
      credentials: server,
      trust: { certHashes: [identityOfCredentials(trusted).certHash] },
    });
    const client = sClient(s.listener.address, join(dir, 'trusted'));
    try {
      const accepted = await s.next();
      assert.equal(accepted.connection.kind, 'direct');
      assert.equal(accepted.connection.remoteIdentity.certHash, identityOfCredentials(trusted).certHash);
      client.child.stdin?.write(Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('hello')]));
      await accepted.waitFrames(1);
      assert.equal(accepted.frames[0]?.toString(), 'hello');
      // s_client prints its session summary asynchronously: the frame can arrive first.
      const end = Date.now() + 10_000;
      while (!/ALPN protocol/.test(client.output()) && Date.now() < end) await delay(10);
      assert.match(client.output(), /ALPN protocol: peerpost\/direct\/1/);
      assert.match(client.output(), /TLSv1\.3/);
    } finally {
      client.child.kill();
      await client.exited;
      await s.transport.close();
    }
  });

  it('an untrusted certificate is refused', async () => {
    const metrics = new CountingMetrics();
    const logger = new RecordingLogger();
    const s = await startServer({
      credentials: server,
      trust: { certHashes: [identityOfCredentials(trusted).certHash] },
      metrics,
      logger,
    });
    const client = sClient(s.listener.address, join(dir, 'untrusted'));
    try {
      // The server closes the connection: s_client sees the end of stream and exits.
      await client.exited;
      assert.equal(s.accepted.length, 0);
      assert.equal(metrics.count('fail_accept_in_con'), 1);
      assert.ok(logger.warnCodes().includes('ERR_UNTRUSTED_PEER'));
    } finally {
      client.child.kill();
      await s.transport.close();
    }
  });
});
