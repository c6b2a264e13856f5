import { createNetwork, type Network } from '../../src/network/network.js';
import type { NetworkOptions } from '../../src/network/options.js';
import { MemoryNetwork } from '../../src/transport/memory/network.js';
import type { MemoryNetworkOptions } from '../../src/transport/memory/options.js';
import type { MemoryTransport } from '../../src/transport/memory/transport.js';
import type { TransportLimits } from '../../src/transport/types.js';
import { FakeClock } from '../../src/util/fake-clock.js';

/** Networks on one in-memory transport in virtual time, for tests. */
export interface MemoryNodes {
  readonly clock: FakeClock;
  readonly memory: MemoryNetwork;
  /** One per id, in order; tests may push more (closed by `close()` too). */
  readonly nets: Network[];
  /** Each node's transport by id (a node restarted on the same host reuses it). */
  readonly transports: ReadonlyMap<string, MemoryTransport>;
  /** Closes every network (ticking the clock past their drains), then the transport. */
  close(): Promise<void>;
}

/**
 * Starts a network per id, host `id`, listening on `id:0`. `options(id)` adds options of
 * that node (limits, ..., and `transportLimits` for its transport); `memoryOptions` those
 * of the in-memory network (socket buffers, ...).
 */
export async function memoryNodes(
  ids: readonly string[],
  options: (id: string) => Partial<NetworkOptions> & { transportLimits?: TransportLimits } = () => ({}),
  memoryOptions: Omit<MemoryNetworkOptions, 'clock'> = {},
): Promise<MemoryNodes> {
  const clock = new FakeClock();
  const memory = new MemoryNetwork({ clock, ...memoryOptions });
  const nets: Network[] = [];
  const transports = new Map<string, MemoryTransport>();
  for (const id of ids) {
    const { transportLimits, ...networkOptions } = options(id);
    const transport = memory.transport({
      host: id,
      ...(transportLimits === undefined ? {} : { limits: transportLimits }),
    });
    transports.set(id, transport);
    nets.push(
      await createNetwork({
        nodeId: id,
        transport,
        listen: `${id}:0`,
        clock,
        ...networkOptions,
      }),
    );
  }
  return {
    clock,
    memory,
    nets,
    transports,
    close: async () => {
      const closing = Promise.all(nets.map((n) => n.close()));
      await clock.tick(10_000);
      await closing;
      await memory.close();
    },
  };
}
