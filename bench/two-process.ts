/**
 * Two processes, as peerpost is deployed: the sender in this process, the receiver in a
 * child process (bench/two-process-child.ts, forked with `--import tsx`), over mutual TLS
 * on 127.0.0.1 (port 0), through the public API (`createNetwork`, `generateCredentials`,
 * `certificateHash` from src/index.ts). Compared with a raw node:tls baseline measured in
 * the same run, also in two processes, with the same certificates.
 *
 *   npm run bench:two [-- [--quick] [--acks] [--out=FILE]]
 *
 * Systems (each one its own receiving child process; the senders all live here):
 * - `raw TLS`: node:tls 1.3, mutual authentication, each side pinning the other's
 *   certificate; 4-byte length-prefixed frames, all frames of a tick in one write of up to
 *   1 MiB, then `setImmediate` (or `drain` on backpressure) — bench/systems/pump.ts, the
 *   batched baseline of BENCHMARKS.md; the receiver counts frames. Latency: a second
 *   connection (ALPN `bench-echo`) whose frames the child echoes.
 * - `peerpost`: two `createNetwork` nodes with default limits (compression off), the
 *   sender looping `if (!net.writable(peer)) await net.ready(peer); net.send(peer, ...)`
 *   and the receiver counting in `onMessage`. Latency: `net.request()` answered with
 *   `msg.reply()`.
 * - `peerpost + metrics`: the same with `createPrometheusMetrics()` as `metrics` in both
 *   processes.
 * - with `--acks` (issue 20): `peerpost acked`, the `peerpost` system with acknowledged
 *   delivery on the sender (`acks: { enabled: true }`, default window; the receiver
 *   accepts acks by default): its outcomes are `delivered`, and a table of the ratios
 *   acked / plain (`peerpost`) closes the report.
 *
 * Throughput for 64 B, 1 KiB, 64 KiB: a warm-up sizes each system's round to about
 * ROUND_MS, then ROUNDS rounds round-robin (the order rotating each round); a round's
 * time runs from the first send to the child's IPC report that it has counted every
 * message of the round. Latency: sequential 64 B round trips, p50/p99 per round, median
 * over rounds. Each throughput round also records the CPU time of both processes (per
 * message and in % of a core). At the end every system must have delivered exactly what it sent (drops
 * are reported), every child must exit by itself after closing, and so must this process.
 * Results: bench/results/two-process-<date>.json (or `--out`), and a table on stdout.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { dirname } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import {
  type Credentials,
  certificateHash,
  createNetwork,
  createPrometheusMetrics,
  generateCredentials,
  type Network,
} from '../src/index.js';
import { bounded, payloadOf, SIZES } from './harness.js';
import { type Failure, type Figure, machine, median, percentile, quick } from './lib.js';
import { suiteTable } from './report.js';
import { FrameReader } from './systems/frames.js';
import { BATCH_BYTES, BatchPump, socketSink } from './systems/pump.js';
import {
  ALPN_COUNT,
  ALPN_ECHO,
  type ChildMessage,
  type ChildStats,
  NO_COMPRESSION,
  type ParentMessage,
  sumMetric,
} from './two-process-shared.js';

const CHILD = fileURLToPath(new URL('./two-process-child.ts', import.meta.url));
const ROUNDS = 3;
/** Target length of one throughput round. */
const ROUND_MS = quick ? 250 : 1000;
/** Sequential round trips per latency round (half as many to warm up). */
const RTT_PER_ROUND = quick ? 500 : 3000;
/** Any single step (setup, a round, close) longer than this fails the system. */
const STEP_MS = 60_000;
const PEER = 'receiver';

const args = process.argv.slice(2);
const outArg = args.find((a) => a.startsWith('--out='))?.slice('--out='.length);
const failures: Failure[] = [];

/** The IPC link to one receiving child: post a message, wait for a reply of some type. */
class ChildLink {
  readonly #waiters = new Map<string, { resolve: (m: ChildMessage) => void; reject: (e: Error) => void }>();
  #error: Error | undefined;
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'error') return this.#fail(new Error(`${name} child: ${m.error}`));
      const w = this.#waiters.get(m.type);
      this.#waiters.delete(m.type);
      w?.resolve(m);
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#fail(new Error(`${name} child exited (${code ?? signal})`));
        resolve(code);
      });
    });
  }

  #fail(err: Error): void {
    this.#error ??= err;
    for (const w of this.#waiters.values()) w.reject(err);
    this.#waiters.clear();
  }

  /** Resolves with the next message of `type` (register before posting what causes it). */
  wait<T extends ChildMessage['type']>(type: T): Promise<Extract<ChildMessage, { type: T }>> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#waiters.set(type, { resolve: resolve as (m: ChildMessage) => void, reject });
    });
  }

  post(m: ParentMessage): void {
    if (this.child.connected) this.child.send(m);
  }

  async ask<T extends ChildMessage['type']>(
    m: ParentMessage,
    type: T,
  ): Promise<Extract<ChildMessage, { type: T }>> {
    const reply = this.wait(type);
    this.post(m);
    return bounded(reply, STEP_MS, `${this.name}: ${m.type}`);
  }
}

/** The sending side of one system, with its receiving child. */
interface System {
  readonly name: string;
  readonly link: ChildLink;
  /** Messages sent so far (throughput only). */
  sent: number;
  failed: boolean;
  /**
   * Sends `count` messages; resolves when the child has counted all of them, with the
   * child's cumulative CPU time in µs at that moment.
   */
  transfer(count: number, payload: Buffer): Promise<number>;
  /** One request, resolves on its reply. */
  roundTrip(payload: Buffer): Promise<void>;
  /** The sender's own record of what it could not send (peerpost: outcomes other than `written`). */
  senderStats(): Promise<Record<string, number>>;
  closeSender(): Promise<void>;
}

interface Definition {
  name: string;
  kind: 'raw' | 'peerpost';
  metrics: boolean;
  /** The sender sends with acknowledged delivery (`--acks`). */
  acks?: boolean;
}

const withAcks = args.includes('--acks');
const PLAIN = 'peerpost';
const ACKED = 'peerpost acked';

const DEFINITIONS: readonly Definition[] = [
  { name: 'raw TLS', kind: 'raw', metrics: false },
  { name: 'peerpost', kind: 'peerpost', metrics: false },
  { name: 'peerpost + metrics', kind: 'peerpost', metrics: true },
  ...(withAcks ? [{ name: ACKED, kind: 'peerpost', metrics: false, acks: true } as const] : []),
];

async function startChild(def: Definition, receiver: Credentials, sender: Credentials) {
  const child = fork(CHILD, [def.kind, ...(def.metrics ? ['--metrics'] : [])], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const link = new ChildLink(def.name, child);
  const { port } = await link.ask(
    { type: 'init', credentials: receiver, peerCertPem: sender.certPem },
    'listening',
  );
  return { link, port };
}

/** Waits for the child to count up to `total` while `send()` sends; resolves with the child's CPU µs. */
async function counted(link: ChildLink, total: number, send: () => Promise<void> | void): Promise<number> {
  const done = link.wait('done');
  link.post({ type: 'expect', total });
  await send();
  return (await done).cpuUs;
}

function tlsConnect(port: number, own: Credentials, peerCertPem: string, alpn: string): Promise<TLSSocket> {
  const pinned = new X509Certificate(peerCertPem).fingerprint256;
  return new Promise((resolve, reject) => {
    const socket = connect(
      {
        // node:tls has no noDelay option: hand it a TCP socket that has it.
        socket: netConnect({ host: '127.0.0.1', port, noDelay: true }),
        key: own.keyPem,
        cert: own.certPem,
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
        rejectUnauthorized: false,
        ALPNProtocols: [alpn],
      },
      () => {
        socket.off('error', reject);
        if (socket.getPeerX509Certificate()?.fingerprint256 !== pinned || socket.alpnProtocol !== alpn) {
          socket.destroy();
          reject(new Error('raw TLS: unexpected server certificate or ALPN'));
          return;
        }
        socket.on('error', () => {});
        resolve(socket);
      },
    );
    socket.once('error', reject);
  });
}

async function openRaw(def: Definition, receiver: Credentials, sender: Credentials): Promise<System> {
  const { link, port } = await startChild(def, receiver, sender);
  const stream = await tlsConnect(port, sender, receiver.certPem, ALPN_COUNT);
  const echo = await tlsConnect(port, sender, receiver.certPem, ALPN_ECHO);
  const pump = new BatchPump(socketSink(stream), BATCH_BYTES);
  let reply: (() => void) | undefined;
  const replies = new FrameReader(() => {
    const r = reply;
    reply = undefined;
    r?.();
  });
  echo.on('data', (chunk: Buffer) => replies.push(chunk));
  const system: System = {
    name: def.name,
    link,
    sent: 0,
    failed: false,
    async transfer(count, payload) {
      const total = system.sent + count;
      system.sent = total;
      return counted(link, total, () => pump.start(count, payload));
    },
    roundTrip(payload) {
      const out = Buffer.allocUnsafe(4 + payload.length);
      out.writeUInt32BE(payload.length, 0);
      payload.copy(out, 4);
      const p = new Promise<void>((resolve) => {
        reply = resolve;
      });
      echo.write(out);
      return p;
    },
    senderStats: async () => ({}),
    async closeSender() {
      const gone = [stream, echo].map((s) => new Promise<void>((r) => s.once('close', () => r())));
      stream.destroy();
      echo.destroy();
      await Promise.all(gone);
    },
  };
  return system;
}

async function openPeerpost(def: Definition, receiver: Credentials, sender: Credentials): Promise<System> {
  const { link, port } = await startChild(def, receiver, sender);
  const metrics = def.metrics ? createPrometheusMetrics() : undefined;
  const receiverHash = certificateHash(receiver.certPem);
  const net: Network = await createNetwork({
    nodeId: 'sender',
    credentials: sender,
    trust: { certHashes: [receiverHash] },
    listen: '127.0.0.1:0',
    topology: { [PEER]: [{ address: `127.0.0.1:${port}`, certHash: receiverHash }] },
    compressThresholdBytes: NO_COMPRESSION,
    ...(metrics ? { metrics } : {}),
    ...(def.acks ? { acks: { enabled: true } } : {}),
  });
  const system: System = {
    name: def.name,
    link,
    sent: 0,
    failed: false,
    async transfer(count, payload) {
      const total = system.sent + count;
      system.sent = total;
      return counted(link, total, async () => {
        // The backpressure loop of examples/backpressure.ts: never a queue_full drop.
        for (let i = 0; i < count; i++) {
          if (!net.writable(PEER)) await net.ready(PEER);
          net.send(PEER, 'Bench', payload);
        }
      });
    },
    async roundTrip(payload) {
      await net.request(PEER, 'Ping', payload, { timeoutMs: 10_000 });
    },
    async senderStats() {
      const out: Record<string, number> = {};
      // `delivered` is the acked system's `written` (and more): not a failure either.
      for (const [k, v] of Object.entries(net.stats().outcomes))
        if (k !== 'written' && k !== 'delivered') out[k] = v;
      if (metrics) out.metricSentBytes = await sumMetric(metrics, 'peerpost_sent_bytes_total');
      return out;
    },
    closeSender: () => net.close(),
  };
  return system;
}

function fail(suite: string, s: System, err: unknown): void {
  s.failed = true;
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  failures.push({ suite, system: s.name, error });
  process.stderr.write(`  ${s.name}: FAILED ${error}\n`);
}

/** Systems in the order of round `r` (rotated, so none is always first or last). */
const rotate = <T>(xs: readonly T[], r: number): T[] => xs.map((_, i) => xs[(i + r) % xs.length]!);

async function timed(run: () => Promise<unknown>, what: string): Promise<number> {
  const t0 = performance.now();
  await bounded(run(), STEP_MS, what);
  return performance.now() - t0;
}

/**
 * CPU time of each process during the throughput rounds (median over rounds): in % of one
 * core, and in µs per message (less dependent on what else the machine runs).
 */
interface CpuShare {
  system: string;
  size: string;
  senderPercent: number;
  receiverPercent: number;
  senderUsPerMsg: number;
  receiverUsPerMsg: number;
}

async function measureThroughput(systems: readonly System[], cpu: CpuShare[]): Promise<Figure[]> {
  const suite = 'two-process throughput';
  const figures: Figure[] = [];
  for (const size of SIZES) {
    const t0 = performance.now();
    const payload = payloadOf(size.bytes);
    const counts = new Map<System, number>();
    const rates = new Map<System, number[]>();
    /** Per round: [sender µs, receiver µs, wall ms, messages]. */
    const cpuRounds = new Map<System, [number, number, number, number][]>();
    /** The child's cumulative CPU µs after its last transfer (it idles while the others run). */
    const childCpu = new Map<System, number>();
    for (const s of systems) {
      if (s.failed) continue;
      try {
        // A first short transfer opens the connection (peerpost connects on first send)
        // and warms the code; the second sizes the rounds.
        const first = Math.max(20, Math.min(5_000, Math.ceil((1024 * 1024) / size.bytes)));
        await timed(() => s.transfer(first, payload), `${s.name} ${size.label} warm-up`);
        const warm = Math.max(50, Math.min(50_000, Math.ceil((8 * 1024 * 1024) / size.bytes)));
        const ms = await timed(
          async () => childCpu.set(s, await s.transfer(warm, payload)),
          `${s.name} ${size.label} warm-up`,
        );
        counts.set(s, Math.max(50, Math.round((warm * ROUND_MS) / ms)));
        rates.set(s, []);
        cpuRounds.set(s, []);
      } catch (err) {
        fail(suite, s, err);
      }
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of rotate(systems, r)) {
        if (s.failed) continue;
        const count = counts.get(s)!;
        try {
          const own = process.cpuUsage();
          let child = 0;
          const ms = await timed(
            async () => {
              child = await s.transfer(count, payload);
            },
            `${s.name} ${size.label} round ${r + 1}`,
          );
          const used = process.cpuUsage(own);
          rates.get(s)!.push((count * 1000) / ms);
          cpuRounds.get(s)!.push([used.user + used.system, child - childCpu.get(s)!, ms, count]);
          childCpu.set(s, child);
        } catch (err) {
          fail(suite, s, err);
        }
      }
    }
    for (const s of systems) {
      const rs = rates.get(s);
      if (s.failed || !rs) continue;
      figures.push({
        suite,
        name: `${s.name} ${size.label}`,
        system: s.name,
        case: size.label,
        value: median(rs),
        unit: 'msg/s',
        rounds: rs,
        baseline: `raw TLS ${size.label}`,
      });
      const cr = cpuRounds.get(s)!;
      const med = (f: (x: [number, number, number, number]) => number, digits: number) =>
        Number(median(cr.map(f)).toFixed(digits));
      cpu.push({
        system: s.name,
        size: size.label,
        senderPercent: med(([us, , ms]) => us / (10 * ms), 0),
        receiverPercent: med(([, us, ms]) => us / (10 * ms), 0),
        senderUsPerMsg: med(([us, , , n]) => us / n, 3),
        receiverUsPerMsg: med(([, us, , n]) => us / n, 3),
      });
    }
    process.stderr.write(`  throughput ${size.label}: ${Math.round(performance.now() - t0)} ms\n`);
  }
  return figures;
}

async function measureLatency(systems: readonly System[]): Promise<Figure[]> {
  const suite = 'two-process latency';
  const payload = payloadOf(64);
  const t0 = performance.now();
  const loop = async (s: System, n: number, out?: number[]) => {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await s.roundTrip(payload);
      out?.push((performance.now() - t) * 1000);
    }
  };
  const p50 = new Map<System, number[]>();
  const p99 = new Map<System, number[]>();
  for (const s of systems) {
    if (s.failed) continue;
    try {
      await bounded(loop(s, RTT_PER_ROUND >> 1), STEP_MS, `${s.name} latency warm-up`);
      p50.set(s, []);
      p99.set(s, []);
    } catch (err) {
      fail(suite, s, err);
    }
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of rotate(systems, r)) {
      if (s.failed) continue;
      try {
        const times: number[] = [];
        await bounded(loop(s, RTT_PER_ROUND, times), STEP_MS, `${s.name} latency round ${r + 1}`);
        p50.get(s)!.push(percentile(times, 50));
        p99.get(s)!.push(percentile(times, 99));
      } catch (err) {
        fail(suite, s, err);
      }
    }
  }
  const figures: Figure[] = [];
  for (const s of systems) {
    if (s.failed) continue;
    for (const [label, rs] of [
      ['p50', p50.get(s)!],
      ['p99', p99.get(s)!],
    ] as const) {
      figures.push({
        suite,
        name: `${s.name} ${label}`,
        system: s.name,
        case: label,
        value: median(rs),
        unit: 'µs',
        rounds: rs,
        baseline: `raw TLS ${label}`,
        lowerIsBetter: true,
      });
    }
  }
  process.stderr.write(`  latency: ${Math.round(performance.now() - t0)} ms\n`);
  return figures;
}

interface Check {
  system: string;
  sent: number;
  delivered: number;
  /** sent - delivered: messages the receiving application never had (must be 0). */
  drops: number;
  sender: Record<string, number>;
  receiver: ChildStats;
}

/** Every message sent must have reached the receiving application, once. */
async function check(s: System): Promise<Check> {
  const { stats } = await s.link.ask({ type: 'stats' }, 'stats');
  const sender = await s.senderStats();
  const c: Check = {
    system: s.name,
    sent: s.sent,
    delivered: stats.delivered,
    drops: s.sent - stats.delivered,
    sender,
    receiver: stats,
  };
  const problems: string[] = [];
  if (c.drops !== 0) problems.push(`sent ${c.sent}, delivered ${c.delivered}`);
  for (const [k, v] of Object.entries(sender))
    if (k !== 'metricSentBytes' && v > 0) problems.push(`${k} ${v}`);
  if (stats.deduplicated || stats.undecodable || stats.droppedSlowReader) {
    problems.push(
      `receiver deduplicated ${stats.deduplicated}, undecodable ${stats.undecodable}, dropped ${stats.droppedSlowReader}`,
    );
  }
  if (s.name.includes('metrics') && !(sender.metricSentBytes! > 0 && stats.metricReceivedBytes! > 0)) {
    problems.push('metrics on, but the byte counters did not move');
  }
  if (problems.length > 0)
    failures.push({ suite: 'two-process check', system: s.name, error: problems.join('; ') });
  return c;
}

/** Closes the sender, then the child, which must exit by itself. */
async function close(s: System): Promise<void> {
  try {
    await bounded(s.closeSender(), STEP_MS, `${s.name} sender close`);
    await s.link.ask({ type: 'close' }, 'closed');
    const exited = await Promise.race([
      s.link.exited.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 10_000).unref()),
    ]);
    if (!exited) throw new Error('the child did not exit within 10 s of closing (something left open)');
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    failures.push({ suite: 'two-process close', system: s.name, error });
  } finally {
    if (s.link.child.exitCode === null && s.link.child.signalCode === null) s.link.child.kill('SIGKILL');
  }
}

function ratioTable(figures: readonly Figure[]): string {
  return suiteTable(figures);
}

/** The acked system's figures next to the plain one's (same run), with their ratio. */
function acksVsPlain(
  figures: readonly Figure[],
): { case: string; unit: string; plain: number; acked: number; ratio: number }[] {
  const out: { case: string; unit: string; plain: number; acked: number; ratio: number }[] = [];
  for (const acked of figures.filter((f) => f.system === ACKED)) {
    const plain = figures.find((f) => f.system === PLAIN && f.suite === acked.suite && f.case === acked.case);
    if (plain === undefined) continue;
    const label = `${acked.suite === 'two-process latency' ? 'RTT ' : ''}${acked.case ?? acked.name}`;
    out.push({
      case: label,
      unit: acked.unit,
      plain: plain.value,
      acked: acked.value,
      ratio: acked.value / plain.value,
    });
  }
  return out;
}

/** A few significant digits of a time in µs. */
const us = (x: number): string => x.toFixed(x >= 10 ? 0 : x >= 1 ? 1 : 2);

async function main(): Promise<void> {
  const started = performance.now();
  const [receiverCreds, senderCreds] = await Promise.all([generateCredentials(), generateCredentials()]);
  const systems: System[] = [];
  const checks: Check[] = [];
  const cpu: CpuShare[] = [];
  let figures: Figure[] = [];
  try {
    for (const def of DEFINITIONS) {
      const open = def.kind === 'raw' ? openRaw : openPeerpost;
      systems.push(await bounded(open(def, receiverCreds, senderCreds), STEP_MS, `${def.name} setup`));
    }
    figures = [...(await measureThroughput(systems, cpu)), ...(await measureLatency(systems))];
    for (const s of systems) checks.push(await check(s));
  } catch (err) {
    failures.push({
      suite: 'two-process',
      system: 'run',
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
  } finally {
    for (const s of systems) await close(s);
  }
  const durationMs = Math.round(performance.now() - started);
  const date = new Date().toISOString();
  const file = outArg ?? `bench/results/two-process-${date.slice(0, 10)}${quick ? '-quick' : ''}.json`;
  const out = {
    date,
    quick,
    machine: machine(),
    command: `npm run bench:two${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
    durationMs,
    method: {
      processes: 'sender in the parent, receiver in a forked child (one child per system)',
      rounds: ROUNDS,
      roundMs: ROUND_MS,
      roundTripsPerRound: RTT_PER_ROUND,
      window: {
        'raw TLS': `one write per tick of up to ${BATCH_BYTES} bytes of frames, then wait for drain`,
        peerpost:
          'library backpressure with default limits: frames go into the connection write batch up to the ' +
          '1 MiB transport high-water mark, then into the peer queue (peerQueueCapacity 100); ' +
          'writable() is false at 100 queued, ready() resolves at 50',
      },
      compression: 'off (compressThresholdBytes = MAX_SAFE_INTEGER)',
      ...(withAcks
        ? {
            acks: `${ACKED}: the ${PLAIN} system with acks: { enabled: true } on the sender (default window: 32768 messages / 8 MiB in flight per peer address waiting for their ack); the receiver accepts acks by default`,
          }
        : {}),
    },
    ...(withAcks ? { acksVsPlain: acksVsPlain(figures) } : {}),
    figures,
    cpu,
    checks,
    failures,
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);

  const m = machine();
  console.log(`machine: ${m.cpus} x ${m.cpuModel}, Node ${m.node}, ${quick ? 'quick' : 'full'} run\n`);
  for (const suite of ['two-process throughput', 'two-process latency']) {
    const fs = figures.filter((f) => f.suite === suite);
    if (fs.length > 0) console.log(`${suite}\n\n${ratioTable(fs)}\n`);
  }
  if (cpu.length > 0) {
    console.log(
      'CPU during the throughput rounds (median): sender / receiver, µs per message (% of a core)\n',
    );
    console.log(`| system | ${SIZES.map((z) => z.label).join(' | ')} |`);
    console.log(`| --- |${' --- |'.repeat(SIZES.length)}`);
    for (const name of new Set(cpu.map((c) => c.system))) {
      const cells = SIZES.map((z) => cpu.find((c) => c.system === name && c.size === z.label));
      console.log(
        `| ${name} | ${cells
          .map((c) =>
            c
              ? `${us(c.senderUsPerMsg)} / ${us(c.receiverUsPerMsg)} µs (${c.senderPercent}% / ${c.receiverPercent}%)`
              : '',
          )
          .join(' | ')} |`,
      );
    }
    console.log('');
  }
  if (withAcks) {
    console.log(`acknowledged delivery (issue 20): ${ACKED} / ${PLAIN}, same run\n`);
    console.log(`| case | ${PLAIN} | ${ACKED} | acked / plain |`);
    console.log('| --- | --- | --- | --- |');
    for (const r of acksVsPlain(figures)) {
      const fmt = (v: number) => (r.unit === 'msg/s' ? `${Math.round(v)} msg/s` : `${us(v)} µs`);
      console.log(`| ${r.case} | ${fmt(r.plain)} | ${fmt(r.acked)} | ${r.ratio.toFixed(2)}x |`);
    }
    console.log('');
  }
  for (const c of checks) {
    console.log(`check ${c.system}: sent ${c.sent}, delivered ${c.delivered}, drops ${c.drops}`);
  }
  for (const f of failures) console.log(`FAILED: ${f.suite} / ${f.system}: ${f.error.split('\n')[0]}`);
  console.log(`\nresults: ${file} (${(durationMs / 1000).toFixed(1)} s)`);
  process.exitCode = failures.length > 0 ? 1 : 0;
  // Everything is closed: this process must now exit by itself. If a handle keeps it
  // alive, say so and fail rather than hang.
  setTimeout(() => {
    console.error('two-process bench: the process did not exit 10 s after closing everything');
    process.exit(1);
  }, 10_000).unref();
}

await main();
