/**
 * Runs systems through the stream, request/reply and fan-out modes. The systems of a suite
 * are open at once and measured round-robin (round 1 of every system, then round 2, ...),
 * so a burst of load on this shared machine hits every system alike and the ratios hold;
 * each figure is the median round. The third-party alternatives form a second group,
 * measured the same way once the first (raw baselines and peerpost) is closed. Every call is bounded in time, every system is closed
 * even when it fails, and a failure is recorded (the run then exits 1).
 */
import { type Figure, failures, median, pending, percentile, quick } from './lib.js';
import type { BenchSystem } from './systems/types.js';

/** Rejects if `p` takes longer than `ms` (the bench must never hang). */
export async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const STEP_MS = quick ? 20_000 : 60_000;

export const ROUNDS = quick ? 2 : 5;

/** Payload of `size` bytes with some variety (not all zeros). */
export function payloadOf(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

export const SIZES = [
  { label: '64B', bytes: 64 },
  { label: '1KiB', bytes: 1024 },
  { label: '64KiB', bytes: 64 * 1024 },
] as const;

interface Entry<H> {
  system: BenchSystem;
  handle: H;
  failed: boolean;
}

function fail(suite: string, system: BenchSystem, err: unknown): void {
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  failures.push({ suite, system: system.name, error });
  process.stderr.write(`  ${system.name}: FAILED ${error}\n`);
}

/** Opens every runnable system (pending ones are listed; failures recorded). */
async function openAll<H extends { close(): Promise<void> }>(
  suite: string,
  systems: readonly BenchSystem[],
  opener: (s: BenchSystem) => (() => Promise<H>) | undefined,
): Promise<Entry<H>[]> {
  const entries: Entry<H>[] = [];
  for (const system of systems) {
    const open = opener(system);
    if (!open) continue;
    const why = system.pending ? await system.pending() : undefined;
    if (why !== undefined) {
      pending.push({ suite, system: system.name, reason: why });
      process.stderr.write(`  ${system.name}: pending (${why})\n`);
      continue;
    }
    try {
      entries.push({ system, handle: await bounded(open(), STEP_MS, `${system.name} setup`), failed: false });
    } catch (err) {
      fail(suite, system, err);
    }
  }
  return entries;
}

async function closeAll<H extends { close(): Promise<void> }>(
  suite: string,
  entries: Entry<H>[],
): Promise<void> {
  for (const e of entries) {
    try {
      await bounded(e.handle.close(), STEP_MS, `${e.system.name} close`);
    } catch (err) {
      if (!e.failed) fail(suite, e.system, err);
    }
  }
}

/** Runs `step` for a system unless it already failed; a throw marks it failed. */
async function attempt<H>(suite: string, e: Entry<H>, step: () => Promise<void>): Promise<void> {
  if (e.failed) return;
  try {
    await step();
  } catch (err) {
    e.failed = true;
    fail(suite, e.system, err);
  }
}

/** Times `run(count)` and returns count per second. */
async function rate(run: (count: number) => Promise<void>, count: number, what: string): Promise<number> {
  const t0 = performance.now();
  await bounded(run(count), STEP_MS, what);
  return (count * 1000) / (performance.now() - t0);
}

/**
 * Message rates of several systems moving `bytes`-sized messages: a warm-up transfer
 * measures each one's speed, so that each round moves as many messages as take about
 * `roundMs` at that speed; then the rounds, round-robin.
 */
async function rateRounds<H>(
  suite: string,
  entries: Entry<H>[],
  run: (handle: H, count: number) => Promise<void>,
  bytes: number,
  label: string,
): Promise<Map<Entry<H>, number[]>> {
  const roundMs = quick ? 150 : 500;
  const warm = quick
    ? Math.max(20, Math.min(2_000, Math.ceil((1024 * 1024) / bytes)))
    : Math.max(50, Math.min(20_000, Math.ceil((4 * 1024 * 1024) / bytes)));
  const counts = new Map<Entry<H>, number>();
  const out = new Map<Entry<H>, number[]>();
  for (const e of entries) {
    await attempt(suite, e, async () => {
      const speed = await rate((n) => run(e.handle, n), warm, `${e.system.name} ${label} warm-up`);
      counts.set(e, Math.max(20, Math.round((speed * roundMs) / 1000)));
      out.set(e, []);
    });
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const e of entries) {
      await attempt(suite, e, async () => {
        const count = counts.get(e)!;
        out
          .get(e)!
          .push(await rate((n) => run(e.handle, n), count, `${e.system.name} ${label} round ${r + 1}`));
      });
    }
  }
  for (const e of entries) if (e.failed) out.delete(e);
  return out;
}

function figure(suite: string, system: string, kase: string, rs: number[], unit: string): Figure {
  return {
    suite,
    name: `${system} ${kase}`,
    system,
    case: kase,
    value: median(rs),
    unit,
    rounds: rs,
    baseline: `raw TLS ${kase}`,
  };
}

/** The raw baselines and peerpost first, then the third-party alternatives (see `BenchSystem.alternative`). */
function groups(systems: readonly BenchSystem[]): BenchSystem[][] {
  const own = systems.filter((s) => !s.alternative);
  const alternatives = systems.filter((s) => s.alternative);
  return [own, alternatives].filter((g) => g.length > 0);
}

/** Throughput, one sender to one receiver, for every size; baseline `raw TLS <size>`. */
export async function measureStreams(suite: string, systems: readonly BenchSystem[]): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const group of groups(systems)) figures.push(...(await measureStreamGroup(suite, group)));
  return figures;
}

async function measureStreamGroup(suite: string, systems: readonly BenchSystem[]): Promise<Figure[]> {
  const figures: Figure[] = [];
  const entries = await openAll(suite, systems, (s) => s.openStream?.bind(s));
  try {
    for (const size of SIZES) {
      const payload = payloadOf(size.bytes);
      const t0 = performance.now();
      const rates = await rateRounds(
        suite,
        entries,
        (h, n) => h.transfer(n, payload),
        size.bytes,
        size.label,
      );
      for (const [e, rs] of rates) figures.push(figure(suite, e.system.name, size.label, rs, 'msg/s'));
      process.stderr.write(`  ${size.label}: ${Math.round(performance.now() - t0)} ms\n`);
    }
  } finally {
    await closeAll(suite, entries);
  }
  return figures;
}

/** Request/reply round trips of 64 B: p50 and p99 in microseconds; baseline raw TLS. */
export async function measureRpcs(suite: string, systems: readonly BenchSystem[]): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const group of groups(systems)) figures.push(...(await measureRpcGroup(suite, group)));
  return figures;
}

async function measureRpcGroup(suite: string, systems: readonly BenchSystem[]): Promise<Figure[]> {
  const figures: Figure[] = [];
  const perRound = quick ? 300 : 2000;
  const payload = payloadOf(64);
  const entries = await openAll(suite, systems, (s) => s.openRpc?.bind(s));
  try {
    const p50 = new Map<Entry<unknown>, number[]>();
    const p99 = new Map<Entry<unknown>, number[]>();
    const loop = async (e: (typeof entries)[number], n: number, out?: number[]) => {
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await e.handle.roundTrip(payload);
        out?.push((performance.now() - t0) * 1000);
      }
    };
    for (const e of entries) {
      await attempt(suite, e, () => bounded(loop(e, perRound >> 1), STEP_MS, `${e.system.name} warm-up`));
      p50.set(e, []);
      p99.set(e, []);
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const e of entries) {
        await attempt(suite, e, async () => {
          const times: number[] = [];
          await bounded(loop(e, perRound, times), STEP_MS, `${e.system.name} round ${r + 1}`);
          p50.get(e)!.push(percentile(times, 50));
          p99.get(e)!.push(percentile(times, 99));
        });
      }
    }
    for (const e of entries) {
      if (e.failed) continue;
      for (const [label, rs] of [
        ['p50', p50.get(e)!],
        ['p99', p99.get(e)!],
      ] as const) {
        figures.push({ ...figure(suite, e.system.name, label, rs, 'µs'), lowerIsBetter: true });
      }
    }
  } finally {
    await closeAll(suite, entries);
  }
  return figures;
}

/** One publisher to 10 and 100 subscribers, 1 KiB messages; baseline raw TLS. */
export async function measureFanouts(suite: string, systems: readonly BenchSystem[]): Promise<Figure[]> {
  const figures: Figure[] = [];
  const payload = payloadOf(1024);
  for (const subscribers of [10, 100]) {
    const label = `to ${subscribers}`;
    const entries = await openAll(suite, systems, (s) => s.openFanout && (() => s.openFanout!(subscribers)));
    try {
      const rates = await rateRounds(
        suite,
        entries,
        (h, n) => h.broadcast(n, payload),
        1024 * subscribers,
        label,
      );
      for (const [e, rs] of rates) figures.push(figure(suite, e.system.name, label, rs, 'msg/s'));
    } finally {
      await closeAll(suite, entries);
    }
  }
  return figures;
}
