import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createNetwork } from '../../src/network/network.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import { MemoryNetwork } from '../../src/transport/memory/network.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { seededRandom } from '../../src/util/random.js';

/**
 * a and b, each with the other pinned by identity. b is unreachable from a for 30 s, so a's
 * sender to b gives up and a remembers a backoff delay for b's address. Then the link
 * comes back and a sends again: how long, in virtual time, until that message is written?
 */
async function afterOutage(recover: 'nothing' | 'b connects to a' | 'reconnect()' | 'topology change') {
  const clock = new FakeClock();
  const memory = new MemoryNetwork({ clock });
  const ta = memory.transport({ host: 'a' });
  const tb = memory.transport({ host: 'b' });
  const a = await createNetwork({
    nodeId: 'a',
    transport: ta,
    listen: 'a:0',
    clock,
    random: seededRandom(7),
  });
  const b = await createNetwork({
    nodeId: 'b',
    transport: tb,
    listen: 'b:0',
    clock,
    random: seededRandom(8),
  });
  a.updateTopology({ b: [{ address: b.address, certHash: tb.identity.certHash }] });
  b.updateTopology({ a: [{ address: a.address, certHash: ta.identity.certHash }] });
  const written = new Map<string, number>();
  a.onOutcome((o) => {
    if (formatOutcome(o.outcome) === 'written') written.set(o.messageId, clock.now());
  });
  memory.setLink('a', 'b', { refuse: true }, false);
  for (let t = 0; t < 30; t++) {
    a.send('b', 'Ping', new Uint8Array(1)); // keeps a's sender to b trying (and giving up)
    await clock.tick(1_000);
  }
  memory.setLink('a', 'b', {}, false);
  const back = clock.now();
  const id = a.send('b', 'Ping', new Uint8Array(1));
  if (recover === 'b connects to a') b.send('a', 'Hello', new Uint8Array(1));
  if (recover === 'reconnect()') a.reconnect('b');
  if (recover === 'topology change') {
    a.updateTopology({ b: [{ address: b.address, certHash: tb.identity.certHash }, 'spare:1'] });
  }
  for (let i = 0; i < 200 && !written.has(id); i++) await clock.tick(50);
  const after = (written.get(id) ?? Number.NaN) - back;
  const closing = Promise.all([a.close(), b.close()]);
  await clock.tick(10_000);
  await closing;
  await memory.close();
  return after;
}

test('after an outage, a remembered backoff delays recovery (the baseline the next test beats)', async () => {
  // Seeded jitter: the same delay every run.
  const after = await afterOutage('nothing');
  assert.ok(after >= 1_000, `written ${after} ms after the link came back`);
});

for (const how of ['b connects to a', 'reconnect()', 'topology change'] as const) {
  test(`the backoff is reset when ${how}: written at once`, async () => {
    const after = await afterOutage(how);
    assert.ok(after <= 100, `written ${after} ms after the link came back`);
  });
}
