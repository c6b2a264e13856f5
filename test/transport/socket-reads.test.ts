import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type Credentials, generateCredentials } from '../../src/identity/credentials.js';
import { SocketReads } from '../../src/transport/socket-reads.js';
import { TlsTransport } from '../../src/transport/tls/tls-transport.js';
import { Collector, startServer } from './tls-helpers.js';

/** What node does on a read: the bytes land in the onread buffer, then the callback is called. */
function read(reads: SocketReads, bytes: string): void {
  const landing = reads.onread.buffer;
  landing.write(bytes, 0, 'latin1');
  assert.equal(reads.onread.callback(bytes.length), true);
}

describe('SocketReads', () => {
  it('hands each read on as a copy of its own; reads before attach wait, in order, and come first', () => {
    const reads = new SocketReads();
    let pending = 0;
    reads.onPending = () => pending++;
    read(reads, 'ab');
    read(reads, 'cdef');
    assert.equal(pending, 2);
    assert.equal(reads.pendingBytes, 6);
    // The acceptance frame is taken out of what waits, across reads.
    assert.equal(reads.take(3).toString('latin1'), 'abc');
    assert.equal(reads.pendingBytes, 3);
    read(reads, 'xy');
    const got: Buffer[] = [];
    reads.attach((chunk) => {
      got.push(chunk);
      if (got.length === 1) read(reads, 'gh'); // a read from inside the sink comes after what waited
    });
    read(reads, 'ijk');
    assert.deepEqual(
      got.map((c) => c.toString('latin1')),
      ['def', 'xy', 'gh', 'ijk'],
    );
    // Each chunk is a copy: the landing buffer is written again by the next read.
    read(reads, 'XXXXXXXXXX');
    assert.equal(got[3]?.toString('latin1'), 'ijk');
    assert.equal(pending, 3, 'attached: nothing waits');
    reads.detach();
    read(reads, 'lost');
    assert.equal(got.length, 5);
    assert.equal(reads.pendingBytes, 0);
  });

  it('reads of several sockets, past many areas, each keep their own bytes', () => {
    // Chunks are cut one behind the other from areas all sockets share: none may overlap
    // another, across sockets and across the start of a new area, however large the read.
    const sockets = [new SocketReads(), new SocketReads(), new SocketReads()];
    const got: { chunk: Buffer; bytes: string }[] = [];
    sockets.forEach((reads) => {
      reads.attach((chunk) => got.push({ chunk, bytes: '' }));
    });
    const landing = sockets[0]!.onread.buffer;
    let made = 0;
    for (const size of [1, 7_000, 16_384, 3, 16_384, 16_384, 16_384, 5_000, 12_000, 16_384, 1_000]) {
      for (const reads of sockets) {
        const bytes = String.fromCharCode(0x41 + (made++ % 26)).repeat(size);
        landing.write(bytes, 0, 'latin1');
        reads.onread.callback(size);
        (got.at(-1) as { bytes: string }).bytes = bytes;
      }
    }
    assert.equal(got.length, made);
    for (const { chunk, bytes } of got) assert.equal(chunk.toString('latin1'), bytes);
    const total = got.reduce((n, g) => n + g.chunk.length, 0);
    assert.ok(total > 4 * 64 * 1024, 'the reads filled several areas');
  });

  it('detach before attach lets the waiting reads go and attaches nothing', () => {
    const reads = new SocketReads();
    read(reads, 'abc');
    reads.detach();
    assert.equal(reads.pendingBytes, 0);
    const got: Buffer[] = [];
    reads.attach((chunk) => got.push(chunk));
    read(reads, 'def');
    assert.deepEqual(got, []);
  });
});

describe('outbound TLS connections read through onread', () => {
  let server: Credentials;
  let client: Credentials;
  before(async () => {
    [server, client] = await Promise.all([generateCredentials(), generateCredentials()]);
  });
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    await Promise.all(cleanup.map((f) => f()));
  });

  it("frames of every size arrive whole and in order; the client's socket pushes no chunk onto its stream", async () => {
    const pushedBy = { client: 0, server: 0 };
    const push = Readable.prototype.push;
    Readable.prototype.push = function (
      this: Readable & { _tlsOptions?: { isServer?: boolean } },
      chunk,
      enc,
    ) {
      if (chunk !== null && this._tlsOptions !== undefined) {
        if (this._tlsOptions.isServer === true) pushedBy.server++;
        else pushedBy.client++;
      }
      return push.call(this, chunk, enc);
    };
    try {
      const s = await startServer({ credentials: server });
      const ct = new TlsTransport({ credentials: client });
      cleanup.push(
        () => s.transport.close(),
        () => ct.close(),
      );
      const conn = await ct.connect(s.listener.address, 'direct');
      const theirs = await s.next();
      const mine = new Collector(conn);
      // Sizes around and well past a TLS record (16 KiB): frames cut by reads, and reads
      // holding many frames.
      const sizes = [1, 7, 100, 16_380, 16_384, 16_390, 70_000, 1, 2, 3, 300_000, 5];
      const frames = Array.from({ length: 400 }, (_, i) =>
        Buffer.alloc(sizes[i % sizes.length] as number, i & 0xff),
      );
      for (const f of frames) theirs.connection.write(f);
      await mine.waitFrames(frames.length);
      assert.equal(mine.frames.length, frames.length);
      for (let i = 0; i < frames.length; i++)
        assert.ok(mine.frames[i]?.equals(frames[i] as Buffer), `frame ${i}`);
      // And the other way (the server reads through its stream).
      conn.write(Buffer.from('back'));
      await theirs.waitFrames(1);
      assert.equal(theirs.frames[0]?.toString(), 'back');
      assert.equal(pushedBy.client, 0, 'the client socket pushed chunks onto its stream');
      assert.ok(pushedBy.server > 0, 'the server socket reads through its stream');
    } finally {
      Readable.prototype.push = push;
    }
  });
});
