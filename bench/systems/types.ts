/**
 * The small interfaces every benchmarked system implements. A system supports the modes
 * it can: a stream (one sender -> one receiver), request/reply, fan-out, or many idle
 * connections. The harness (bench/throughput.ts, latency.ts, fanout.ts, connections.ts)
 * times the calls; a system only moves bytes.
 */

/** One sender connected to one receiver. */
export interface StreamPair {
  /**
   * Sends `count` messages carrying `payload` and resolves when the receiving side has
   * every one of them whole (flow control is the system's own business).
   */
  transfer(count: number, payload: Buffer): Promise<void>;
  /** Closes both ends; resolves when their sockets are gone. */
  close(): Promise<void>;
}

/** A client connected to an echoing server. */
export interface RpcPair {
  /** Sends `payload` as a request and resolves when the reply has arrived. */
  roundTrip(payload: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** One publisher connected to `subscribers` receivers. */
export interface FanoutGroup {
  /** Sends `count` messages to every subscriber; resolves when all of them have all messages. */
  broadcast(count: number, payload: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** `count` idle, authenticated connections (both ends in this process). */
export interface IdleConnections {
  close(): Promise<void>;
}

export interface BenchSystem {
  /** Name shown in tables and used as the figure's `system` (stable: targets refer to it). */
  readonly name: string;
  /**
   * A third-party alternative: measured in a round-robin group of its own, after the raw
   * baselines and peerpost (which are then closed), so that its heap and background work
   * do not change their figures (a libp2p node open in the same process made peerpost's
   * GC 1.5x as expensive; see BENCHMARKS.md, Method).
   */
  readonly alternative?: boolean;
  /**
   * Resolves to `undefined` when the system can run, or to a reason it cannot yet
   * (e.g. the module it measures has not landed): the run lists it as pending.
   */
  pending?(): Promise<string | undefined>;
  openStream?(): Promise<StreamPair>;
  openRpc?(): Promise<RpcPair>;
  openFanout?(subscribers: number): Promise<FanoutGroup>;
  /** Opens `count` connections, at most `concurrency` handshakes in flight. */
  openIdle?(count: number, concurrency: number): Promise<IdleConnections>;
}
