/**
 * The transport conformance suite: one set of contract tests (src/transport/types.ts)
 * that every Transport must pass. Run it from a `*.test.ts` file:
 *
 *   runConformanceSuite('memory', async ({ limits }) => { ...; return harness; });
 *
 * A {@link Harness} is one fresh pair of nodes for one test:
 * - `server` and `client`: two Transports created with `options.limits` (the suite asks
 *   for short limits, e.g. `writeTimeoutMs: 300`, in the tests that need them; both
 *   transports get the same limits). The server's peers see `serverIdentity`, the
 *   client's peers see `clientIdentity`.
 * - `listenAddress()`: an address the server can listen on with port 0 (memory: any
 *   `host:0` of the server's host; TLS: `127.0.0.1:0`).
 * - `advance(ms)`: lets `ms` of the transports' time pass and runs pending I/O (memory:
 *   `FakeClock.tick(ms)`; TLS: a real sleep). The suite waits only through it, so it runs
 *   in virtual time where it can.
 * - `close()`: releases what the harness created; the suite closes its own listeners and
 *   connections first.
 *
 * The suite stalls a reader without any hook: a connection that is never attached must
 * not read (the contract of `attach`), so its peer's writes pile up until the write timeout.
 * Remote-side close codes are checked loosely (`ERR_CONNECTION_CLOSED` or
 * `ERR_CONNECTION_RESET` with initiator `remote`) because a socket peer cannot learn why
 * the other side failed; local codes are exact.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ErrorCode, isPeerpostError } from '../../src/errors.js';
import type {
  CloseReason,
  Connection,
  ConnectionHandler,
  ConnectionKind,
  Listener,
  RemoteIdentity,
  Transport,
  TransportLimits,
} from '../../src/transport/types.js';
import { seededRandom } from '../../src/util/random.js';
import { encodedEnvelopeSize, encodeEnvelope, plainEnvelopeSize } from '../../src/wire/envelope.js';
import { envelopeOf, framesOf } from './fixtures.js';

export interface HarnessOptions {
  /** Limits for both transports. Empty: the transport's defaults. */
  readonly limits: TransportLimits;
}

export interface Harness {
  readonly server: Transport;
  readonly client: Transport;
  readonly serverIdentity: RemoteIdentity;
  readonly clientIdentity: RemoteIdentity;
  listenAddress(): string;
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
  /**
   * The transport writes the first frame of a tick at once when the connection has
   * nothing in flight (TLS: the socket holds nothing), the tick's other frames together
   * after it; without, every frame of a tick goes in one batch (memory).
   */
  readonly firstWriteAtOnce?: boolean;
}

/** Everything one attached connection reported. */
export interface Recorder extends ConnectionHandler {
  readonly frames: Buffer[];
  readonly flushed: number[];
  drains: number;
  readonly closes: CloseReason[];
}

export function recorder(): Recorder {
  const r: Recorder = {
    frames: [],
    flushed: [],
    drains: 0,
    closes: [],
    onFrame: (frame) => r.frames.push(Buffer.from(frame)),
    onFlushed: (count) => r.flushed.push(count),
    onDrain: () => {
      r.drains++;
    },
    onClose: (reason) => r.closes.push(reason),
  };
  return r;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const REMOTE_CLOSE_CODES: readonly ErrorCode[] = ['ERR_CONNECTION_CLOSED', 'ERR_CONNECTION_RESET'];

/** A frame whose content identifies it: index in the first 4 bytes, then a pattern. */
function frameOf(index: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (index * 31 + i) & 0xff;
  if (size >= 4) b.writeUInt32BE(index, 0);
  return b;
}

interface Ctx {
  readonly h: Harness;
  readonly listeners: Listener[];
  /** Waits (through `h.advance`) until `cond` holds; fails after `maxMs` of transport time. */
  until(cond: () => boolean, what: string, maxMs?: number): Promise<void>;
  /** Listens with the server, records inbound connections in `accepted`. */
  listen(kinds?: readonly ConnectionKind[]): Promise<{ listener: Listener; accepted: Connection[] }>;
}

async function withHarness(
  makeHarness: (options: HarnessOptions) => Promise<Harness>,
  limits: TransportLimits,
  body: (ctx: Ctx) => Promise<void>,
): Promise<void> {
  const h = await makeHarness({ limits });
  const listeners: Listener[] = [];
  const ctx: Ctx = {
    h,
    listeners,
    async until(cond, what, maxMs = 10_000) {
      for (let waited = 0; !cond(); waited += 10) {
        if (waited >= maxMs) assert.fail(`timed out after ${maxMs} ms waiting for ${what}`);
        await h.advance(10);
      }
    },
    async listen(kinds) {
      const accepted: Connection[] = [];
      const listener = await h.server.listen(h.listenAddress(), {
        onConnection: (c) => accepted.push(c),
        ...(kinds === undefined ? {} : { kinds }),
      });
      listeners.push(listener);
      return { listener, accepted };
    },
  };
  try {
    await body(ctx);
  } finally {
    const closing = Promise.all(listeners.map((l) => l.close()));
    let done = false;
    void closing.then(() => {
      done = true;
    });
    // Inbound connections may need transport time to finish closing (virtual clocks).
    for (let i = 0; i < 2000 && !done; i++) await h.advance(10);
    await closing;
    await h.close();
  }
}

/** Connects, waits for the server side, attaches recorders on both ends. */
async function open(ctx: Ctx, address: string, accepted: Connection[], kind: ConnectionKind = 'direct') {
  const before = accepted.length;
  const client = await ctx.h.client.connect(address, kind);
  await ctx.until(() => accepted.length > before, 'the server to accept');
  const server = accepted[before]!;
  const c = recorder();
  const s = recorder();
  client.attach(c);
  server.attach(s);
  return { client, server, c, s };
}

export function runConformanceSuite(
  name: string,
  makeHarness: (options: HarnessOptions) => Promise<Harness>,
): void {
  describe(`transport conformance: ${name}`, () => {
    test('frames of 1 B..64 KiB arrive whole and in order, both ways, under backpressure', () =>
      withHarness(makeHarness, {}, async (ctx) => {
        const { listener, accepted } = await ctx.listen();
        const { client, server, c, s } = await open(ctx, listener.address, accepted);
        const random = seededRandom(42);
        const sizes = Array.from({ length: 400 }, (_, i) =>
          i % 50 === 0 ? [1, 2, 65536][i % 3]! : 1 + Math.floor(random() * 65536),
        );
        const sent = sizes.map((size, i) => frameOf(i, size));
        let i = 0;
        while (i < sent.length) {
          // Bursts of random length per tick; respect backpressure.
          const burst = 1 + Math.floor(random() * 40);
          for (let k = 0; k < burst && i < sent.length; k++, i++) {
            const a = client.write(sent[i]!);
            const b = server.write(sent[i]!);
            if (!a || !b) {
              i++;
              break;
            }
          }
          await ctx.h.advance(1);
        }
        await ctx.until(
          () => s.frames.length === sent.length && c.frames.length === sent.length,
          'all frames',
        );
        assert.ok(
          s.frames.every((f, k) => f.equals(sent[k]!)),
          'server got every frame intact and in order',
        );
        assert.ok(
          c.frames.every((f, k) => f.equals(sent[k]!)),
          'client got every frame intact and in order',
        );
        assert.equal(sum(c.flushed), sent.length);
        assert.equal(client.pendingFrames, 0);
        assert.equal(client.bufferedBytes, 0);
        client.close();
      }));

    test('a handler with onFrameAt gets every frame as a range of a received chunk, never onFrame', () =>
      withHarness(makeHarness, {}, async (ctx) => {
        const { listener, accepted } = await ctx.listen();
        const client = await ctx.h.client.connect(listener.address, 'direct');
        await ctx.until(() => accepted.length > 0, 'the server to accept');
        const server = accepted[0]!;
        const got: Buffer[] = [];
        const chunks = new Set<Buffer>();
        let sharedChunk = false;
        server.attach({
          onFrame: () => assert.fail('onFrame must not be called when onFrameAt exists'),
          onFrameAt: (chunk, start, end, readAtMs) => {
            assert.ok(
              start >= 0 && start < end && end <= chunk.length,
              `range ${start}..${end} of ${chunk.length}`,
            );
            assert.equal(typeof readAtMs, 'number');
            if (chunks.has(chunk)) sharedChunk = true;
            chunks.add(chunk);
            got.push(Buffer.from(chunk.subarray(start, end)));
          },
        });
        client.attach(recorder());
        // Small frames in one tick share chunks; 64 KiB ones are split across chunks.
        const sent = Array.from({ length: 300 }, (_, i) => frameOf(i, i % 100 === 99 ? 65536 : 1 + (i % 90)));
        for (const f of sent) client.write(f);
        await ctx.until(() => got.length === sent.length, 'all frames');
        assert.ok(
          got.every((f, k) => f.equals(sent[k]!)),
          'every frame intact and in order',
        );
        assert.ok(sharedChunk, 'frames of one chunk are ranges of that chunk');
        client.close();
      }));

    test('the writes of one tick are flushed in one batch, or the first at once and the rest in one batch (onFlushed once per batch)', () =>
      withHarness(makeHarness, {}, async (ctx) => {
        const { listener, accepted } = await ctx.listen();
        const { client, c, s } = await open(ctx, listener.address, accepted);
        const batches = (n: number) => (ctx.h.firstWriteAtOnce === true ? [1, n - 1] : [n]);
        for (let k = 0; k < 50; k++) assert.equal(client.write(frameOf(k, 100)), true);
        assert.equal(client.pendingFrames, 50);
        assert.equal(client.bufferedBytes, 50 * 104);
        await ctx.until(() => s.frames.length === 50, '50 frames');
        assert.deepEqual(c.flushed, batches(50));
        for (let k = 0; k < 3; k++) client.write(frameOf(k, 10));
        await ctx.until(() => s.frames.length === 53, '3 more frames');
        assert.deepEqual(c.flushed, [...batches(50), ...batches(3)]);
        assert.equal(client.pendingFrames, 0);
        client.close();
      }));

    test('write() returns false at the high-water mark, onDrain follows, nothing is lost', () =>
      withHarness(makeHarness, { highWaterMarkBytes: 64 * 1024 }, async (ctx) => {
        const { listener, accepted } = await ctx.listen();
        const { client, c, s } = await open(ctx, listener.address, accepted);
        let n = 0;
        while (client.write(frameOf(n, 1020))) n++;
        n++;
        assert.equal(n, 64, 'the 64th 1 KiB frame reaches the 64 KiB mark');
        assert.ok(client.bufferedBytes >= 64 * 1024);
        for (let k = 0; k < 100; k++) assert.equal(client.write(frameOf(n++, 1020)), false);
        assert.equal(c.drains, 0);
        await ctx.until(() => c.drains > 0, 'onDrain');
        await ctx.until(() => s.frames.length === n, 'every frame');
        assert.ok(s.frames.every((f, k) => f.readUInt32BE(0) === k));
        assert.equal(sum(c.flushed), n);
        client.close();
      }));

    for (const side of ['client', 'server'] as const) {
      test(`close() by the ${side} flushes queued frames and is reported on both ends, once`, () =>
        withHarness(makeHarness, {}, async (ctx) => {
          const { listener, accepted } = await ctx.listen();
          const pair = await open(ctx, listener.address, accepted);
          const [closer, other] = side === 'client' ? [pair.client, pair.server] : [pair.server, pair.client];
          const [mine, theirs] = side === 'client' ? [pair.c, pair.s] : [pair.s, pair.c];
          for (let k = 0; k < 10; k++) closer.write(frameOf(k, 500));
          closer.close(`bye from the ${side}`);
          closer.close('second call is ignored');
          assert.equal(closer.write(frameOf(99, 10)), false, 'no writes after close()');
          await ctx.until(() => mine.closes.length > 0 && theirs.closes.length > 0, 'both ends closed');
          assert.equal(theirs.frames.length, 10, 'frames queued before close() are delivered');
          const local = closer.closeReason!;
          assert.equal(local.code, 'ERR_CONNECTION_CLOSED');
          assert.equal(local.initiator, 'local');
          assert.equal(local.message, `bye from the ${side}`);
          const remote = other.closeReason!;
          assert.equal(remote.initiator, 'remote');
          assert.equal(remote.code, 'ERR_CONNECTION_CLOSED');
          assert.deepEqual(await closer.closed, local);
          assert.deepEqual(await other.closed, remote);
          await ctx.h.advance(50);
          assert.equal(mine.closes.length, 1);
          assert.equal(theirs.closes.length, 1);
          assert.equal(other.write(frameOf(0, 1)), false, 'writing to a closed connection returns false');
          await ctx.until(() => listener.connectionCount === 0, 'the listener to forget the connection');
        }));
    }

    test('a peer that stops reading makes the writer fail with ERR_WRITE_TIMEOUT; unsent frames stay pending', () =>
      withHarness(makeHarness, { writeTimeoutMs: 300, highWaterMarkBytes: 64 * 1024 }, async (ctx) => {
        const { listener, accepted } = await ctx.listen();
        const client = await ctx.h.client.connect(listener.address, 'direct');
        const c = recorder();
        client.attach(c);
        await ctx.until(() => accepted.length === 1, 'the server to accept');
        // The server end is never attached, so it never reads.
        const frame = Buffer.alloc(64 * 1024);
        let written = 0;
        while (client.closeReason === undefined && written < 4096) {
          written++;
          if (client.write(frame)) {
            if (written % 16 === 0) await ctx.h.advance(1);
          } else {
            const drains = c.drains;
            await ctx.until(
              () => c.drains > drains || client.closeReason !== undefined,
              'drain or close',
              5_000,
            );
          }
        }
        assert.equal(client.closeReason?.code, 'ERR_WRITE_TIMEOUT');
        assert.equal(client.closeReason?.initiator, 'local');
        assert.ok(client.pendingFrames > 0, 'frames not handed over are still pending');
        assert.equal(sum(c.flushed) + client.pendingFrames, written);
        assert.equal(c.closes.length, 1);
      }));

    test('an oversized frame closes only that connection with ERR_FRAME_TOO_LARGE', () =>
      withHarness(makeHarness, { maxFrameBytes: 1024 }, async (ctx) => {
        const { listener, accepted } = await ctx.listen();
        const bad = await open(ctx, listener.address, accepted);
        const good = await open(ctx, listener.address, accepted);
        bad.client.write(Buffer.alloc(1025));
        await ctx.until(
          () => bad.s.closes.length > 0 && bad.c.closes.length > 0,
          'the bad connection to close',
        );
        assert.equal(bad.server.closeReason?.code, 'ERR_FRAME_TOO_LARGE');
        assert.equal(bad.server.closeReason?.initiator, 'local');
        assert.equal(bad.s.frames.length, 0);
        assert.equal(bad.client.closeReason?.initiator, 'remote');
        assert.ok(REMOTE_CLOSE_CODES.includes(bad.client.closeReason!.code));
        good.client.write(Buffer.alloc(1024, 7));
        good.server.write(Buffer.alloc(10, 8));
        await ctx.until(
          () => good.s.frames.length === 1 && good.c.frames.length === 1,
          'the other connection',
        );
        assert.equal(good.s.frames[0]!.length, 1024);
        assert.equal(good.server.closeReason, undefined);
        await ctx.until(() => listener.connectionCount === 1, 'one inbound connection left');
        const third = await open(ctx, listener.address, accepted);
        third.client.write(Buffer.from('still serving'));
        await ctx.until(() => third.s.frames.length === 1, 'a new connection');
        good.client.close();
        third.client.close();
      }));

    test('connect to an address nobody listens on fails fast with ERR_CONNECT_REFUSED', () =>
      withHarness(makeHarness, {}, async (ctx) => {
        const listener = await ctx.h.server.listen(ctx.h.listenAddress(), { onConnection: () => {} });
        const address = listener.address;
        await listener.close();
        const started = performance.now();
        await assert.rejects(ctx.h.client.connect(address, 'direct'), (e) =>
          isPeerpostError(e, 'ERR_CONNECT_REFUSED'),
        );
        assert.ok(performance.now() - started < 2000, 'refused within 2 s of real time');
      }));

    test('kinds are routed by ALPN; a kind the listener does not serve is refused', () =>
      withHarness(makeHarness, {}, async (ctx) => {
        const all = await ctx.listen();
        for (const kind of ['direct', 'subscribe-node', 'subscribe-proxy'] as const) {
          const p = await open(ctx, all.listener.address, all.accepted, kind);
          assert.equal(p.client.kind, kind);
          assert.equal(p.server.kind, kind);
          p.client.close();
        }
        const some = await ctx.listen(['subscribe-node', 'subscribe-proxy']);
        const p = await open(ctx, some.listener.address, some.accepted, 'subscribe-proxy');
        assert.equal(p.server.kind, 'subscribe-proxy');
        await assert.rejects(ctx.h.client.connect(some.listener.address, 'direct'), (e) =>
          isPeerpostError(e, 'ERR_ALPN_MISMATCH'),
        );
        p.client.write(Buffer.from('x'));
        await ctx.until(() => p.s.frames.length === 1, 'the routed connection to keep working');
        p.client.close();
      }));

    test('identities are reported on both ends and pinning refuses the wrong peer', () =>
      withHarness(makeHarness, {}, async (ctx) => {
        const { listener, accepted } = await ctx.listen();
        const { serverIdentity, clientIdentity } = ctx.h;
        const p = await open(ctx, listener.address, accepted);
        assert.equal(p.client.remoteIdentity.certHash, serverIdentity.certHash);
        assert.equal(p.client.remoteIdentity.shortId, serverIdentity.certHash.slice(0, 4));
        assert.equal(p.server.remoteIdentity.certHash, clientIdentity.certHash);
        assert.equal(p.client.remoteAddress, listener.address);
        assert.equal(p.server.remoteAddress, p.client.localAddress);
        const pinned = await ctx.h.client.connect(listener.address, 'direct', {
          expectedIdentity: { certHash: serverIdentity.certHash },
        });
        pinned.attach(recorder());
        await assert.rejects(
          ctx.h.client.connect(listener.address, 'direct', {
            expectedIdentity: { certHash: 'ab'.repeat(32) },
          }),
          (e) => isPeerpostError(e, 'ERR_IDENTITY_MISMATCH'),
        );
        pinned.close();
        p.client.close();
      }));

    test('listener.close() closes its inbound connections and resolves', () =>
      withHarness(makeHarness, {}, async (ctx) => {
        const { listener, accepted } = await ctx.listen();
        const a = await open(ctx, listener.address, accepted);
        const b = await open(ctx, listener.address, accepted);
        assert.equal(listener.connectionCount, 2);
        let closed = false;
        void listener.close().then(() => {
          closed = true;
        });
        await ctx.until(() => closed, 'listener.close()');
        assert.equal(listener.connectionCount, 0);
        assert.ok(a.server.closeReason !== undefined && b.server.closeReason !== undefined);
        await ctx.until(() => a.c.closes.length === 1 && b.c.closes.length === 1, 'clients to see the close');
        assert.equal(a.client.closeReason?.initiator, 'remote');
        await assert.rejects(ctx.h.client.connect(listener.address, 'direct'), (e) =>
          isPeerpostError(e, 'ERR_CONNECT_REFUSED'),
        );
      }));

    // The optional fast paths (writeEnvelope, writePlain, writeFrames): checked on every transport that has them.
    test('writeEnvelope, writePlain and writeFrames: the bytes of write(), in order with it, counted by onFlushed', (t) =>
      withHarness(makeHarness, {}, async (ctx) => {
        const { listener, accepted } = await ctx.listen();
        const { client, c, s } = await open(ctx, listener.address, accepted);
        const writeEnvelope = client.writeEnvelope?.bind(client);
        const writeFrames = client.writeFrames?.bind(client);
        const writePlain = client.writePlain?.bind(client);
        let plain = 0;
        if (writeEnvelope === undefined && writeFrames === undefined) {
          t.skip('this transport has no fast path');
          client.close();
          return;
        }
        // Small and large (past any slab or by-reference threshold), between plain writes.
        const sizes = [1, 64, 1000, 20_000, 70_000, 64, 5, 200_000, 64, 300];
        const sent: Buffer[] = [];
        let run: Buffer[] = [];
        const writeRun = (): void => {
          if (run.length === 0) return;
          const frames = framesOf(run);
          if (writeFrames !== undefined) writeFrames(frames, run.length);
          else for (const b of run) client.write(b);
          run = [];
        };
        for (let round = 0; round < 12; round++) {
          for (const [k, size] of sizes.entries()) {
            const i = round * sizes.length + k;
            const e = envelopeOf(i, size);
            const bytes = encodeEnvelope(e);
            sent.push(bytes);
            if (i % 5 === 3 || i % 5 === 4) {
              run.push(bytes); // runs of one or two framed messages
              if (i % 5 === 4) writeRun();
              continue;
            }
            writeRun();
            if (i % 5 === 1 || writeEnvelope === undefined) client.write(bytes);
            else if (i % 5 === 2 && writePlain !== undefined && e.directReceiver === undefined) {
              // A plain message (no direct receiver), given by its fields.
              const size = plainEnvelopeSize(e.id, e.label, e.data.length);
              writePlain(size, Number(e.deliveryStartTimestampMs), e.id, e.label, e.data);
              plain++;
            } else writeEnvelope(e, encodedEnvelopeSize(e));
            // The caller reuses its envelope at once: what was written must not change.
            (e.data as Buffer).fill(0xee);
            e.id = 'changed';
          }
          writeRun();
          if (round % 3 === 0) await ctx.h.advance(1);
        }
        await ctx.until(() => s.frames.length === sent.length, 'every frame');
        for (let i = 0; i < sent.length; i++) assert.ok(s.frames[i]!.equals(sent[i]!), `frame ${i} intact`);
        if (writePlain !== undefined) assert.ok(plain >= 10, `${plain} frames written by writePlain`);
        await ctx.until(() => sum(c.flushed) === sent.length, 'onFlushed for every frame');
        assert.equal(client.pendingFrames, 0);
        assert.equal(client.bufferedBytes, 0);
        client.close();
      }));

    test('writeEnvelope and writeFrames report backpressure like write(), then drain', (t) =>
      withHarness(makeHarness, { highWaterMarkBytes: 64 * 1024 }, async (ctx) => {
        const { listener, accepted } = await ctx.listen();
        const { client, c, s } = await open(ctx, listener.address, accepted);
        if (client.writeEnvelope === undefined || client.writeFrames === undefined) {
          t.skip('this transport lacks a fast path');
          client.close();
          return;
        }
        const e = envelopeOf(0, 1000);
        const size = encodedEnvelopeSize(e);
        let n = 0;
        while (client.writeEnvelope(e, size)) n++;
        n++;
        assert.equal(n, Math.ceil((64 * 1024) / (size + 4)), 'false exactly at the mark');
        assert.ok(client.bufferedBytes >= 64 * 1024);
        assert.equal(client.pendingFrames, n);
        const frame = framesOf([encodeEnvelope(e)]);
        assert.equal(client.writeFrames(frame, 1), false, 'writeFrames above the mark');
        n++;
        assert.equal(client.pendingFrames, n, 'queued all the same');
        await ctx.until(() => c.drains > 0, 'onDrain');
        await ctx.until(() => s.frames.length === n, 'every frame');
        assert.ok(s.frames.every((f) => f.equals(encodeEnvelope(e))));
        await ctx.until(() => sum(c.flushed) === n, 'onFlushed for every frame');
        client.close();
      }));

    test('writeFrames rejects framing that does not add up before anything is queued', (t) =>
      withHarness(makeHarness, {}, async (ctx) => {
        const { listener, accepted } = await ctx.listen();
        const { client, s } = await open(ctx, listener.address, accepted);
        if (client.writeFrames === undefined) {
          t.skip('this transport has no writeFrames');
          client.close();
          return;
        }
        const good = framesOf([Buffer.from('hello')]);
        const bad: [Buffer, number][] = [
          [good, 2], // fewer frames than claimed
          [Buffer.concat([good, good]), 1], // more
          [good.subarray(0, good.length - 1), 1], // the length runs past the end
          [Buffer.from([0, 0, 0, 0]), 1], // an empty frame is a keepalive, not a message
          [Buffer.concat([good, Buffer.from([0, 0])]), 1], // a partial prefix left over
          [Buffer.concat([good, framesOf([Buffer.alloc(20_000, 1)]).subarray(0, 10_000)]), 2], // large, cut
          [Buffer.alloc(0), 0],
        ];
        for (const [bytes, count] of bad) {
          assert.throws(
            () => client.writeFrames!(bytes, count),
            (err) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
          );
        }
        assert.equal(client.pendingFrames, 0, 'nothing was queued');
        assert.equal(client.bufferedBytes, 0);
        assert.equal(client.writeFrames(Buffer.concat([good, good]), 2), true);
        client.write(Buffer.from('after'));
        await ctx.until(() => s.frames.length === 3, 'the good frames');
        await ctx.h.advance(20);
        assert.deepEqual(
          s.frames.map((f) => f.toString()),
          ['hello', 'hello', 'after'],
          'no byte of a rejected call reached the peer',
        );
        client.close();
        assert.equal(client.writeFrames(good, 1), false, 'a closed connection takes nothing');
        assert.throws(
          () => client.writeFrames!(good, 3),
          (err) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
        );
        if (client.writeEnvelope !== undefined) {
          const e = envelopeOf(1, 10);
          assert.equal(client.writeEnvelope(e, encodedEnvelopeSize(e)), false);
        }
        if (client.writePlain !== undefined) {
          const size = plainEnvelopeSize('m-1', 'Odd', 10);
          assert.equal(client.writePlain(size, 1, 'm-1', 'Odd', new Uint8Array(10)), false);
        }
      }));
  });
}
