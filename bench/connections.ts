/**
 * Connections suite: handshakes per second and memory (RSS and V8 heap) per idle
 * connection at 1,000 connections (50 in quick mode, one round). Each round runs in a fresh child
 * process (bench/connections-child.ts); both ends of every connection live in that
 * process, so "per connection" covers the client and the server side together.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bounded } from './harness.js';
import { type Figure, failures, median, pending, quick } from './lib.js';
import { connectionSystems } from './systems/index.js';

const CHILD = fileURLToPath(new URL('./connections-child.ts', import.meta.url));

interface Sample {
  handshakesPerSec: number;
  rssPerConn: number;
  heapPerConn: number;
}

function runChild(system: string, count: number): Promise<Sample> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', CHILD, system, String(count)],
      { timeout: 120_000, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${system} child failed: ${err.message}\n${stderr}`));
          return;
        }
        const line = stdout.trim().split('\n').at(-1) ?? '';
        try {
          resolve(JSON.parse(line) as Sample);
        } catch {
          reject(new Error(`${system} child printed no result: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

export async function benchConnections(): Promise<Figure[]> {
  const figures: Figure[] = [];
  const count = quick ? 50 : 1000;
  const rounds = quick ? 1 : 3;
  const suite = 'connections';
  const runnable = [];
  for (const system of connectionSystems) {
    const why = system.pending ? await system.pending() : undefined;
    if (why === undefined) runnable.push(system);
    else pending.push({ suite, system: system.name, reason: why });
  }
  // Round-robin, so that load on the machine hits every system alike.
  const samples = new Map<string, Sample[]>(runnable.map((s) => [s.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const system of runnable) {
      const mine = samples.get(system.name);
      if (!mine) continue;
      try {
        mine.push(await bounded(runChild(system.name, count), 130_000, `${system.name} connections`));
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        failures.push({ suite, system: system.name, error });
        process.stderr.write(`  ${system.name}: FAILED ${error}\n`);
        samples.delete(system.name);
      }
    }
  }
  const cases = [
    ['handshakes/s', 'handshakesPerSec', 'handshakes/s', false],
    ['RSS/conn', 'rssPerConn', 'bytes', true],
    ['heap/conn', 'heapPerConn', 'bytes', true],
  ] as const;
  for (const [name, mine] of samples) {
    for (const [label, key, unit, lowerIsBetter] of cases) {
      const rs = mine.map((s) => s[key]);
      figures.push({
        suite,
        name: `${name} ${label}`,
        system: name,
        case: label,
        value: median(rs),
        unit,
        rounds: rs,
        baseline: `raw TLS ${label}`,
        lowerIsBetter,
      });
    }
    process.stderr.write(`  ${name}: ${count} connections x ${rounds}\n`);
  }
  return figures;
}
