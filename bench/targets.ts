/**
 * The performance targets of issues 3, 4, 5 and 8, evaluated against one results file.
 * A target compares a figure with another figure of the same suite (a ratio) or with an
 * absolute bound; it is `pending` while the figure does not exist yet.
 */
import type { Figure } from './lib.js';

export interface Target {
  issue: number;
  /** The target as the issue states it. */
  text: string;
  suite: string;
  /** Name of the figure, or a pattern matching several (one row each). */
  figure: string | RegExp;
  /** Name of the figure compared against; default: the figure's own baseline. Unused when `absolute`. */
  versus?: string;
  op: '>=' | '<=';
  threshold: number;
  /** Compare the value itself (in `unit`) rather than a ratio. */
  absolute?: boolean;
}

/**
 * Names the later peerpost systems must use: `peerpost TLS` (Network API over mutual TLS,
 * end to end) and `peerpost memory` (in-memory transport) in the throughput, latency,
 * fan-out and connections suites; bench/sender.ts figures in suite `sender` named
 * `direct sender ...` with their raw-transport baseline, and `sender heap ...` in bytes.
 */
export const TARGETS: readonly Target[] = [
  {
    issue: 3,
    text: 'codec 64 B round trip >= 3x JSON',
    suite: 'codec',
    figure: 'peerpost 64B',
    op: '>=',
    threshold: 3,
  },
  {
    issue: 4,
    text: 'TLS transport 64 B frames >= 0.8x raw batched TLS',
    suite: 'transport',
    figure: 'peerpost transport 64B',
    op: '>=',
    threshold: 0.8,
  },
  {
    issue: 4,
    text: 'TLS transport 64 KiB frames >= 0.9x raw batched TLS',
    suite: 'transport',
    figure: 'peerpost transport 64KiB',
    op: '>=',
    threshold: 0.9,
  },
  {
    issue: 5,
    text: 'direct sender >= 0.7x the raw transport on the same connection',
    suite: 'sender',
    figure: /^direct sender /,
    op: '>=',
    threshold: 0.7,
  },
  {
    issue: 5,
    text: 'heap < 64 MiB with 10,000 peers, 1,000 idle senders',
    suite: 'sender',
    figure: /^sender heap/,
    op: '<=',
    threshold: 64 * 1024 * 1024,
    absolute: true,
  },
  {
    issue: 8,
    text: '64 B >= 0.3x raw batched TLS',
    suite: 'throughput',
    figure: 'peerpost TLS 64B',
    op: '>=',
    threshold: 0.3,
  },
  {
    issue: 8,
    text: '64 B >= 3x ZeroMQ',
    suite: 'throughput',
    figure: 'peerpost TLS 64B',
    versus: 'ZeroMQ 64B',
    op: '>=',
    threshold: 3,
  },
  {
    issue: 8,
    text: '64 B >= 20x libp2p',
    suite: 'throughput',
    figure: 'peerpost TLS 64B',
    versus: 'libp2p 64B',
    op: '>=',
    threshold: 20,
  },
  {
    issue: 8,
    text: '1 KiB >= 0.5x raw batched TLS',
    suite: 'throughput',
    figure: 'peerpost TLS 1KiB',
    op: '>=',
    threshold: 0.5,
  },
  {
    issue: 8,
    text: '64 KiB >= 0.9x raw batched TLS',
    suite: 'throughput',
    figure: 'peerpost TLS 64KiB',
    op: '>=',
    threshold: 0.9,
  },
  {
    issue: 8,
    text: 'round-trip p50 <= 1.3x raw TLS ping-pong',
    suite: 'latency',
    figure: 'peerpost TLS p50',
    op: '<=',
    threshold: 1.3,
  },
  {
    issue: 8,
    text: 'broadcast to 100 >= 0.5x raw fan-out',
    suite: 'fanout',
    figure: 'peerpost TLS to 100',
    op: '>=',
    threshold: 0.5,
  },
  {
    issue: 8,
    text: 'RSS per idle connection <= 1.5x raw node:tls',
    suite: 'connections',
    figure: 'peerpost TLS RSS/conn',
    op: '<=',
    threshold: 1.5,
  },
  {
    issue: 8,
    text: 'heap per idle connection <= 1.5x raw node:tls',
    suite: 'connections',
    figure: 'peerpost TLS heap/conn',
    op: '<=',
    threshold: 1.5,
  },
];

export interface TargetResult {
  target: Target;
  /** The figure evaluated (absent when pending). */
  figure?: Figure;
  /** Ratio, or the value itself for absolute targets. */
  measured?: number;
  status: 'met' | 'missed' | 'pending';
}

export function evaluate(figures: readonly Figure[], targets: readonly Target[] = TARGETS): TargetResult[] {
  const out: TargetResult[] = [];
  for (const target of targets) {
    const matches = figures.filter(
      (f) =>
        f.suite === target.suite &&
        (typeof target.figure === 'string' ? f.name === target.figure : target.figure.test(f.name)),
    );
    if (matches.length === 0) {
      out.push({ target, status: 'pending' });
      continue;
    }
    for (const figure of matches) {
      let measured: number | undefined = figure.value;
      if (!target.absolute) {
        const versus = target.versus ?? figure.baseline;
        const base = figures.find((f) => f.suite === target.suite && f.name === versus);
        measured = base ? figure.value / base.value : undefined;
      }
      if (measured === undefined) {
        out.push({ target, figure, status: 'pending' });
        continue;
      }
      const ok = target.op === '>=' ? measured >= target.threshold : measured <= target.threshold;
      out.push({ target, figure, measured, status: ok ? 'met' : 'missed' });
    }
  }
  return out;
}
