/**
 * One round of the connections suite, in a fresh process so memory figures start clean:
 * `node --expose-gc --import tsx bench/connections-child.ts <system> <count>` opens
 * `count` idle connections (both ends in this process), and prints one JSON line with
 * handshakes per second and RSS / heap bytes per connection.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { systemsByName } from './systems/index.js';

/** Handshakes in flight at once (both ends share this process's one thread). */
const CONCURRENCY = 16;

const [name = '', countText = ''] = process.argv.slice(2);
const count = Number(countText);
const system = systemsByName.get(name);
if (!system?.openIdle || !Number.isInteger(count) || count < 1) {
  console.error(`usage: connections-child.ts <system with openIdle> <count>; got ${name} ${countText}`);
  process.exit(2);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('connections-child.ts needs --expose-gc');
  process.exit(2);
}

async function settle(): Promise<NodeJS.MemoryUsage> {
  await sleep(100);
  gc!();
  await sleep(20);
  gc!();
  return process.memoryUsage();
}

// Warm up: load every lazily loaded module and code path before the baseline sample.
await (await system.openIdle(8, 8)).close();
const before = await settle();
const t0 = performance.now();
const idle = await system.openIdle(count, CONCURRENCY);
const elapsed = performance.now() - t0;
const after = await settle();
await idle.close();
console.log(
  JSON.stringify({
    handshakesPerSec: (count * 1000) / elapsed,
    rssPerConn: (after.rss - before.rss) / count,
    heapPerConn: (after.heapUsed - before.heapUsed) / count,
  }),
);
