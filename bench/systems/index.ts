/**
 * Which systems each suite measures. To add one (e.g. peerpost over the Network API),
 * write a file in this folder implementing BenchSystem and add it to the lists below.
 * The first system of a list is the baseline the others are compared with (raw TLS).
 */
import { libp2p } from './libp2p.js';
import { peerpostMemory, peerpostTls } from './peerpost-network.js';
import { peerpostTransport } from './peerpost-transport.js';
import { rawTcp } from './raw-tcp.js';
import { rawTls } from './raw-tls.js';
import type { BenchSystem } from './types.js';
import { ws } from './ws.js';
import { zeromq } from './zeromq.js';

export const throughputSystems: readonly BenchSystem[] = [
  rawTls,
  rawTcp,
  peerpostTls,
  peerpostMemory,
  zeromq,
  libp2p,
  ws,
];
export const latencySystems: readonly BenchSystem[] = [
  rawTls,
  rawTcp,
  peerpostTls,
  peerpostMemory,
  zeromq,
  libp2p,
  ws,
];
export const fanoutSystems: readonly BenchSystem[] = [rawTls, peerpostTls, peerpostMemory];
export const connectionSystems: readonly BenchSystem[] = [rawTls, peerpostTls, peerpostTransport];
export const transportSystems: readonly BenchSystem[] = [rawTls, rawTcp, peerpostTransport];

/** Every system by name (the connections suite runs each in a child process by name). */
export const systemsByName: ReadonlyMap<string, BenchSystem> = new Map(
  [...throughputSystems, ...latencySystems, ...fanoutSystems, ...connectionSystems, ...transportSystems].map(
    (s) => [s.name, s],
  ),
);
