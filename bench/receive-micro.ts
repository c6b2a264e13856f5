/**
 * The receive path of a direct connection, in one process and without a socket: chunks of
 * encoded frames go through a FrameDecoder (as the transport's), the hub's
 * InboundConnection (src/hub/inbound.ts), the IncomingReader (decode,
 * src/hub/incoming-reader.ts), a sink built like the network's (a NetworkMessage per
 * message, src/network/message.ts) and the node's incoming queue (src/network/inbox.ts)
 * to one listener, as in the receiver of bench/two-process.ts.
 *
 *   npx tsx bench/receive-micro.ts [--sizes=64,1024] [--chunk=16384] [--seconds=2] [--reader] [--metrics]
 *
 * `--chunk`: bytes per chunk (a TLS socket hands over one TLS record, 16 KiB, per read);
 * `--reader`: a `for await` reader instead of a listener (the messages of a chunk wait in
 * the queue until the reader takes them, before the next chunk); `--metrics`: the reader
 * counts into `createPrometheusMetrics()` (as production nodes run). Reports ns per message:
 * wall, and CPU of the whole process (on a busy machine the CPU figure is the steadier
 * one). For the garbage collector's share, run it with
 * `node --trace-gc-nvp --import tsx bench/receive-micro.ts` (bytes allocated per
 * scavenge, pauses, background work).
 */
import { Buffer } from 'node:buffer';
import { InboundConnection, type InboundOwner } from '../src/hub/inbound.js';
import { IncomingReader } from '../src/hub/incoming-reader.js';
import { createPrometheusMetrics } from '../src/metrics/prometheus.js';
import { noopMetrics } from '../src/metrics/types.js';
import { Inbox } from '../src/network/inbox.js';
import type { IncomingMessage } from '../src/network/incoming.js';
import { NetworkMessage } from '../src/network/message.js';
import type { Network } from '../src/network/network.js';
import type { Connection } from '../src/transport/types.js';
import { systemClock } from '../src/util/clock.js';
import { noopLogger } from '../src/util/logger.js';
import { encodeEnvelopeFrame, FrameDecoder } from '../src/wire/framing.js';

const args = process.argv.slice(2);
const arg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const SIZES = (arg('sizes') ?? '64,1024').split(',').map(Number);
const CHUNK = Number(arg('chunk') ?? 16 * 1024);
const SECONDS = Number(arg('seconds') ?? 2);
const READER = args.includes('--reader');
const METRICS = args.includes('--metrics');
/**
 * When the frames were sent and, for the reader, when each chunk is read: the same
 * millisecond, as on loopback. (Read times from the real clock would make every message
 * seconds old by the end of a run: the transfer-time histogram would search its buckets
 * up to the 5 s one, which a live node's messages never reach.)
 */
const SENT_AT_MS = Date.now();
const readClock = { ...systemClock, now: () => SENT_AT_MS };

/** Chunks of whole frames (`CHUNK` bytes at most each) of `count` messages of `size` bytes. */
function chunksOf(size: number, count: number): Buffer[] {
  const payload = Buffer.alloc(size, 7);
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(
      encodeEnvelopeFrame({
        deliveryStartTimestampMs: BigInt(SENT_AT_MS),
        id: `sender-1f3a9c20-${i.toString(36)}`,
        label: 'Bench',
        compressed: false,
        data: payload,
        lastSenderIsProxy: false,
      }),
    );
  }
  const chunks: Buffer[] = [];
  let run: Buffer[] = [];
  let bytes = 0;
  for (const f of frames) {
    if (bytes + f.length > CHUNK && run.length > 0) {
      chunks.push(Buffer.concat(run));
      run = [];
      bytes = 0;
    }
    run.push(f);
    bytes += f.length;
  }
  if (run.length > 0) chunks.push(Buffer.concat(run));
  return chunks;
}

function pipeline(onMessage: (m: NetworkMessage) => void) {
  const network = {} as Network;
  const inbox = new Inbox<NetworkMessage>(1_000_000, undefined, undefined, {
    capacityBytes: 64 * 1024 * 1024,
    sizeOf: (m) => m.data.byteLength + m.id.length,
  });
  if (!READER) inbox.on(onMessage);
  // As Network.#onIncoming for an uncompressed message without directReceiver.
  const sink = {
    push(msg: IncomingMessage): void {
      const env = msg.envelope;
      inbox.push(new NetworkMessage(network, env, env.data, msg.from, msg.receivedAtMs));
    },
  };
  const reader = new IncomingReader({
    incoming: sink,
    clock: readClock,
    metrics: METRICS ? createPrometheusMetrics() : noopMetrics,
    logger: noopLogger,
    clockSkewToleranceMs: 1000,
    maxTransferMs: 60_000,
  });
  const connection = {
    kind: 'direct',
    remoteAddress: '127.0.0.1:1',
    localAddress: '127.0.0.1:2',
    remoteIdentity: { certHash: 'ab'.repeat(32), shortId: 'abab', ownerKeys: [] },
    write: () => true,
  } as unknown as Connection;
  const owner = {
    reader,
    inboundClosed() {},
    protocolViolation(_: unknown, what: string) {
      throw new Error(`protocol violation: ${what}`);
    },
    ackStreams: {},
    shuttingDown: false,
    progress() {},
  } as unknown as InboundOwner;
  const inbound = new InboundConnection(owner, connection, 'sender', 100, { value: 0 }, Date.now());
  return { inbound, inbox };
}

async function measure(size: number): Promise<void> {
  const chunks = chunksOf(size, 20_000);
  let received = 0;
  let bytes = 0;
  const { inbound, inbox } = pipeline((m) => {
    received++;
    bytes += m.data[0]!;
  });
  const iterator = READER ? inbox[Symbol.asyncIterator]() : undefined;
  const decoder = new FrameDecoder();
  const onFrame = (chunk: Buffer, start: number, end: number) =>
    inbound.onFrameAt(chunk, start, end, SENT_AT_MS);
  const drain = async () => {
    while (iterator !== undefined && inbox.buffered > 0) {
      await iterator.next();
      received++;
    }
  };
  // One chunk at a time, as a socket hands them over: the reader (if any) takes what it
  // can between two chunks, as it does between two socket reads.
  const feed = async (rounds: number) => {
    for (let r = 0; r < rounds; r++) {
      for (const c of chunks) {
        decoder.pushRanges(c, onFrame);
        await drain();
      }
    }
  };
  // Warm up, then as many passes over the chunks as fit in SECONDS.
  await feed(5);
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const r0 = received;
  let passes = 0;
  while (process.hrtime.bigint() - t0 < BigInt(SECONDS * 1e9)) {
    await feed(1);
    passes++;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  const n = received - r0;
  if (n !== passes * 20_000) throw new Error(`received ${n} of ${passes * 20_000}`);
  console.log(
    `${size} B, ${CHUNK} B chunks, ${READER ? 'for await reader' : 'listener'}: ${(ns / n).toFixed(0)} ns/msg wall, ${(((cpu.user + cpu.system) * 1000) / n).toFixed(0)} ns/msg CPU (all threads) (${n} messages)`,
  );
  void bytes;
}

for (const size of SIZES) await measure(size);
