/**
 * Runs systems through the stream, request/reply and fan-out modes: warm-up, then several
 * timed rounds; each figure is the median round. Every call is bounded in time, every
 * system is closed even when it fails, and a failure is recorded (the run then exits 1).
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

/** Resolves `true` if the system can run; otherwise records it as pending for `suite`. */
async function ready(suite: string, system: BenchSystem): Promise<boolean> {
  const why = system.pending ? await system.pending() : undefined;
  if (why === undefined) return true;
  pending.push({ suite, system: system.name, reason: why });
  process.stderr.write(`  ${system.name}: pending (${why})\n`);
  return false;
}

async function guarded(suite: string, system: BenchSystem, body: () => Promise<void>): Promise<void> {
  const t0 = performance.now();
  try {
    await body();
    process.stderr.write(`  ${system.name}: ${Math.round(performance.now() - t0)} ms\n`);
  } catch (err) {
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    failures.push({ suite, system: system.name, error });
    process.stderr.write(`  ${system.name}: FAILED ${error}\n`);
  }
}

/** Times `run(count)` and returns count per second. */
async function rate(run: (count: number) => Promise<void>, count: number, what: string): Promise<number> {
  const t0 = performance.now();
  await bounded(run(count), STEP_MS, what);
  return (count * 1000) / (performance.now() - t0);
}

/**
 * Message rate over `run`: a warm-up transfer measures the speed, then each round moves
 * as many messages as take about `roundMs` at that speed.
 */
async function rounds(run: (count: number) => Promise<void>, bytes: number, what: string): Promise<number[]> {
  const roundMs = quick ? 150 : 600;
  const warm = Math.max(50, Math.min(quick ? 5_000 : 20_000, Math.ceil((4 * 1024 * 1024) / bytes)));
  const speed = await rate(run, warm, `${what} warm-up`);
  const count = Math.max(20, Math.round((speed * roundMs) / 1000));
  const out: number[] = [];
  for (let r = 0; r < ROUNDS; r++) out.push(await rate(run, count, `${what} round ${r + 1}`));
  return out;
}

/** Throughput, one sender to one receiver, for every size; baseline `raw TLS <size>`. */
export async function measureStreams(suite: string, systems: readonly BenchSystem[]): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const system of systems) {
    if (!system.openStream || !(await ready(suite, system))) continue;
    const open = system.openStream.bind(system);
    await guarded(suite, system, async () => {
      const pair = await bounded(open(), STEP_MS, `${system.name} setup`);
      try {
        for (const size of SIZES) {
          const payload = payloadOf(size.bytes);
          const rs = await rounds(
            (n) => pair.transfer(n, payload),
            size.bytes,
            `${system.name} ${size.label}`,
          );
          figures.push({
            suite,
            name: `${system.name} ${size.label}`,
            system: system.name,
            case: size.label,
            value: median(rs),
            unit: 'msg/s',
            rounds: rs,
            baseline: `raw TLS ${size.label}`,
          });
        }
      } finally {
        await bounded(pair.close(), STEP_MS, `${system.name} close`);
      }
    });
  }
  return figures;
}

/** Request/reply round trips of 64 B: p50 and p99 in microseconds; baseline raw TLS. */
export async function measureRpcs(suite: string, systems: readonly BenchSystem[]): Promise<Figure[]> {
  const figures: Figure[] = [];
  const perRound = quick ? 300 : 3000;
  const payload = payloadOf(64);
  for (const system of systems) {
    if (!system.openRpc || !(await ready(suite, system))) continue;
    const open = system.openRpc.bind(system);
    await guarded(suite, system, async () => {
      const pair = await bounded(open(), STEP_MS, `${system.name} setup`);
      try {
        const loop = async (n: number, out?: number[]) => {
          for (let i = 0; i < n; i++) {
            const t0 = performance.now();
            await pair.roundTrip(payload);
            out?.push((performance.now() - t0) * 1000);
          }
        };
        await bounded(loop(perRound >> 1), STEP_MS, `${system.name} warm-up`);
        const p50: number[] = [];
        const p99: number[] = [];
        for (let r = 0; r < ROUNDS; r++) {
          const times: number[] = [];
          await bounded(loop(perRound, times), STEP_MS, `${system.name} round ${r + 1}`);
          p50.push(percentile(times, 50));
          p99.push(percentile(times, 99));
        }
        for (const [label, rs] of [
          ['p50', p50],
          ['p99', p99],
        ] as const) {
          figures.push({
            suite,
            name: `${system.name} ${label}`,
            system: system.name,
            case: label,
            value: median(rs),
            unit: 'µs',
            rounds: rs,
            baseline: `raw TLS ${label}`,
            lowerIsBetter: true,
          });
        }
      } finally {
        await bounded(pair.close(), STEP_MS, `${system.name} close`);
      }
    });
  }
  return figures;
}

/** One publisher to 10 and 100 subscribers, 1 KiB messages; baseline raw TLS. */
export async function measureFanouts(suite: string, systems: readonly BenchSystem[]): Promise<Figure[]> {
  const figures: Figure[] = [];
  const payload = payloadOf(1024);
  for (const system of systems) {
    if (!system.openFanout || !(await ready(suite, system))) continue;
    const open = system.openFanout.bind(system);
    await guarded(suite, system, async () => {
      for (const subscribers of [10, 100]) {
        const group = await bounded(open(subscribers), STEP_MS, `${system.name} setup x${subscribers}`);
        try {
          const label = `to ${subscribers}`;
          const rs = await rounds(
            (n) => group.broadcast(n, payload),
            1024 * subscribers,
            `${system.name} ${label}`,
          );
          figures.push({
            suite,
            name: `${system.name} ${label}`,
            system: system.name,
            case: label,
            value: median(rs),
            unit: 'msg/s',
            rounds: rs,
            baseline: `raw TLS ${label}`,
          });
        } finally {
          await bounded(group.close(), STEP_MS, `${system.name} close`);
        }
      }
    });
  }
  return figures;
}
