import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  MARKING_STATE_PER_S,
  MARKING_STATE_WINDOW_MS,
  MarkingStateWatch,
} from '../../src/node/marking-state.js';
import { MARKING_STATE_MESSAGE, MARKING_STATE_REMEDY, startNodeService } from '../../src/node/service.js';
import { makeCredentials, tempDir, writeConfig } from './cli-harness.js';

/** Mark-compacts in a window at the marking state's rate. */
const AT_RATE = (MARKING_STATE_PER_S * MARKING_STATE_WINDOW_MS) / 1000;

test('MarkingStateWatch: says so once when the mark-compacts reach the rate, again only after the rate fell', () => {
  const watch = new MarkingStateWatch();
  const every = MARKING_STATE_WINDOW_MS / AT_RATE; // exactly the rate
  let t = 0;
  // One a second for a minute: a process out of the state.
  for (let i = 0; i < 60; i++, t += 1000) assert.equal(watch.record(t), undefined);
  // Then at the rate: reported once, when the window holds AT_RATE of them.
  const reports: number[] = [];
  for (let i = 0; i < 3 * AT_RATE; i++, t += every) {
    const r = watch.record(t);
    if (r !== undefined) reports.push(r);
  }
  assert.deepEqual(reports, [MARKING_STATE_PER_S]);
  // Still in it (the rate just below, above half of it): not said again.
  for (let i = 0; i < AT_RATE; i++, t += every * 1.5) assert.equal(watch.record(t), undefined);
  // A quiet minute, then the rate again: said again.
  t += 60_000;
  const again: number[] = [];
  for (let i = 0; i < 2 * AT_RATE; i++, t += every / 2) {
    const r = watch.record(t);
    if (r !== undefined) again.push(r);
  }
  assert.deepEqual(again, [MARKING_STATE_PER_S]);
});

test('MarkingStateWatch: below the rate it says nothing; a burst far above it is bounded', () => {
  const below = new MarkingStateWatch();
  const slow = MARKING_STATE_WINDOW_MS / (AT_RATE - 2); // 48 in a window: one or two short of it
  for (let i = 0, t = 0; i < 1000; i++, t += slow) assert.equal(below.record(t), undefined);
  const burst = new MarkingStateWatch();
  const seen: number[] = [];
  for (let i = 0; i < 100_000; i++) {
    const r = burst.record(i / 100); // 100,000 a second
    if (r !== undefined) seen.push(r);
  }
  assert.equal(seen.length, 1);
  assert.ok((seen[0] as number) >= MARKING_STATE_PER_S);
});

test('peerpost node logs the marking state when its mark-compacts come at that rate, once', async () => {
  const tmp = tempDir('marking-state');
  const logs: { msg: string; level: number; [k: string]: unknown }[] = [];
  const destination = {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line));
      return true;
    },
  };
  await makeCredentials(tmp.dir, 'n');
  const path = join(tmp.dir, 'n.yaml');
  writeConfig(path, {
    nodeId: 'n',
    listen: '127.0.0.1:0',
    credentials: { key: 'n/key.pem', cert: 'n/cert.pem' },
    limits: { drainTimeoutMs: 100 },
  });
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const service = await startNodeService({
    configPath: path,
    logDestination: destination,
    prettyLogs: false,
  });
  const marking = () => logs.filter((l) => l.msg === MARKING_STATE_MESSAGE);
  try {
    // A few full collections: no line.
    for (let i = 0; i < 3; i++) gc();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(marking().length, 0);
    // Full collections at more than the rate (forced here; under load V8 makes them itself).
    for (let i = 0; i < 2 * AT_RATE; i++) gc();
    await new Promise((r) => setTimeout(r, 50));
    const lines = marking();
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const line = lines[0]!;
    assert.equal(line.level, 40); // warn
    assert.equal(line.remedy, MARKING_STATE_REMEDY);
    assert.equal(line.windowMs, MARKING_STATE_WINDOW_MS);
    assert.ok((line.markCompactsPerSecond as number) >= MARKING_STATE_PER_S);
    assert.equal(line.nodeId, 'n');
  } finally {
    await service.close();
    tmp.remove();
  }
  // Closed: no longer watching.
  const before = marking().length;
  for (let i = 0; i < 2 * AT_RATE; i++) gc();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(marking().length, before);
});
