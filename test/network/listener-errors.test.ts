import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Network } from '../../src/network/network.js';
import { memoryNodes } from './memory-nodes.js';

async function pair() {
  const { clock, nets, close } = await memoryNodes(['a', 'b']);
  const [a, b] = nets as [Network, Network];
  a.updateTopology({ b: [b.address] });
  return { clock, a, b, close: (..._closed: Network[]) => close() };
}

/** Replaces console.error while `fn` runs; returns what was printed. */
async function capturingStderr(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => {
    lines.push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(' '));
  };
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return lines;
}

test('a throwing onMessage listener loses nothing: other listeners run, onError gets it, it is counted', async () => {
  const p = await pair();
  const seen: string[] = [];
  const errors: string[] = [];
  p.b.onMessage((msg) => {
    if (msg.label === 'Bad') throw new Error(`cannot handle ${msg.id}`);
  });
  p.b.onMessage((msg) => seen.push(msg.label));
  p.b.onError((err, ctx) => errors.push(`${ctx.source}:${ctx.messageId}:${(err as Error).message}`));
  const bad = p.a.send('b', 'Bad', new Uint8Array(1));
  p.a.send('b', 'Good', new Uint8Array(1));
  await p.clock.tick(10);
  assert.deepEqual(seen, ['Bad', 'Good'], 'the second listener got both, in order');
  assert.deepEqual(errors, [`onMessage:${bad}:cannot handle ${bad}`]);
  assert.equal(p.b.stats().listenerErrors, 1);
  await p.close(p.a, p.b);
});

test('with no onError listener, listener exceptions go to stderr, rate-limited; outcome listeners too', async () => {
  const p = await pair();
  p.b.onMessage(() => {
    throw new Error('handler bug');
  });
  p.a.onOutcome(() => {
    throw new Error('outcome listener bug');
  });
  let settledWith = -1;
  const lines = await capturingStderr(async () => {
    for (let i = 0; i < 25; i++) p.a.send('b', 'X', new Uint8Array(1));
    p.a.send('b', 'Y', new Uint8Array(1), {
      onSettled: (all) => {
        settledWith = all.length;
        throw new Error('settled listener bug');
      },
    });
    await p.clock.tick(10);
    // A new 10 s window prints the count of what the last one suppressed.
    await p.clock.tick(10_000);
    p.a.send('b', 'Z', new Uint8Array(1));
    await p.clock.tick(10);
  });
  assert.equal(settledWith, 1, 'the per-send listener ran (and threw)');
  const handler = lines.filter((l) => l.includes('handler bug'));
  const outcome = lines.filter((l) => l.includes('outcome listener bug'));
  // 10 in the first window, then Z's in the next one.
  assert.equal(handler.length, 11, `b printed its first 10 in the window, then Z's: ${lines.join('\n')}`);
  assert.equal(outcome.length, 11, "a printed its first 10 in the window, then Z's");
  assert.ok(lines.includes('peerpost b: 16 more listener errors not printed'), lines.join('\n'));
  assert.ok(lines.includes('peerpost a: 17 more listener errors not printed'), lines.join('\n'));
  assert.equal(p.b.stats().listenerErrors, 27);
  assert.equal(p.a.stats().listenerErrors, 28, '27 outcomes and one onSettled');
  assert.equal(p.a.stats().outcomes.written, 27, 'a throwing listener did not disturb the accounting');
  await p.close(p.a, p.b);
});
