/**
 * Two processes, as peerpost is deployed: for each system, the sender in a fresh Node
 * process of its own (bench/two-process-sender.ts) and the receiver in another
 * (bench/two-process-child.ts), both forked with `--import tsx` and driven over IPC from
 * this process, over mutual TLS on 127.0.0.1 (port 0), through the public API
 * (`createNetwork`, `generateCredentials`, `certificateHash` from src/index.ts). Compared
 * with a raw node:tls baseline measured in the same run, also in two processes, with the
 * same certificates. (The fan-out systems, a publisher and 100 subscribers in one
 * child, run after the point-to-point systems have closed.)
 *
 *   npm run bench:two [-- [--quick] [--acks] [--out=FILE] [--only=NAME,...] [--window=small|large] [--sizes=64B,...] [--rounds=N] [--no-latency] [--no-throughput] [--no-fanout] [--no-alternatives] [--built] [--baseline=DIR] [--pin] [--profile-senders=DIR] [--profile-receivers=DIR] [--receiver-flags="--trace-gc"] [--sender-flags="--perf-basic-prof"]]
 *   npm run bench -- --two-process [same flags]   (the same, checked: bench/run.ts)
 *
 * `--only` runs only the named systems (e.g. `--only=peerpost --profile-senders=DIR` to
 * profile one sender), `--window` only one window, `--sizes` only those payload sizes;
 * `--no-fanout` and `--no-alternatives` leave those systems out. `--built`: peerpost's
 * processes import the built package (`dist/`, built with `tsc` at the start), as
 * deployed, instead of the source through tsx. `--baseline=DIR` adds a twin of each
 * peerpost system running another copy of peerpost (DIR: e.g. a `git worktree` of an
 * earlier commit, with a link to `node_modules`), in the same rounds: an A/B of two
 * versions; `--pin` pins the throughput rounds' processes as the latency rounds' are.
 *
 * Systems (each one its own sending and receiving processes), each at two in-flight
 * windows (`small` and `large`, named with ` (8 MiB window)`):
 * - `raw TLS`: node:tls 1.3, mutual authentication, each side pinning the other's
 *   certificate; 4-byte length-prefixed frames, all frames of a tick in one write of up to
 *   1 MiB, then `setImmediate` (or `drain` on backpressure) — bench/systems/pump.ts, the
 *   batched baseline of BENCHMARKS.md; the receiver counts frames. Large window: writes go
 *   on while less than 8 MiB is outstanding in the socket (write callbacks not yet called)
 *   and resume below 4.5 MiB, like peerpost's `ready()` at half the queue. Latency: a
 *   second connection (ALPN `bench-echo`) whose frames the child echoes.
 * - `raw TLS (peerpost frame size)` (small window, throughput only): raw TLS sending, for
 *   each size, a payload as long as the envelope peerpost sends for it (64 B -> 132 B:
 *   frames of 136 bytes, twice raw TLS's 68): what moving peerpost's bytes costs two
 *   processes with no encoding, queueing or decoding at all (the wire format's share).
 * - `peerpost`: two `createNetwork` nodes (compression off), the sender looping
 *   `if (!net.writable(peer)) await net.ready(peer); net.send(peer, ...)` and the receiver
 *   counting in `onMessage`. Small window: default limits (1 MiB transport high-water
 *   mark, then a peer queue of 100 messages). Large window: `limits.peerQueueBytes` 7 MiB
 *   (and `peerQueueCapacity` 1,000,000, so bytes bound it), plus the 1 MiB of the
 *   transport. Latency: `net.request()` answered with `msg.reply()`.
 * - `peerpost + metrics`: the same with `createPrometheusMetrics()` as `metrics` in both
 *   processes.
 * - with `--acks` (issue 20): `peerpost acked`, the small-window `peerpost` system with
 *   acknowledged delivery on the sender (`acks: { enabled: true }`, default window; the
 *   receiver accepts acks by default): its outcomes are `delivered`, and a table of the
 *   ratios acked / plain (`peerpost`) closes the report.
 * - the alternatives (small window, with latency), the libraries of the in-process suites,
 *   each encrypted and used as its documentation shows: `ZeroMQ (CURVE)` (zeromq v6: PUSH
 *   to PULL, one `await push.send()` per message; REQ/REP round trips), `ws (mutual TLS)`
 *   (wss with client certificates, each side pinning the other's; the sender writes while
 *   less than 1 MiB is buffered, then yields a turn; round trips on a second connection),
 *   `libp2p (noise)` (TCP, noise, yamux; 4-byte length-prefixed messages on one stream,
 *   `stream.send()` per message and `drain`; round trips on a second stream). Their
 *   latency rounds come after the others' (rounds of their own, same pinning).
 *
 * Throughput for 64 B, 1 KiB, 64 KiB: a warm-up sizes each system's round to about
 * ROUND_MS, then ROUNDS rounds round-robin (the order rotating each round); a round's
 * time runs from the first send to the child's IPC report that it has counted every
 * message of the round. Each figure's ratio is to raw TLS with the same window. Latency
 * (measured first, on fresh processes; small-window systems only: one request in flight;
 * senders and receivers pinned to CPUs of their own, see pinForLatency): 10,000 warm-up
 * round trips, then
 * 5 x ROUNDS rounds of 600 sequential 64 B round trips, round-robin; p50/p99 per round,
 * median over rounds. Each throughput round also records, for both
 * processes, the CPU time of the whole process and of its main thread, and the GCs and
 * their pauses (bench/process-cpu.ts), reported per message. At the end every system
 * must have delivered exactly what it sent (drops are reported), every child must exit by
 * itself after closing, and so must this process; a child whose parent dies exits too.
 * Results: bench/results/two-process-<date>.json (or `--out`), and tables on stdout.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Credentials, generateCredentials } from '../src/index.js';
import { plainEnvelopeSize } from '../src/wire/envelope.js';
import { affinityOf, cpusOf, pin } from './cpu-affinity.js';
import { bounded, payloadOf, SIZES } from './harness.js';
import { type Failure, type Figure, machine, median, percentile, quick } from './lib.js';
import { formatProbe, probeMachine } from './machine-probe.js';
import { type CpuSample, cpuDelta } from './process-cpu.js';
import { suiteTable } from './report.js';
import { BATCH_BYTES } from './systems/pump.js';
import {
  ALTERNATIVE_KINDS,
  type ChildMessage,
  type ChildStats,
  FANOUT_PAYLOAD,
  FANOUT_SUBSCRIBERS,
  type FanoutInit,
  LARGE_PEER_QUEUE_BYTES,
  LARGE_RESUME_BYTES,
  LARGE_WINDOW,
  type Listening,
  type ParentMessage,
  type SenderDef,
  type SenderMessage,
  type SenderRequest,
  type SystemKind,
} from './two-process-shared.js';

const CHILD = fileURLToPath(new URL('./two-process-child.ts', import.meta.url));
const SENDER = fileURLToPath(new URL('./two-process-sender.ts', import.meta.url));
/** Throughput and latency rounds per system and case (2 in a quick run; `--rounds=N`, e.g. for a longer profile). */
const DEFAULT_ROUNDS = quick ? 2 : 3;
const ROUNDS = Math.max(
  1,
  Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice(9) ?? DEFAULT_ROUNDS) || DEFAULT_ROUNDS,
);
/** Target length of one throughput round. */
const ROUND_MS = quick ? 250 : 1000;
/**
 * Latency rounds per system: many short ones, round-robin, so that the machine's slow
 * drifts (on this VM the same code's p50 moved by 20-40% between runs of 3 rounds) fall
 * on every system alike and the median over rounds sees past them.
 */
const LATENCY_ROUNDS = quick ? 2 : ROUNDS * 5;
/** Sequential round trips per latency round (warm-up: 10,000, so that the fresh processes' code is optimized first). */
const RTT_PER_ROUND = quick ? 500 : 600;
const RTT_WARM_UP = quick ? 250 : 10000;
/** Any single step (setup, a round, close) longer than this fails the system. */
const STEP_MS = 60_000;

const args = process.argv.slice(2);
const argValue = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const outArg = argValue('out');
/** `--only=NAME[,NAME...]`: only these systems (e.g. to profile one). */
const onlyArg = argValue('only')
  ?.split(',')
  .map((x) => x.trim())
  .filter((x) => x.length > 0);
/** `--window=small|large`: only the systems of that in-flight window. */
const windowArg = argValue('window');
/** `--profile-senders=DIR`: each sending process writes a V8 CPU profile there (`--cpu-prof`). */
const senderProfileDir = argValue('profile-senders');
/** `--profile-receivers=DIR`: each receiving child writes a V8 CPU profile there (`--cpu-prof`). */
const receiverProfileDir = argValue('profile-receivers');
/** `--receiver-flags="--trace-gc ..."`: node flags for every receiving child (e.g. to see its GCs). */
const receiverFlags = (argValue('receiver-flags') ?? '').split(' ').filter((f) => f.length > 0);
/** `--sender-flags="--perf-basic-prof ..."`: node flags for every sending process. */
const senderFlags = (argValue('sender-flags') ?? '').split(' ').filter((f) => f.length > 0);
/** `--sizes=64B,1KiB`: only these payload sizes. */
const sizesArg = argValue('sizes')?.split(',');
/**
 * `--built`: peerpost's processes run the package as it is deployed, `dist/` as `tsc`
 * builds it (`tsconfig.build.json`, built at the start of the run), instead of `src/`
 * compiled on load by tsx (esbuild). The two are the same code; see bench/HISTORY.md,
 * round 21, for what the difference measured.
 */
const built = args.includes('--built');
/** What the sending and receiving processes import peerpost from (`PEERPOST_BENCH_LIB`, see bench/two-process-shared.ts). */
const libraryEnv = { ...process.env, PEERPOST_BENCH_LIB: built ? 'dist' : 'src' };
/**
 * `--baseline=DIR`: another copy of peerpost (a checkout with its `node_modules`, e.g. a
 * `git worktree` of an earlier commit with a link to this one's), measured in the same run
 * as this one: each peerpost system gets a twin (its name + {@link BASELINE_SUFFIX}) whose
 * processes import DIR's `dist/` (built at the start, with `--built`) or `src/`. The
 * rounds go round-robin over all systems, so both copies meet the host's slow phases
 * alike, seconds apart (separate runs of each copy, minutes apart, did not: see
 * bench/HISTORY.md, round 31).
 */
const baselineArg = argValue('baseline');
/** The `--baseline` directory, absolute. */
const baselineDir = baselineArg === undefined ? undefined : resolve(baselineArg);
const BASELINE_SUFFIX = ' [baseline]';
const baselineEnv =
  baselineDir === undefined
    ? undefined
    : {
        ...process.env,
        PEERPOST_BENCH_LIB: pathToFileURL(resolve(baselineDir, built ? 'dist/index.js' : 'src/index.ts'))
          .href,
      };
/** The environment of a system's processes: which copy of peerpost they import. */
const envOf = (def: Definition) => (def.baseline === true ? (baselineEnv as NodeJS.ProcessEnv) : libraryEnv);
/**
 * `--pin`: the throughput rounds too run with every sending process on one CPU and every
 * receiving child on another (as the latency rounds always do: pinForLatency), so that
 * each system's pair meets the same CPUs. Left to the scheduler, a pair's processes stay
 * where they first landed, and a CPU in a slow phase then slows one system's sender and
 * another's receiver: twins of the same code read up to 1.4x apart in one run
 * (bench/HISTORY.md, round 31).
 */
const pinThroughput = args.includes('--pin');
/** How the throughput rounds were pinned (`--pin`), undefined: not. */
let throughputPinned: string | undefined;
const failures: Failure[] = [];

/** The IPC link to one child process: post a message, wait for a reply of some type. */
class ChildLink<In extends { type: string } = ChildMessage, Out extends { type: string } = ParentMessage> {
  readonly #waiters = new Map<string, { resolve: (m: In) => void; reject: (e: Error) => void }>();
  #error: Error | undefined;
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (m: In) => {
      if (m.type === 'error') return this.#fail(new Error(`${name}: ${(m as { error?: string }).error}`));
      const w = this.#waiters.get(m.type);
      this.#waiters.delete(m.type);
      w?.resolve(m);
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#fail(new Error(`${name} exited (${code ?? signal})`));
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
  wait<T extends In['type']>(type: T): Promise<Extract<In, { type: T }>> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#waiters.set(type, { resolve: resolve as (m: In) => void, reject });
    });
  }

  post(m: Out): void {
    if (this.child.connected) this.child.send(m);
  }

  async ask<T extends In['type']>(m: Out, type: T): Promise<Extract<In, { type: T }>> {
    const reply = this.wait(type);
    this.post(m);
    return bounded(reply, STEP_MS, `${this.name}: ${m.type}`);
  }

  /**
   * Asks the child to close (`close` answered by `closed`); it must then exit by itself
   * within 10 s, or something it left open kept it alive. Killed whatever happens.
   */
  async close(what: string, closeMessage: Out): Promise<void> {
    try {
      await this.ask(closeMessage, 'closed' as In['type']);
      const exited = await Promise.race([
        this.exited.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 10_000).unref()),
      ]);
      if (!exited) throw new Error(`${what} did not exit within 10 s of closing (something left open)`);
    } finally {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    }
  }
}

/** The sending side of one system, with its receiving child. */
interface System {
  readonly name: string;
  readonly def: Definition;
  /** Receipts the child counts per message sent: 1, or the subscribers of a fan-out. */
  readonly receipts: number;
  readonly link: ChildLink;
  /** Messages sent so far (throughput only). */
  sent: number;
  failed: boolean;
  /**
   * Sends `count` messages; resolves when the child has counted all of them, with the
   * child's cumulative CPU time in µs at that moment.
   */
  transfer(count: number, payload: Buffer): Promise<CpuSample>;
  /** The process that sends (the system's sending process), for pinning. */
  readonly senderPid: number | undefined;
  /** `count` sequential request/reply round trips of `payload`: each one's time, µs. */
  latencyRound(count: number, payload: Buffer): Promise<number[]>;
  /** The sending process's cumulative CPU time and GCs. */
  senderCpu(): Promise<CpuSample>;
  /** The sender's own record of what it could not send (peerpost: outcomes other than `written`). */
  senderStats(): Promise<Record<string, number>>;
  closeSender(): Promise<void>;
}

/**
 * The in-flight window: `small` is each system's default (raw TLS: one 1 MiB batch beyond
 * the socket, then wait for `drain`; peerpost: default limits, the 1 MiB transport
 * high-water mark plus a peer queue of 100 messages); `large` keeps about LARGE_WINDOW
 * bytes of frames beyond the kernel's socket buffers in both.
 */
type Window = 'small' | 'large';

const LARGE_SUFFIX = ' (8 MiB window)';

interface Definition {
  name: string;
  /** `fanout-*`: one publisher here, FANOUT_SUBSCRIBERS subscribers in the child. */
  kind: SystemKind;
  metrics: boolean;
  window: Window;
  /** Measure request/reply latency too (it does not depend on the window: one in flight). */
  latency: boolean;
  /** The sender sends with acknowledged delivery (`--acks`). */
  acks?: boolean;
  /** The payload it sends in place of each size's (raw TLS with peerpost's frame size). */
  payloadBytes?: (bytes: number) => number;
  /** Its processes run the `--baseline` copy of peerpost. */
  baseline?: boolean;
}

const withAcks = args.includes('--acks');
const PLAIN = 'peerpost';
const ACKED = 'peerpost acked';
const RAW = 'raw TLS';
const RAW_FANOUT = 'raw TLS fan-out';
const RAW_SAME_BYTES = 'raw TLS (peerpost frame size)';
/**
 * The envelope peerpost sends for a payload of `bytes` with this benchmark's ids and label
 * (`sender-<8 hex>-<base 36 counter>`, about 20 characters; 'Bench'): 68 bytes more,
 * so at 64 B its frames are twice raw TLS's (136 bytes against 68). `raw TLS (peerpost
 * frame size)` sends payloads of this size: the same bytes to encrypt, send, receive and
 * decrypt per message as peerpost, without its encoding, queueing or decoding.
 */
const peerpostEnvelopeBytes = (bytes: number): number =>
  plainEnvelopeSize('sender-0a1b2c3d-1000', 'Bench', bytes);
const BROADCAST = 'peerpost broadcast';
const BROADCAST_METRICS = 'peerpost broadcast + metrics';
/** raw TLS fan-out: bytes of frames per batch written to every socket (`--fanout-batch=BYTES`). */
const FANOUT_BATCH_BYTES = Number(argValue('fanout-batch') ?? BATCH_BYTES);
const isFanout = (d: Definition) => d.kind === 'fanout-raw' || d.kind === 'fanout-peerpost';

/**
 * The alternatives, point to point with their own default buffering (the small window):
 * the libraries of the in-process suites (bench/systems/), each sent and received as the
 * library is meant to be used, each encrypted: ZeroMQ with CURVE, ws over TLS 1.3 with
 * mutual authentication, libp2p with noise (and yamux). Ratios to raw TLS, as peerpost's.
 */
const ALTERNATIVES: readonly Definition[] = [
  { name: 'ZeroMQ (CURVE)', kind: 'zeromq', metrics: false, window: 'small', latency: true },
  { name: 'ws (mutual TLS)', kind: 'ws', metrics: false, window: 'small', latency: true },
  { name: 'libp2p (noise)', kind: 'libp2p', metrics: false, window: 'small', latency: true },
];

const ALL_DEFINITIONS: readonly Definition[] = [
  { name: RAW, kind: 'raw', metrics: false, window: 'small', latency: true },
  {
    name: RAW_SAME_BYTES,
    kind: 'raw',
    metrics: false,
    window: 'small',
    latency: false,
    payloadBytes: peerpostEnvelopeBytes,
  },
  { name: PLAIN, kind: 'peerpost', metrics: false, window: 'small', latency: true },
  { name: 'peerpost + metrics', kind: 'peerpost', metrics: true, window: 'small', latency: true },
  ...(withAcks
    ? [{ name: ACKED, kind: 'peerpost', metrics: false, window: 'small', latency: true, acks: true } as const]
    : []),
  ...(args.includes('--no-alternatives') ? [] : ALTERNATIVES),
  { name: `${RAW}${LARGE_SUFFIX}`, kind: 'raw', metrics: false, window: 'large', latency: false },
  { name: `${PLAIN}${LARGE_SUFFIX}`, kind: 'peerpost', metrics: false, window: 'large', latency: false },
  {
    name: `peerpost + metrics${LARGE_SUFFIX}`,
    kind: 'peerpost',
    metrics: true,
    window: 'large',
    latency: false,
  },
  ...(args.includes('--no-fanout')
    ? []
    : ([
        { name: RAW_FANOUT, kind: 'fanout-raw', metrics: false, window: 'small', latency: false },
        { name: BROADCAST, kind: 'fanout-peerpost', metrics: false, window: 'small', latency: false },
        {
          name: BROADCAST_METRICS,
          kind: 'fanout-peerpost',
          metrics: true,
          window: 'small',
          latency: false,
        },
      ] as const)),
];

const SELECTED = ALL_DEFINITIONS.filter(
  (d) =>
    (onlyArg === undefined || onlyArg.includes(d.name)) &&
    (windowArg === undefined || d.window === windowArg),
);
/** The selected systems, and with `--baseline` each peerpost system's twin right after it. */
const DEFINITIONS: readonly Definition[] =
  baselineDir === undefined
    ? SELECTED
    : SELECTED.flatMap((d) =>
        d.kind === 'peerpost' || d.kind === 'fanout-peerpost'
          ? [d, { ...d, name: `${d.name}${BASELINE_SUFFIX}`, baseline: true }]
          : [d],
      );
const MEASURED_SIZES = SIZES.filter((z) => sizesArg === undefined || sizesArg.includes(z.label));

/** The figure a system's figures are compared with: raw TLS with the same window. */
const baselineOf = (def: Definition): string =>
  isFanout(def) ? RAW_FANOUT : def.window === 'large' ? `${RAW}${LARGE_SUFFIX}` : RAW;

async function startChild(def: Definition, receiver: Credentials, sender: Credentials, fanout?: FanoutInit) {
  const child = fork(CHILD, [def.kind, ...(def.metrics ? ['--metrics'] : [])], {
    execArgv: [
      ...(receiverProfileDir
        ? ['--cpu-prof', '--cpu-prof-interval', '250', `--cpu-prof-dir=${receiverProfileDir}`]
        : []),
      ...receiverFlags,
      '--import',
      'tsx',
    ],
    env: envOf(def),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const link = new ChildLink(`${def.name} child`, child);
  const { type: _, ...at } = await link.ask(
    { type: 'init', credentials: receiver, peerCertPem: sender.certPem, ...(fanout ? { fanout } : {}) },
    'listening',
  );
  return { link, at };
}

/** Waits for the child to count up to `total` while `send()` sends; resolves with the child's CPU and GCs. */
async function counted(link: ChildLink, total: number, send: () => Promise<void> | void): Promise<CpuSample> {
  const done = link.wait('done');
  link.post({ type: 'expect', total });
  await send();
  return (await done).cpu;
}

/**
 * A system: its sender (or publisher) in a process of its own
 * (bench/two-process-sender.ts), which this process drives over IPC, and its receiving
 * child (the subscribers, for a fan-out). Round trips are timed in the sending process
 * (an IPC hop per round trip would be measured too); this process times whole rounds.
 * A publisher listens first and its subscribers then connect to it; a point-to-point
 * sender connects to its receiver.
 */
async function openHosted(def: Definition, receiver: Credentials, sender: Credentials): Promise<System> {
  const fanout = isFanout(def);
  const hostProcess = fork(SENDER, [], {
    execArgv: [
      ...(senderProfileDir
        ? ['--cpu-prof', '--cpu-prof-interval', '250', `--cpu-prof-dir=${senderProfileDir}`]
        : []),
      ...senderFlags,
      '--import',
      'tsx',
    ],
    env: envOf(def),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const host = new ChildLink<SenderMessage, SenderRequest>(`${def.name} sender`, hostProcess);
  const senderDef: SenderDef = {
    name: def.name,
    kind: def.kind,
    metrics: def.metrics,
    window: def.window,
    ...(def.acks ? { acks: true } : {}),
    ...(def.kind === 'fanout-raw' ? { fanoutBatchBytes: FANOUT_BATCH_BYTES } : {}),
  };
  const open = (at: Listening) =>
    host.ask(
      { type: 'open', def: senderDef, at, receiverCertPem: receiver.certPem, credentials: sender },
      'opened',
    );
  let link: ChildLink | undefined;
  try {
    if (fanout) {
      const where = await open({ port: 0 });
      ({ link } = await startChild(def, receiver, sender, {
        subscribers: FANOUT_SUBSCRIBERS,
        port: where.port ?? 0,
        address: where.address ?? '',
      }));
      await host.ask({ type: 'ready', subscribers: FANOUT_SUBSCRIBERS }, 'ready');
    } else {
      let at: Listening;
      ({ link, at } = await startChild(def, receiver, sender));
      await open(at);
    }
  } catch (err) {
    hostProcess.kill('SIGKILL');
    link?.child.kill('SIGKILL');
    throw err;
  }
  const child = link;
  const receipts = fanout ? FANOUT_SUBSCRIBERS : 1;
  const system: System = {
    name: def.name,
    def,
    receipts,
    link: child,
    senderPid: hostProcess.pid,
    sent: 0,
    failed: false,
    async transfer(count, payload) {
      system.sent += count;
      return counted(child, system.sent * receipts, async () => {
        await host.ask({ type: 'send', count, size: payload.length }, 'sent');
      });
    },
    async latencyRound(count, payload) {
      return (await host.ask({ type: 'rtt', count, size: payload.length }, 'rtt')).times;
    },
    senderCpu: async () => (await host.ask({ type: 'cpu' }, 'cpu')).cpu,
    senderStats: async () => (await host.ask({ type: 'stats' }, 'stats')).stats,
    closeSender: () => host.close('the sending process', { type: 'close' }),
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

/** CPU time and GCs of one side during the throughput rounds (median over rounds). */
interface SideCpu {
  /** CPU time of the whole process (all threads), µs per message. */
  usPerMsg: number;
  /** Of which the main thread, µs per message (NaN where /proc is missing). */
  mainUsPerMsg: number;
  /** Of which the other threads (GC helpers, compiler, libuv pool), µs per message. */
  otherUsPerMsg: number;
  /** Of the whole, the time in the kernel (all threads), µs per message. */
  systemUsPerMsg: number;
  /** Whole process, % of one core over the round's wall time. */
  percent: number;
  /** Garbage collections (all kinds) per 10,000 messages. */
  gcPer10k: number;
  /** Mark-sweep-compacts per 10,000 messages. */
  majorGcPer10k: number;
  /** GC pauses of the main thread, µs per message. */
  gcPauseUsPerMsg: number;
  /** Per round (the raw figures the medians come from): CPU deltas and messages. */
  rounds: { cpu: CpuSample; ms: number; messages: number }[];
}

interface CpuShare {
  system: string;
  window: Window;
  size: string;
  sender: SideCpu;
  receiver: SideCpu;
}

function sideCpu(rounds: { cpu: CpuSample; ms: number; messages: number }[]): SideCpu {
  const med = (f: (x: { cpu: CpuSample; ms: number; messages: number }) => number, digits: number) =>
    Number(median(rounds.map(f)).toFixed(digits));
  return {
    usPerMsg: med((r) => r.cpu.totalUs / r.messages, 3),
    mainUsPerMsg: med((r) => r.cpu.mainUs / r.messages, 3),
    otherUsPerMsg: med((r) => Math.max(0, r.cpu.totalUs - r.cpu.mainUs) / r.messages, 3),
    systemUsPerMsg: med((r) => r.cpu.systemUs / r.messages, 3),
    percent: med((r) => r.cpu.totalUs / (10 * r.ms), 0),
    gcPer10k: med((r) => (r.cpu.gcCount * 10_000) / r.messages, 2),
    majorGcPer10k: med((r) => (r.cpu.gcMajor * 10_000) / r.messages, 3),
    gcPauseUsPerMsg: med((r) => (r.cpu.gcMs * 1000) / r.messages, 3),
    rounds,
  };
}

/**
 * Settling rounds before the measured ones: transfers of `count` messages, a round at a
 * time, until `steady(child CPU before, after, messages per ms)` holds or `most` rounds
 * ran. Keeps the child's CPU sample after the last one in `childCpu`.
 */
async function settle(
  s: System,
  count: number,
  payload: Buffer,
  childCpu: Map<System, CpuSample>,
  what: string,
  most: number,
  steady: (before: CpuSample, after: CpuSample, perMs: number) => boolean,
): Promise<void> {
  for (let i = 0; i < most; i++) {
    const before = childCpu.get(s)!;
    let after = before;
    const ms = await timed(async () => {
      after = await s.transfer(count, payload);
    }, `${what} settling`);
    childCpu.set(s, after);
    if (steady(before, after, count / ms)) return;
  }
}

async function measureThroughput(systems: readonly System[], cpu: CpuShare[]): Promise<Figure[]> {
  const suite = 'two-process throughput';
  const figures: Figure[] = [];
  for (const size of MEASURED_SIZES) {
    const t0 = performance.now();
    const sizePayload = payloadOf(size.bytes);
    const payloads = new Map<System, Buffer>(
      systems.map((s) => [s, s.def.payloadBytes ? payloadOf(s.def.payloadBytes(size.bytes)) : sizePayload]),
    );
    const payloadFor = (s: System): Buffer => payloads.get(s) as Buffer;
    const counts = new Map<System, number>();
    const rates = new Map<System, number[]>();
    type Round = { cpu: CpuSample; ms: number; messages: number };
    const senderRounds = new Map<System, Round[]>();
    const receiverRounds = new Map<System, Round[]>();
    /** The child's cumulative CPU after its last transfer (it idles while the others run). */
    const childCpu = new Map<System, CpuSample>();
    for (const s of systems) {
      if (s.failed) continue;
      try {
        // A first short transfer opens the connection (peerpost connects on first send)
        // and warms the code; the second sizes the rounds.
        const first = Math.max(20, Math.min(5_000, Math.ceil((1024 * 1024) / size.bytes)));
        await timed(() => s.transfer(first, payloadFor(s)), `${s.name} ${size.label} warm-up`);
        const warm = Math.max(50, Math.min(50_000, Math.ceil((8 * 1024 * 1024) / size.bytes)));
        const ms = await timed(
          async () => childCpu.set(s, await s.transfer(warm, payloadFor(s))),
          `${s.name} ${size.label} warm-up`,
        );
        counts.set(s, Math.max(50, Math.round((warm * ROUND_MS) / ms)));
        // The receiving child's heap still grows in its first seconds: its first
        // mark-compacts (30-80 ms of V8 helper-thread marking each, in raw TLS's child as in
        // peerpost's) would land in the first rounds and read as per-message CPU of the
        // round, larger for the system with fewer messages per round. Warm on, a round at a
        // time, until a transfer sees none in the child (at most 5 more).
        const what = `${s.name} ${size.label}`;
        const noMarkCompact = (before: CpuSample, after: CpuSample) => after.gcMajor === before.gcMajor;
        await settle(s, counts.get(s)!, payloadFor(s), childCpu, what, 5, noMarkCompact);
        rates.set(s, []);
        senderRounds.set(s, []);
        receiverRounds.set(s, []);
      } catch (err) {
        fail(suite, s, err);
      }
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of rotate(systems, r)) {
        if (s.failed) continue;
        const count = counts.get(s)!;
        try {
          const own = await s.senderCpu();
          let child = childCpu.get(s)!;
          const ms = await timed(
            async () => {
              child = await s.transfer(count, payloadFor(s));
            },
            `${s.name} ${size.label} round ${r + 1}`,
          );
          const used = cpuDelta(own, await s.senderCpu());
          rates.get(s)!.push((count * 1000) / ms);
          senderRounds.get(s)!.push({ cpu: used, ms, messages: count });
          receiverRounds.get(s)!.push({ cpu: cpuDelta(childCpu.get(s)!, child), ms, messages: count });
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
        baseline: `${baselineOf(s.def)} ${size.label}`,
      });
      cpu.push({
        system: s.name,
        window: s.def.window,
        size: size.label,
        sender: sideCpu(senderRounds.get(s)!),
        receiver: sideCpu(receiverRounds.get(s)!),
      });
    }
    process.stderr.write(`  throughput ${size.label}: ${Math.round(performance.now() - t0)} ms\n`);
  }
  return figures;
}

/**
 * Fan-out to FANOUT_SUBSCRIBERS, 1 KiB: messages/s delivered to every subscriber. Same
 * rounds as the throughput (warm-up sizes a round to ROUND_MS, settling rounds, ROUNDS
 * round-robin).
 */
async function measureFanout(systems: readonly System[], cpu: CpuShare[]): Promise<Figure[]> {
  const suite = 'two-process fanout';
  const kase = `to ${FANOUT_SUBSCRIBERS}`;
  const payload = payloadOf(FANOUT_PAYLOAD);
  const t0 = performance.now();
  type Round = { cpu: CpuSample; ms: number; messages: number };
  const counts = new Map<System, number>();
  const rates = new Map<System, number[]>();
  const senderRounds = new Map<System, Round[]>();
  const receiverRounds = new Map<System, Round[]>();
  const childCpu = new Map<System, CpuSample>();
  for (const s of systems) {
    if (s.failed) continue;
    try {
      await timed(() => s.transfer(200, payload), `${s.name} ${kase} warm-up`);
      const warm = 1000;
      const ms = await timed(
        async () => childCpu.set(s, await s.transfer(warm, payload)),
        `${s.name} warm-up`,
      );
      counts.set(s, Math.max(50, Math.round((warm * ROUND_MS) / ms)));
      // A round's worth of warm-up was not enough: in all 20 sequences of rounds 14 and 15
      // (2026-12-06, both systems) the first of the three rounds was the slowest, and the
      // rate mostly kept rising (raw fan-out 6,152 -> 9,777 -> 11,408 msg/s): the 100
      // connections' socket buffers and the subscribers' code still warming up. Warm on, a
      // round at a time, until a round is no more than 10% faster than the one before (at
      // most 4 more).
      let previous = 0;
      await settle(s, counts.get(s)!, payload, childCpu, `${s.name} ${kase}`, 4, (_before, _after, rate) => {
        const steady = previous > 0 && rate <= previous * 1.1;
        previous = rate;
        return steady;
      });
      rates.set(s, []);
      senderRounds.set(s, []);
      receiverRounds.set(s, []);
    } catch (err) {
      fail(suite, s, err);
    }
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of rotate(systems, r)) {
      if (s.failed) continue;
      const count = counts.get(s)!;
      try {
        const own = await s.senderCpu();
        let child = childCpu.get(s)!;
        const ms = await timed(
          async () => {
            child = await s.transfer(count, payload);
          },
          `${s.name} ${kase} round ${r + 1}`,
        );
        const used = cpuDelta(own, await s.senderCpu());
        rates.get(s)!.push((count * 1000) / ms);
        senderRounds.get(s)!.push({ cpu: used, ms, messages: count });
        receiverRounds.get(s)!.push({ cpu: cpuDelta(childCpu.get(s)!, child), ms, messages: count });
        childCpu.set(s, child);
      } catch (err) {
        fail(suite, s, err);
      }
    }
  }
  const figures: Figure[] = [];
  for (const s of systems) {
    const rs = rates.get(s);
    if (s.failed || !rs) continue;
    figures.push({
      suite,
      name: `${s.name} ${kase}`,
      system: s.name,
      case: kase,
      value: median(rs),
      unit: 'msg/s',
      rounds: rs,
      baseline: `${baselineOf(s.def)} ${kase}`,
    });
    cpu.push({
      system: s.name,
      window: s.def.window,
      size: kase,
      sender: sideCpu(senderRounds.get(s)!),
      receiver: sideCpu(receiverRounds.get(s)!),
    });
  }
  process.stderr.write(`  fan-out ${kase}: ${Math.round(performance.now() - t0)} ms\n`);
  return figures;
}

/** The child's cumulative CPU now (an `expect` of nothing answers at once with a sample). */
const childCpuNow = (s: System): Promise<CpuSample> => counted(s.link, 0, () => {});

/** The `size` of the CPU rows of the round trips (their CPU is per round trip). */
const RTT_CPU_CASE = 'RTT 64B';

/**
 * How the latency rounds (and with `--pin` the throughput rounds) place the processes:
 * with two CPUs or more, the sending process on the first CPU it may use and every
 * receiving child on the second, as on two machines, where a request always wakes the
 * other side on another CPU. Left to the
 * scheduler, the two processes of a pair sometimes share a CPU (a round trip is then two
 * context switches, no cross-CPU wake-up) and sometimes not, and the p50 of a round was
 * ~35 or ~87 µs for raw TLS depending on which (2026-12-05): the median over rounds
 * measured the placement more than the code. `unpin` gives every process its CPUs back.
 */
function pinForLatency(systems: readonly System[]): { pinned: string | undefined; unpin: () => void } {
  const none = { pinned: undefined, unpin: () => {} };
  if (process.platform !== 'linux') return none;
  const own = affinityOf(process.pid);
  if (own === undefined) return none;
  const cpus = cpusOf(own);
  if (cpus.length < 2) return none;
  const children = systems.map((s) => s.link.child.pid).filter((pid) => pid !== undefined);
  // The sending processes, and this one (idle meanwhile, but kept off the receivers' CPU).
  const senders = [process.pid, ...systems.map((s) => s.senderPid)].filter(
    (pid, i, all): pid is number => pid !== undefined && all.indexOf(pid) === i,
  );
  const before = children.map((pid) => affinityOf(pid) ?? own);
  const sendersBefore = senders.map((pid) => affinityOf(pid) ?? own);
  const done =
    senders.every((pid) => pin(pid, String(cpus[0]))) && children.every((pid) => pin(pid, String(cpus[1])));
  return {
    pinned: done
      ? `sending processes pinned to CPU ${cpus[0]}, receiving children to CPU ${cpus[1]}`
      : undefined,
    unpin: () => {
      for (const [i, pid] of senders.entries()) pin(pid, sendersBefore[i] as string);
      for (const [i, pid] of children.entries()) pin(pid, before[i] as string);
    },
  };
}

/** How the last latency measurement was pinned ({@link pinForLatency}), undefined: not. */
let latencyPinned: string | undefined;

async function measureLatency(all: readonly System[], cpu: CpuShare[]): Promise<Figure[]> {
  // One request in flight: the window does not matter, so only the default-window systems.
  const systems = all.filter((s) => s.def.latency);
  if (systems.length === 0) return [];
  const placement = pinForLatency(systems.filter((s) => !s.failed));
  latencyPinned = placement.pinned;
  try {
    // The alternatives after the others, in rounds of their own with raw TLS again:
    // interleaved with peerpost on the two pinned CPUs, their processes (libp2p's heavy
    // allocation, ZeroMQ's I/O threads) would change what peerpost and raw TLS are
    // measured next to from one round of this benchmark to the next. Their ratios are to
    // raw TLS's rounds among them (row RAW_WITH_ALTERNATIVES, itself compared with raw
    // TLS's first rounds: how far the machine drifted between the two).
    const isAlternative = (s: System) => (ALTERNATIVE_KINDS as readonly string[]).includes(s.def.kind);
    const first = await measureLatencyPinned(
      systems.filter((s) => !isAlternative(s)),
      cpu,
    );
    const alternatives = systems.filter(isAlternative);
    const raw = systems.find((s) => s.name === RAW);
    if (alternatives.length === 0) return first;
    if (raw === undefined) return [...first, ...(await measureLatencyPinned(alternatives, cpu))];
    return [...first, ...(await measureLatencyPinned([raw, ...alternatives], cpu, RAW_WITH_ALTERNATIVES))];
  } finally {
    placement.unpin();
  }
}

/** raw TLS's round trips measured again among the alternatives' (their baseline). */
const RAW_WITH_ALTERNATIVES = 'raw TLS (with the alternatives)';

/**
 * Latency rounds of `systems` (warm-up each, then LATENCY_ROUNDS rounds round-robin). With
 * `rawAs`, raw TLS's figures of these rounds are named `rawAs` (compared with raw TLS's
 * own) and every other system's are compared with them.
 */
async function measureLatencyPinned(
  systems: readonly System[],
  cpu: CpuShare[],
  rawAs?: string,
): Promise<Figure[]> {
  const nameOf = (s: System) => (rawAs !== undefined && s.name === RAW ? rawAs : s.name);
  const latencyBaselineOf = (s: System) => (rawAs !== undefined && s.name !== RAW ? rawAs : RAW);
  const suite = 'two-process latency';
  const payload = payloadOf(64);
  const t0 = performance.now();
  const p50 = new Map<System, number[]>();
  const p99 = new Map<System, number[]>();
  type Round = { cpu: CpuSample; ms: number; messages: number };
  const senderRounds = new Map<System, Round[]>();
  const receiverRounds = new Map<System, Round[]>();
  for (const s of systems) {
    if (s.failed) continue;
    try {
      await bounded(s.latencyRound(RTT_WARM_UP, payload), STEP_MS, `${s.name} latency warm-up`);
      p50.set(s, []);
      p99.set(s, []);
    } catch (err) {
      fail(suite, s, err);
    }
  }
  for (let r = 0; r < LATENCY_ROUNDS; r++) {
    for (const s of rotate(systems, r)) {
      if (s.failed) continue;
      try {
        let times: number[] = [];
        // CPU per round trip on each side too: what a request costs the two processes.
        const child = await childCpuNow(s);
        const own = await s.senderCpu();
        const ms = await timed(
          async () => {
            times = await s.latencyRound(RTT_PER_ROUND, payload);
          },
          `${s.name} latency round ${r + 1}`,
        );
        const used = cpuDelta(own, await s.senderCpu());
        const childUsed = cpuDelta(child, await childCpuNow(s));
        p50.get(s)!.push(percentile(times, 50));
        p99.get(s)!.push(percentile(times, 99));
        senderRounds.set(s, [...(senderRounds.get(s) ?? []), { cpu: used, ms, messages: RTT_PER_ROUND }]);
        receiverRounds.set(s, [
          ...(receiverRounds.get(s) ?? []),
          { cpu: childUsed, ms, messages: RTT_PER_ROUND },
        ]);
      } catch (err) {
        fail(suite, s, err);
      }
    }
  }
  const figures: Figure[] = [];
  for (const s of systems) {
    if (s.failed) continue;
    const sr = senderRounds.get(s);
    const rr = receiverRounds.get(s);
    if (sr !== undefined && rr !== undefined) {
      cpu.push({
        system: nameOf(s),
        window: s.def.window,
        size: RTT_CPU_CASE,
        sender: sideCpu(sr),
        receiver: sideCpu(rr),
      });
    }
    for (const [label, rs] of [
      ['p50', p50.get(s)!],
      ['p99', p99.get(s)!],
    ] as const) {
      figures.push({
        suite,
        name: `${nameOf(s)} ${label}`,
        system: nameOf(s),
        case: label,
        value: median(rs),
        unit: 'µs',
        rounds: rs,
        baseline: `${latencyBaselineOf(s)} ${label}`,
        lowerIsBetter: true,
      });
    }
  }
  process.stderr.write(`  latency: ${Math.round(performance.now() - t0)} ms\n`);
  return figures;
}

interface Check {
  system: string;
  /** Messages sent times receipts per message (the subscribers, for a fan-out). */
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
    sent: s.sent * s.receipts,
    delivered: stats.delivered,
    drops: s.sent * s.receipts - stats.delivered,
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
    await s.link.close('the child', { type: 'close' });
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
const us = (x: number): string => (Number.isNaN(x) ? 'n/a' : x.toFixed(x >= 10 ? 0 : x >= 1 ? 1 : 2));

/** One side's CPU and GC cells: `total (main + other; kernel)` µs/msg, then GCs and pauses. */
function sideCells(c: SideCpu): string {
  return (
    `${us(c.usPerMsg)} (${us(c.mainUsPerMsg)} + ${us(c.otherUsPerMsg)}; kernel ${us(c.systemUsPerMsg)}), ${c.percent}% | ` +
    `${c.gcPer10k.toFixed(c.gcPer10k >= 10 ? 0 : 1)}${c.majorGcPer10k > 0 ? ` (${c.majorGcPer10k.toFixed(2)} major)` : ''}, ${us(c.gcPauseUsPerMsg)} µs`
  );
}

/** Per system and size: msg/s and ratio beside each side's CPU and GC per message. */
function cpuTable(figures: readonly Figure[], cpu: readonly CpuShare[]): string {
  const lines = [
    'CPU and GC during the throughput rounds (median over rounds; rows `' +
      RTT_CPU_CASE +
      '`: the round trips, figures per round trip). CPU: µs per message, whole process ' +
      '(main thread + other threads; of the whole, the time in the kernel), and % of one core; GC: collections per 10k messages ' +
      '(of which mark-compact), main-thread GC pause in µs per message.',
    '',
    '| system | size | msg/s (ratio) | sender CPU µs/msg | sender GC /10k msg, pause/msg | receiver CPU µs/msg | receiver GC /10k msg, pause/msg |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of cpu) {
    const f = figures.find(
      (x) => x.suite !== 'two-process latency' && x.system === c.system && x.case === c.size,
    );
    const base = f?.baseline ? figures.find((x) => x.suite === f.suite && x.name === f.baseline) : undefined;
    const rate = f
      ? `${Math.round(f.value).toLocaleString('en-US')}${base ? ` (${(f.value / base.value).toFixed(2)}x)` : ''}`
      : '';
    lines.push(`| ${c.system} | ${c.size} | ${rate} | ${sideCells(c.sender)} | ${sideCells(c.receiver)} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const started = performance.now();
  // The host's speed for memory-bound code, per CPU, before and after (see
  // bench/machine-probe.ts: it changes in phases, and per-message CPU with it).
  const probeBefore = quick ? [] : probeMachine(3);
  if (DEFINITIONS.length === 0 || MEASURED_SIZES.length === 0) {
    console.error(
      `two-process bench: nothing to run (--only: ${ALL_DEFINITIONS.map((d) => d.name).join(', ')}; ` +
        `--window=small|large; --sizes: ${SIZES.map((z) => z.label).join(',')})`,
    );
    process.exit(2);
  }
  if (built) {
    // The package as `npm run build` makes it, fresh: what the processes then import.
    const root = fileURLToPath(new URL('..', import.meta.url));
    const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
    if (baselineDir !== undefined) {
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
        cwd: baselineDir,
        stdio: 'inherit',
      });
    }
  }
  if (baselineDir !== undefined) {
    console.log(`baseline (the systems ending in${BASELINE_SUFFIX}): ${baselineDir}`);
  }
  console.log(`peerpost from ${built ? 'dist/ (built with tsc: --built)' : 'src/ (through tsx)'}`);
  const [receiverCreds, senderCreds] = await Promise.all([generateCredentials(), generateCredentials()]);
  const systems: System[] = [];
  const checks: Check[] = [];
  const cpu: CpuShare[] = [];
  let figures: Figure[] = [];
  try {
    // First the point-to-point systems, then (with those closed) the fan-out ones.
    for (const def of DEFINITIONS.filter((d) => !isFanout(d))) {
      systems.push(await bounded(openHosted(def, receiverCreds, senderCreds), STEP_MS, `${def.name} setup`));
    }
    // The round trips first, on processes that have done nothing else yet: after the
    // throughput rounds, each sending process (eight of them, all on one CPU during the
    // latency rounds) collects what those rounds left, and those collections read as
    // stalls of whichever round trip is running (p99 3-4x raw's in three runs that
    // measured latency second, 2026-12-06, against 1.4x on fresh processes).
    // --no-latency: a profile of the throughput rounds alone (the round trips' single small
    // writes would otherwise dominate the socket-write samples).
    if (!args.includes('--no-latency')) figures = await measureLatency(systems, cpu);
    // --no-throughput: the round trips alone (e.g. to profile them).
    if (!args.includes('--no-throughput')) {
      // --pin: the throughput rounds placed as the latency rounds are (pinForLatency).
      const placement = pinThroughput ? pinForLatency(systems.filter((s) => !s.failed)) : undefined;
      throughputPinned = placement?.pinned;
      try {
        figures.unshift(...(await measureThroughput(systems, cpu)));
      } finally {
        placement?.unpin();
      }
    }
    for (const s of systems) checks.push(await check(s));
    for (const s of systems.splice(0)) await close(s);
    for (const def of DEFINITIONS.filter(isFanout)) {
      systems.push(await bounded(openHosted(def, receiverCreds, senderCreds), STEP_MS, `${def.name} setup`));
    }
    figures.push(...(await measureFanout(systems, cpu)));
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
  const probeAfter = quick ? [] : probeMachine(3);
  const durationMs = Math.round(performance.now() - started);
  const date = new Date().toISOString();
  const file = outArg ?? `bench/results/two-process-${date.slice(0, 10)}${quick ? '-quick' : ''}.json`;
  const out = {
    date,
    quick,
    machine: machine(),
    /** bench/machine-probe.ts on each CPU before and after the rounds (empty in a quick run or off Linux). */
    machineProbe: { before: probeBefore, after: probeAfter },
    command: `npm run bench:two${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
    durationMs,
    method: {
      processes:
        'point-to-point systems: the sender in a forked process of its own (bench/two-process-sender.ts), ' +
        'the receiver in another (bench/two-process-child.ts), both fresh Node processes per system; ' +
        'fan-out: the publisher in a forked process of its own, the 100 subscribers in another',
      library: built
        ? 'the built package: dist/ as tsc -p tsconfig.build.json builds it (at the start of the run), as deployed'
        : 'the source: src/ compiled on load by tsx (esbuild)',
      rounds: ROUNDS,
      roundMs: ROUND_MS,
      latencyRounds: LATENCY_ROUNDS,
      roundTripsPerRound: RTT_PER_ROUND,
      latencyPlacement: latencyPinned
        ? `${latencyPinned} (taskset), during the latency rounds`
        : 'left to the scheduler (no taskset or one CPU)',
      ...(throughputPinned ? { throughputPlacement: `${throughputPinned} (taskset, --pin)` } : {}),
      ...(baselineDir !== undefined
        ? { baseline: `systems ending in${BASELINE_SUFFIX}: ${baselineDir}` }
        : {}),
      window: {
        'raw TLS': `one write per tick of up to ${BATCH_BYTES} bytes of frames, then wait for drain`,
        peerpost:
          'library backpressure with default limits: frames go into the connection write batch up to the ' +
          '1 MiB transport high-water mark, then into the peer queue (peerQueueCapacity 100); ' +
          'writable() is false at 100 queued, ready() resolves at 50',
        [`${RAW}${LARGE_SUFFIX}`]:
          `1 MiB writes while fewer than ${LARGE_WINDOW} bytes are outstanding in the socket (written, ` +
          `write callback not yet called), resuming below ${LARGE_RESUME_BYTES}`,
        [`peerpost${LARGE_SUFFIX}`]:
          `limits.peerQueueCapacity 1000000, limits.peerQueueBytes ${LARGE_PEER_QUEUE_BYTES} (+ the 1 MiB ` +
          'transport high-water mark); writable() is false when the queue holds that many frame bytes, ' +
          'ready() resolves at half',
      },
      fanout: `${RAW_FANOUT}: batches of up to ${FANOUT_BATCH_BYTES} bytes of frames, each encoded once and written to each of the ${FANOUT_SUBSCRIBERS} accepted TLS sockets of the child's subscribers, every socket paced by its own drain (FanoutPump); the child only counts frames; ${BROADCAST}: broadcast() per message from a publisher node with default limits (subscriber queues of 1000 frames, limits.subscriberQueueCapacity) to ${FANOUT_SUBSCRIBERS} subscriber nodes in one child, waiting on broadcastReady() whenever broadcastWritable() is false (the library's backpressure: no IPC in the loop, as for the raw pump); ${BROADCAST_METRICS}: the same with createPrometheusMetrics() on the publisher and on every subscriber node; ${FANOUT_PAYLOAD}-byte payloads; msg/s = messages delivered to every subscriber`,
      cpu:
        'per side: process.cpuUsage() (all threads); main thread from /proc/self/task/<pid>/schedstat; ' +
        'other threads = the difference; GCs and their pauses from PerformanceObserver gc entries',
      compression: 'off (compressThresholdBytes = MAX_SAFE_INTEGER)',
      ...(withAcks
        ? {
            acks: `${ACKED}: the ${PLAIN} system with acks: { enabled: true } on the sender (default window: 32768 messages / 8 MiB in flight per peer address waiting for their ack); the receiver accepts acks by default`,
          }
        : {}),
    },
    ...(withAcks ? { acksVsPlain: acksVsPlain(figures) } : {}),
    /** What was to be measured: every system a figure per size, the `latency` ones p50 and p99. */
    expected: {
      systems: DEFINITIONS.filter((d) => !isFanout(d)).map((d) => d.name),
      sizes: MEASURED_SIZES.map((z) => z.label),
      latencySystems: args.includes('--no-latency')
        ? []
        : DEFINITIONS.filter((d) => d.latency).map((d) => d.name),
      fanoutSystems: DEFINITIONS.filter(isFanout).map((d) => d.name),
      fanoutCase: `to ${FANOUT_SUBSCRIBERS}`,
    },
    figures,
    cpu,
    checks,
    failures,
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);

  const m = machine();
  console.log(`machine: ${m.cpus} x ${m.cpuModel}, Node ${m.node}, ${quick ? 'quick' : 'full'} run`);
  if (!quick) {
    console.log(`machine probe before: ${formatProbe(probeBefore)}`);
    console.log(`machine probe after: ${formatProbe(probeAfter)}`);
  }
  console.log('');
  for (const suite of ['two-process throughput', 'two-process latency', 'two-process fanout']) {
    const fs = figures.filter((f) => f.suite === suite);
    if (fs.length > 0) console.log(`${suite}\n\n${ratioTable(fs)}\n`);
  }
  if (cpu.length > 0) console.log(`${cpuTable(figures, cpu)}\n`);
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
