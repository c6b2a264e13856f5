/** What bench/two-process.ts and its receiving child (bench/two-process-child.ts) share. */
import type { Credentials, PrometheusMetrics } from '../src/index.js';

export type ParentMessage =
  | { type: 'init'; credentials: Credentials; peerCertPem: string }
  | { type: 'expect'; total: number }
  | { type: 'stats' }
  | { type: 'close' };

export interface ChildStats {
  /** Messages counted (not the echoed or replied ones) since the start. */
  delivered: number;
  /** peerpost only: `network.stats()` figures that would reveal loss or duplication. */
  deduplicated?: number;
  undecodable?: number;
  droppedSlowReader?: number;
  outcomes?: Record<string, number>;
  /** With `--metrics`: `peerpost_received_bytes_total` (proves the metrics were live). */
  metricReceivedBytes?: number;
}

export type ChildMessage =
  | { type: 'listening'; port: number }
  /** `cpuUs`: the child's cumulative CPU time (user + system), in µs. */
  | { type: 'done'; delivered: number; cpuUs: number }
  | { type: 'stats'; stats: ChildStats }
  | { type: 'closed' }
  | { type: 'error'; error: string };

/** Compression off on both sides: the bench payloads are periodic and would compress to nothing. */
export const NO_COMPRESSION = Number.MAX_SAFE_INTEGER;
/** ALPN of the raw TLS connection whose frames the child counts. */
export const ALPN_COUNT = 'bench-count';
/** ALPN of the raw TLS connection whose frames the child echoes (latency). */
export const ALPN_ECHO = 'bench-echo';

/** Sum of every series of one metric in the Prometheus text exposition. */
export async function sumMetric(metrics: PrometheusMetrics, name: string): Promise<number> {
  let sum = 0;
  for (const line of (await metrics.metricsText()).split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}
