import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import {
  type Credentials,
  generateCredentials,
  identityOfCredentials,
} from '../../src/identity/credentials.js';
import { generateOwnerKey } from '../../src/identity/owner-keys.js';
import { TlsTransport } from '../../src/transport/tls/tls-transport.js';
import { Collector, startServer } from './tls-helpers.js';

let server: Credentials;
let client: Credentials;
let signedClient: Credentials;
let stranger: Credentials;
const owner = generateOwnerKey();

before(async () => {
  [server, client, signedClient, stranger] = await Promise.all([
    generateCredentials(),
    generateCredentials(),
    generateCredentials({ ownerKeys: [owner] }),
    generateCredentials(),
  ]);
});

const hash = (c: Credentials): string => identityOfCredentials(c).certHash;

describe('TLS transport', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    await Promise.all(cleanup.map((f) => f()));
  });

  it('moves frames both ways in order, batches per tick and reports identities', async () => {
    const s = await startServer({ credentials: server });
    const ct = new TlsTransport({ credentials: client });
    cleanup.push(
      () => s.transport.close(),
      () => ct.close(),
    );
    const conn = await ct.connect(s.listener.address, 'subscribe-node');
    const mine = new Collector(conn);
    const theirs = await s.next();
    assert.equal(conn.kind, 'subscribe-node');
    assert.equal(theirs.connection.kind, 'subscribe-node');
    assert.equal(conn.remoteIdentity.certHash, hash(server));
    assert.equal(conn.remoteIdentity.shortId, hash(server).slice(0, 4));
    assert.equal(theirs.connection.remoteIdentity.certHash, hash(client));
    assert.equal(theirs.connection.remoteAddress, conn.localAddress);
    assert.equal(s.listener.connectionCount, 1);
    for (let i = 0; i < 1000; i++) conn.write(Buffer.from(`frame ${i}`));
    // An empty body is the keepalive frame: callers cannot write one.
    assert.throws(() => conn.write(Buffer.alloc(0)), /reserved for keepalives/);
    conn.write(Buffer.alloc(200_000, 7));
    assert.equal(conn.pendingFrames, 1001);
    await theirs.waitFrames(1001);
    assert.deepEqual(
      theirs.frames.slice(0, 1000).map((f) => f.toString()),
      Array.from({ length: 1000 }, (_, i) => `frame ${i}`),
    );
    assert.ok(theirs.frames[1000]?.equals(Buffer.alloc(200_000, 7)));
    assert.equal(mine.flushed, 1001);
    assert.equal(conn.pendingFrames, 0);
    theirs.connection.write(Buffer.from('reply'));
    await mine.waitFrames(1);
    assert.equal(mine.frames[0]?.toString(), 'reply');
    conn.close('done');
    const [local, remote] = await Promise.all([conn.closed, theirs.connection.closed]);
    assert.deepEqual(
      [local.code, local.initiator, local.message],
      ['ERR_CONNECTION_CLOSED', 'local', 'done'],
    );
    assert.deepEqual([remote.code, remote.initiator], ['ERR_CONNECTION_CLOSED', 'remote']);
    assert.equal(mine.reason, local);
    assert.equal(conn.write(Buffer.from('late')), false);
  });

  it('trusts by certificate hash and by owner key, either may pass', async () => {
    const s = await startServer({
      credentials: server,
      trust: { certHashes: [hash(client)], ownerKeys: [owner.publicKeyHex] },
    });
    cleanup.push(() => s.transport.close());
    for (const creds of [client, signedClient]) {
      const t = new TlsTransport({ credentials: creds, trust: { certHashes: [hash(server)] } });
      const conn = await t.connect(s.listener.address, 'direct');
      new Collector(conn);
      const accepted = await s.next();
      assert.equal(accepted.connection.remoteIdentity.certHash, hash(creds));
      await t.close();
    }
    const signed = s.accepted[1]?.connection.remoteIdentity;
    assert.deepEqual(signed?.ownerKeys, [owner.publicKeyHex]);
    // A stranger completes TLS (1.3: the client finishes first) but is never admitted: its
    // connect() fails, so it cannot write a frame that would be lost.
    const t = new TlsTransport({ credentials: stranger });
    await assert.rejects(t.connect(s.listener.address, 'direct'), (e) =>
      isPeerpostError(e, 'ERR_CONNECT_REFUSED'),
    );
    assert.equal(s.accepted.length, 2);
    await t.close();
  });

  it('refuses a server the client does not trust', async () => {
    const s = await startServer({ credentials: stranger });
    const t = new TlsTransport({ credentials: client, trust: { certHashes: [hash(server)] } });
    cleanup.push(
      () => s.transport.close(),
      () => t.close(),
    );
    await assert.rejects(t.connect(s.listener.address, 'direct'), (e) =>
      isPeerpostError(e, 'ERR_UNTRUSTED_PEER'),
    );
  });

  it('pins the expected identity: a mismatch fails before any frame is written', async () => {
    const s = await startServer({ credentials: server });
    const t = new TlsTransport({ credentials: client });
    cleanup.push(
      () => s.transport.close(),
      () => t.close(),
    );
    const ok = await t.connect(s.listener.address, 'direct', {
      expectedIdentity: { certHash: hash(server) },
    });
    ok.close();
    await assert.rejects(
      t.connect(s.listener.address, 'direct', { expectedIdentity: { certHash: hash(stranger) } }),
      (e) => isPeerpostError(e, 'ERR_IDENTITY_MISMATCH'),
    );
    await assert.rejects(
      t.connect(s.listener.address, 'direct', { expectedIdentity: { ownerKey: owner.publicKeyHex } }),
      (e) => isPeerpostError(e, 'ERR_IDENTITY_MISMATCH'),
    );
    const s2 = await startServer({ credentials: signedClient });
    cleanup.push(() => s2.transport.close());
    const byOwner = await t.connect(s2.listener.address, 'direct', {
      expectedIdentity: { ownerKey: owner.publicKeyHex.toUpperCase() },
    });
    assert.deepEqual(byOwner.remoteIdentity.ownerKeys, [owner.publicKeyHex]);
    byOwner.close();
    // The server saw the refused connections but never a frame from them.
    for (const c of s.accepted) assert.equal(c.frames.length, 0);
  });

  it('replaces credentials and trust at runtime', async () => {
    const s = await startServer({ credentials: server });
    const t = new TlsTransport({ credentials: client });
    cleanup.push(
      () => s.transport.close(),
      () => t.close(),
    );
    const first = await t.connect(s.listener.address, 'direct');
    const firstAccepted = await s.next();
    s.transport.updateCredentials(stranger);
    const second = await t.connect(s.listener.address, 'direct');
    await s.next();
    assert.equal(first.remoteIdentity.certHash, hash(server));
    assert.equal(second.remoteIdentity.certHash, hash(stranger));
    assert.equal(s.transport.identity.certHash, hash(stranger));
    // Client side: stop trusting the old server certificate: only the first connection closes.
    t.updateTrust({ certHashes: [hash(stranger)] });
    const reason = await first.closed;
    assert.deepEqual([reason.code, reason.initiator], ['ERR_UNTRUSTED_PEER', 'local']);
    assert.equal((await firstAccepted.connection.closed).initiator, 'remote');
    assert.equal(second.closeReason, undefined);
    // Server side: stop trusting the client: its open connection is closed with a reason.
    const serverSide = s.accepted[1];
    s.transport.updateTrust({ certHashes: [hash(signedClient)] });
    assert.equal((await serverSide?.connection.closed)?.code, 'ERR_UNTRUSTED_PEER');
    assert.equal((await second.closed).initiator, 'remote');
    // And the new trust applies to new handshakes: the client is refused at connect().
    await assert.rejects(t.connect(s.listener.address, 'direct'), (e) =>
      isPeerpostError(e, 'ERR_CONNECT_REFUSED'),
    );
  });

  it('fails fast on a closed port and on an unknown kind', async () => {
    const s = await startServer({ credentials: server });
    const addr = s.listener.address;
    await s.transport.close();
    const t = new TlsTransport({ credentials: client });
    await assert.rejects(t.connect(addr, 'direct'), (e) => isPeerpostError(e, 'ERR_CONNECT_REFUSED'));
    await assert.rejects(t.connect('nowhere', 'direct'), (e) => isPeerpostError(e, 'ERR_INVALID_ADDRESS'));
    const only = new TlsTransport({ credentials: server });
    const listener = await only.listen('127.0.0.1:0', { kinds: ['direct'], onConnection() {} });
    cleanup.push(() => only.close());
    await assert.rejects(t.connect(listener.address, 'subscribe-proxy'), (e) =>
      isPeerpostError(e, 'ERR_ALPN_MISMATCH'),
    );
  });
});
