import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { startNodeService } from '../../src/node/service.js';
import { makeCredentials, tempDir } from './cli-harness.js';

type Log = Record<string, unknown> & { msg: string };

const RELOAD_MESSAGES = new Set([
  'configuration reloaded',
  'configuration reloaded: nothing changed',
  'configuration reloaded: repaired after a failed reload',
  'configuration reloaded: repaired after a failed reload, nothing changed',
  'configuration reload failed: keeping the running configuration',
]);

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('reload log lines: a reload that changes nothing says so; the first good reload after a failed one says it is repaired', async () => {
  const tmp = tempDir('reload-log');
  const logs: Log[] = [];
  const destination = {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Log);
      return true;
    },
  };
  const path = join(tmp.dir, 'n.yaml');
  const base = {
    nodeId: 'n',
    listen: '127.0.0.1:0',
    credentials: { key: 'n/key.pem', cert: 'n/cert.pem' },
    limits: { drainTimeoutMs: 100 },
  };
  await makeCredentials(tmp.dir, 'n');
  writeFileSync(path, stringify(base));
  // Replaced whole (written beside it, then renamed), as deploy tools and most editors do:
  // the node's file watcher reloads on its own and could read a file rewritten in place
  // half-written, a reload this test did not mean to cause.
  const replace = (text: string) => {
    writeFileSync(`${path}.new`, text);
    renameSync(`${path}.new`, path);
  };
  const service = await startNodeService({
    configPath: path,
    logDestination: destination,
    prettyLogs: false,
  });
  /** The reload lines logged from index `from` on, by message. */
  const reloads = (from = 0) =>
    logs
      .slice(from)
      .map((l) => l.msg)
      .filter((m) => RELOAD_MESSAGES.has(m));
  try {
    // Nothing changed: said so.
    assert.equal((await service.reload()).kind, 'unchanged');
    assert.deepEqual(reloads(), ['configuration reloaded: nothing changed']);

    // A broken file, then the same config back: the good reload says it is repaired (once).
    let mark = logs.length;
    replace(`${stringify(base)}directSendMode: sideways\n`);
    assert.equal((await service.reload()).kind, 'invalid');
    mark = logs.length - 1;
    replace(stringify(base));
    await until('a good reload', () =>
      reloads(mark).some((m) => m !== 'configuration reload failed: keeping the running configuration'),
    );
    assert.equal((await service.reload()).kind, 'unchanged');
    const afterFix = reloads(mark).filter(
      (m) => m !== 'configuration reload failed: keeping the running configuration',
    );
    assert.equal(afterFix[0], 'configuration reloaded: repaired after a failed reload, nothing changed');
    // Later good reloads are plain again.
    assert.ok(afterFix.length >= 2, afterFix.join(' | '));
    for (const m of afterFix.slice(1)) assert.equal(m, 'configuration reloaded: nothing changed');
    const repairedLine = logs.find(
      (l) => l.msg === 'configuration reloaded: repaired after a failed reload, nothing changed',
    );
    assert.equal(repairedLine?.repaired, true);
    assert.equal(repairedLine?.failedWith, 'ERR_INVALID_CONFIG');

    // Broken, then fixed with a change: the change is applied and the line says it is repaired.
    replace(`${stringify(base)}directSendMode: sideways\n`);
    assert.equal((await service.reload()).kind, 'invalid');
    mark = logs.length - 1;
    replace(stringify({ ...base, directSendMode: 'broadcast' }));
    const result = await service.reload();
    assert.ok(
      result.kind === 'changed' || result.kind === 'unchanged',
      `the fixed file loads (${result.kind}); unchanged when the watcher applied it first`,
    );
    await until('the repaired reload', () =>
      logs.slice(mark).some((l) => l.msg === 'configuration reloaded: repaired after a failed reload'),
    );
    const repaired = logs
      .slice(mark)
      .find((l) => l.msg === 'configuration reloaded: repaired after a failed reload');
    assert.match(JSON.stringify(repaired?.changes), /directSendMode: direct -> broadcast/);
    assert.equal(repaired?.repaired, true);
    assert.equal(service.config.directSendMode, 'broadcast');
  } finally {
    await service.close();
    tmp.remove();
  }
});
