// The receive path counts the messages of a chunk as runs (src/hub/incoming-reader.ts,
// #tally): what it exposes must be what counting each message on its own exposes. The
// oracle here is a second registry fed message by message with the plain `inc()` /
// `observe()` calls of the Metrics interface, from the test's own timings.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { IncomingReader } from '../../src/hub/incoming-reader.js';
import { createPrometheusMetrics } from '../../src/metrics/prometheus.js';
import type { Labels, Metrics } from '../../src/metrics/types.js';
import type { MessageSource } from '../../src/network/incoming.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { noopLogger } from '../../src/util/logger.js';
import { encodeEnvelopeFrame, FRAME_PREFIX_BYTES } from '../../src/wire/framing.js';

const SKEW_MS = 1000;
const MAX_TRANSFER_MS = 60_000;

const FROM: MessageSource = {
  peerId: 'a',
  address: '127.0.0.1:1',
  identity: { certHash: 'ab'.repeat(32), shortId: 'abab', ownerKeys: [] },
  direction: 'inbound',
};

interface Arrival {
  /** The sender's timestamp, as an offset from the read time (negative: sent before it). */
  sentMsBeforeRead: number;
  label: string;
  payloadBytes: number;
  /** How long the application's listener takes (the fake clock moves during delivery). */
  listenerMs: number;
}

/** One chunk: frames read together at one time, delivered one after the other. */
interface Chunk {
  readAtMs: number;
  arrivals: Arrival[];
}

/** What counting each message on its own reports: the calls the reader made per message before. */
function perMessage(
  m: Metrics,
  readAt: number,
  sentAt: number,
  label: string,
  frameBytes: number,
  endAt: number,
) {
  const shown = label === 'chat' ? 'chat' : 'other';
  const transfer: Labels = { phase: 'IncomingTransfer', label: shown, mode: 'direct' };
  const buffer: Labels = { phase: 'IncomingBuffer', label: shown, mode: 'direct' };
  m.inc('peerpost_received_bytes_total', { label: shown, mode: 'direct' }, frameBytes);
  m.inc('peerpost_phase_started_total', transfer);
  const ms = readAt - sentAt;
  if (ms >= -SKEW_MS && ms <= MAX_TRANSFER_MS) {
    m.observe('peerpost_phase_duration_seconds', Math.max(ms, 0) / 1000, transfer);
  } else {
    m.inc('peerpost_errors_total', { kind: 'in_transfer_skew' });
  }
  m.inc('peerpost_phase_finished_total', transfer);
  m.inc('peerpost_phase_started_total', buffer);
  m.inc('peerpost_phase_finished_total', buffer);
  m.observe('peerpost_phase_duration_seconds', Math.max(0, endAt - readAt) / 1000, buffer);
}

async function run(chunks: Chunk[]): Promise<{ reader: string; oracle: string; delivered: number }> {
  const clock = new FakeClock(1_700_000_000_000);
  const metrics = createPrometheusMetrics();
  const oracle = createPrometheusMetrics();
  let delivered = 0;
  let listenerMs = 0;
  const reader = new IncomingReader({
    incoming: {
      push() {
        delivered++;
        clock.advance(listenerMs);
      },
    },
    clock,
    metrics,
    logger: noopLogger,
    clockSkewToleranceMs: SKEW_MS,
    maxTransferMs: MAX_TRANSFER_MS,
    knownLabels: ['chat'],
  });
  for (const chunk of chunks) {
    clock.advance(chunk.readAtMs);
    const readAt = clock.now();
    const frames = chunk.arrivals.map((a) =>
      encodeEnvelopeFrame({
        deliveryStartTimestampMs: BigInt(readAt + a.sentMsBeforeRead),
        id: `n-1-${delivered}`,
        label: a.label,
        compressed: false,
        data: new Uint8Array(a.payloadBytes),
        lastSenderIsProxy: false,
        directReceiver: undefined,
      }),
    );
    const buf = Buffer.concat(frames);
    let at = 0;
    chunk.arrivals.forEach((a, i) => {
      const frame = frames[i] as Buffer;
      listenerMs = a.listenerMs;
      assert.ok(reader.readAt(buf, at + FRAME_PREFIX_BYTES, at + frame.length, FROM, 'direct', readAt));
      perMessage(oracle, readAt, readAt + a.sentMsBeforeRead, a.label, frame.length, clock.now());
      at += frame.length;
    });
  }
  // Runs are reported at the end of the task, before anything else can read the registry.
  await Promise.resolve();
  return { reader: await metrics.metricsText(), oracle: await oracle.metricsText(), delivered };
}

const same = (n: number, a: Partial<Arrival> = {}): Arrival[] =>
  Array.from({ length: n }, () => ({
    sentMsBeforeRead: -3,
    label: 'chat',
    payloadBytes: 64,
    listenerMs: 0,
    ...a,
  }));

test('a chunk of messages measured alike reports as its messages one by one would', async () => {
  const r = await run([{ readAtMs: 5, arrivals: same(50) }]);
  assert.equal(r.delivered, 50);
  assert.match(
    r.reader,
    /peerpost_phase_started_total\{phase="IncomingTransfer",label="chat",mode="direct"\} 50/,
  );
  assert.equal(r.reader, r.oracle);
});

test('runs break on another series, another transfer or buffer time, and a skewed clock', async () => {
  const r = await run([
    {
      readAtMs: 5,
      arrivals: [
        ...same(3),
        ...same(2, { label: 'status' }), // an unknown label: series `other`
        ...same(2, { sentMsBeforeRead: -7 }),
        ...same(1, { sentMsBeforeRead: 5 * MAX_TRANSFER_MS }), // from the future: skew, no transfer time
        ...same(2, { sentMsBeforeRead: -2 * MAX_TRANSFER_MS }), // too old to be credible
        ...same(3, { listenerMs: 2 }), // a slow listener: each message's buffer time differs
        ...same(4, { payloadBytes: 1000 }), // same times, other sizes: one run, bytes summed
      ],
    },
    { readAtMs: 1, arrivals: same(3) },
    { readAtMs: 0, arrivals: [...same(2, { label: 'status', sentMsBeforeRead: -1 }), ...same(2)] },
  ]);
  assert.equal(r.delivered, 24);
  assert.match(r.reader, /peerpost_errors_total\{kind="in_transfer_skew"\} 3/);
  assert.equal(r.reader, r.oracle);
});

test('a random mix of arrivals reports as counting each message does', async () => {
  // A small deterministic generator: the same cases on every run.
  let seed = 7;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return (seed >>> 12) % n;
  };
  const chunks: Chunk[] = Array.from({ length: 40 }, () => ({
    readAtMs: next(3),
    arrivals: Array.from({ length: 1 + next(30) }, () => ({
      sentMsBeforeRead: [-1, -1, -1, -4, 2, -2 * MAX_TRANSFER_MS][next(6)] as number,
      label: ['chat', 'chat', 'status', 'x'][next(4)] as string,
      payloadBytes: [64, 64, 1024][next(3)] as number,
      listenerMs: [0, 0, 0, 0, 1][next(5)] as number,
    })),
  }));
  const r = await run(chunks);
  assert.ok(r.delivered > 100);
  assert.equal(r.reader, r.oracle);
});
