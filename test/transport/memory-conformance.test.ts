import { MemoryNetwork } from '../../src/transport/memory/index.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { runConformanceSuite } from './conformance.js';

runConformanceSuite('memory', async ({ limits }) => {
  const clock = new FakeClock();
  const network = new MemoryNetwork({ clock, seed: 7 });
  const server = network.transport({ host: 'server', limits });
  const client = network.transport({ host: 'client', limits });
  return {
    server,
    client,
    serverIdentity: server.identity,
    clientIdentity: client.identity,
    listenAddress: () => 'server:0',
    advance: (ms) => clock.tick(ms),
    close: () => network.close(),
  };
});
