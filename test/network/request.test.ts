import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isPeerpostError } from '../../src/errors.js';
import { IdCounter } from '../../src/network/id-counter.js';
import type { MessageSource } from '../../src/network/incoming.js';
import type { Network } from '../../src/network/network.js';
import {
  PendingRequest,
  Requests,
  replyIdFromBytes,
  replyIdOf,
  requestIdOf,
} from '../../src/network/requests.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import { addr } from '../../src/sender/receiver.js';
import type { MemoryNetwork } from '../../src/transport/memory/network.js';
import { FakeClock, settle } from '../../src/util/fake-clock.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/wire/envelope.js';
import { closeAll, enc, makeCredentials, startNode, type TestNode, topologyOf } from './helpers.js';
import { memoryNodes } from './memory-nodes.js';

const text = (d: Uint8Array) => Buffer.from(d).toString();

interface Mesh {
  clock: FakeClock;
  memory: MemoryNetwork;
  nodes: Network[];
  close(): Promise<void>;
}

/** Nodes on the in-memory transport in virtual time, each with every other in its table. */
async function mesh(ids: readonly string[]): Promise<Mesh> {
  const m = await memoryNodes(ids);
  const table = Object.fromEntries(m.nets.map((n) => [n.nodeId, [n.address]]));
  for (const n of m.nets) n.updateTopology(table);
  return { clock: m.clock, memory: m.memory, nodes: m.nets, close: m.close };
}

/** Rejects with the promise's error code, or fails if it resolves. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(isPeerpostError(err), String(err));
    return err.code;
  }
  assert.fail('expected a rejection');
}

describe('reply ids name their request', () => {
  test('replyIdOf / requestIdOf round-trip; plain ids are not replies', () => {
    assert.equal(replyIdOf('a-1f-9', 'b-2e-4'), 'a-1f-9~r~b-2e-4');
    assert.equal(requestIdOf('a-1f-9~r~b-2e-4'), 'a-1f-9');
    const replyToReply = replyIdOf(replyIdOf('a-1', 'b-1'), 'a-2');
    assert.equal(requestIdOf(replyToReply), 'a-1~r~b-1', 'a reply to a reply names the reply');
    for (const plain of ['a-1f-9', '~r~x', 'a~r~', 'a~rx', ''])
      assert.equal(requestIdOf(plain), undefined, plain);
  });
});

describe("replyIdFromBytes: the reply id made from the request id's received bytes", () => {
  const envelope = (id: string) =>
    ({
      deliveryStartTimestampMs: 7n,
      id,
      label: 'Pong',
      compressed: false,
      data: new Uint8Array([1, 2, 3]),
      lastSenderIsProxy: false,
    }) as const;

  test('is replyIdOf of the two ids and encodes to the same bytes, for every fresh id the counter makes; undefined for others', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 60, unit: fc.constantFrom(...'abcxyz019-~r:'.split('')) }),
        fc.string({ minLength: 0, maxLength: 8, unit: 'grapheme-ascii' }),
        fc.nat({ max: 5000 }),
        fc.constantFrom('counter', 'other ascii', 'unicode'),
        (requestId, padding, seq, kind) => {
          // The request id's bytes inside a larger received buffer.
          const received = Buffer.from(`${padding}${requestId}${padding}`, 'latin1');
          const start = padding.length;
          const end = start + requestId.length;
          if (kind !== 'counter') {
            // Not the id counter's latest (the codec was not told about it): the caller uses replyIdOf.
            const fresh = kind === 'unicode' ? `nœud-${seq}` : `r-${seq.toString(36)}`;
            assert.equal(replyIdFromBytes(received, start, end, fresh), undefined);
            return;
          }
          const ids = new IdCounter(seq % 2 === 0 ? 'responder-0a1b2c3d-' : 'r-');
          for (let i = 0; i < seq % 40; i++) ids.next();
          // Two replies to the request: the second finds the request id's head kept.
          for (let reply = 0; reply < 2; reply++) {
            const fresh = ids.next(); // the codec was just told about it (noteAscii)
            const id = replyIdFromBytes(received, start, end, fresh);
            assert.equal(id, replyIdOf(requestId, fresh));
            // The codec sizes and writes it from its bytes: the same frame as from the string.
            const viaBytes = encodeEnvelope(envelope(id as string));
            const viaString = encodeEnvelope(envelope(replyIdOf(requestId, fresh)));
            assert.deepEqual(viaBytes, viaString);
            assert.equal(decodeEnvelope(viaBytes).envelope.id, replyIdOf(requestId, fresh));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  test('request ids of one requester, then of another of the same length, each as the id counter made them', () => {
    const responder = new IdCounter('responder-0a1b2c3d-');
    for (const head of ['client-00000001-', 'client-00000002-', 'client-00000001-']) {
      const requests = new IdCounter(head);
      for (let i = 0; i < 100; i++) {
        const requestId = requests.next();
        const received = Buffer.from(`..${requestId}..`, 'latin1');
        const fresh = responder.next();
        const id = replyIdFromBytes(received, 2, 2 + requestId.length, fresh);
        assert.equal(id, replyIdOf(requestId, fresh));
        assert.deepEqual(
          encodeEnvelope(envelope(id as string)),
          encodeEnvelope(envelope(replyIdOf(requestId, fresh))),
        );
      }
    }
  });
});

describe('Requests.answeredBy', () => {
  const from = (peerId: string, address = `${peerId}:1`) =>
    ({ peerId, address, direction: 'outbound' }) as unknown as MessageSource;
  /** The requests `ids` (to peer `p`) waiting in one table. */
  const table = (ids: readonly string[]) => {
    const requests = new Requests<string>(new FakeClock());
    const made = ids.map((id) => {
      const r = new PendingRequest<string>(id, 'p', undefined, 'p', 1_000, requests, undefined);
      requests.add(r);
      return r;
    });
    return { requests, made };
  };
  /** As the decoder hands a received ASCII id over: its bytes inside a larger chunk, and the string only when asked. */
  const received = (id: string) => {
    const chunk = Buffer.from(`..${id}..`, 'latin1');
    let made = 0;
    return {
      source: {
        get id() {
          made++;
          return id;
        },
        idBytes: chunk,
        idStart: 2,
        idEnd: 2 + id.length,
      },
      made: () => made,
    };
  };

  test('from the bytes of a received id, the same request the id string names', () => {
    const cases: [readonly string[], string, string, number | undefined][] = [
      [['a-1'], 'a-1~r~b-1', 'p', 0],
      [['a-1'], 'a-1~r~', 'p', 0],
      [['a-1'], 'a-1~r~b-1', 'q', undefined], // from another peer
      [['a-1'], 'a-2~r~b-1', 'p', undefined],
      [['a-1'], 'a-1', 'p', undefined],
      [['a-1'], 'xa-1~r~b-1', 'p', undefined],
      [['a-1'], '~r~a-1~r~b', 'p', undefined],
      [['a~r~b'], 'a~r~b~r~c', 'p', 0], // the request id holds a mark itself
      [['a'], 'a~r~b~r~c', 'p', 0], // a reply to a reply names the first request too
      [['a-1', 'a-2'], 'a-2~r~b-1', 'p', 1], // several waiting: looked up by the string
      [['a-1', 'a-2'], 'a-3~r~b-1', 'p', undefined],
    ];
    for (const [ids, reply, peer, expected] of cases) {
      const what = `${ids.join(',')} / ${reply} from ${peer}`;
      const bytes = table(ids);
      const text = table(ids);
      const { source } = received(reply);
      const got = bytes.requests.answeredBy(source, from(peer));
      const byString = text.requests.answeredBy({ id: reply }, from(peer));
      assert.equal(got, expected === undefined ? undefined : bytes.made[expected], what);
      assert.equal(byString, expected === undefined ? undefined : text.made[expected], what);
    }
  });

  test('an id the id counter made is matched by the bytes it was made from, as by its string', () => {
    const counter = new IdCounter('node-0a1b2c3d-');
    for (let k = 0; k < 1400; k++) {
      const id = counter.next();
      const requests = new Requests<string>(new FakeClock());
      const r = new PendingRequest<string>(id, 'p', undefined, 'p', 1_000, requests, undefined);
      requests.add(r);
      const last = id.charCodeAt(id.length - 1);
      const others: [string, boolean][] = [
        [id, true],
        [`${id}0`, false],
        [id.slice(0, -1), false],
        [`m${id.slice(1)}`, false],
        [`${id.slice(0, 5)}x${id.slice(6)}`, false],
        [`${id.slice(0, -1)}${String.fromCharCode(last === 0x30 ? 0x31 : 0x30)}`, false],
      ];
      for (const [other, match] of others) {
        const { source } = received(`${other}~r~b-1`);
        const text = requests.answeredBy({ id: `${other}~r~b-1` }, from('p'));
        assert.equal(requests.answeredBy(source, from('p')), match ? r : undefined, `${id} / ${other}`);
        assert.equal(text, match ? r : undefined, `${id} / ${other} (string)`);
      }
    }
  });

  test('no id string is made for a message that names no request, nor for the reply to the only one waiting', () => {
    const { requests, made } = table(['a-1']);
    const plain = received('c-7');
    assert.equal(requests.answeredBy(plain.source, from('p')), undefined);
    const reply = received('a-1~r~b-1');
    assert.equal(requests.answeredBy(reply.source, from('p')), made[0]);
    assert.equal(plain.made() + reply.made(), 0);
    // With two waiting the string is made (and the map asked).
    const two = table(['a-1', 'a-2']);
    const other = received('a-2~r~b-1');
    assert.equal(two.requests.answeredBy(other.source, from('p')), two.made[1]);
    assert.equal(other.made(), 1);
  });
});

describe('network.request() (in-memory transport, virtual time)', () => {
  test('resolves with the reply that names it, from the peer it asked; the reply skips onMessage', async () => {
    const m = await mesh(['a', 'b']);
    const [a, b] = m.nodes as [Network, Network];
    const atA: string[] = [];
    a.onMessage((msg) => atA.push(msg.id));
    b.onMessage((msg) => {
      if (msg.label === 'Ask') msg.reply('Answer', enc(`re: ${text(msg.data)}`));
    });
    const first = a.request('b', 'Ask', enc('one'));
    const second = a.request('b', 'Ask', enc('two'));
    await m.clock.tick(10);
    const [r1, r2] = await Promise.all([first, second]);
    assert.equal(text(r1.data), 're: one');
    assert.equal(text(r2.data), 're: two');
    assert.notEqual(requestIdOf(r1.id), undefined);
    assert.notEqual(requestIdOf(r1.id), requestIdOf(r2.id));
    assert.deepEqual(atA, [], 'replies to requests do not reach onMessage');
    await m.close();
  });

  test('a message that merely arrives first, or a forged reply id from another peer, does not answer', async () => {
    const m = await mesh(['a', 'b', 'c']);
    const [a, b, c] = m.nodes as [Network, Network, Network];
    const atA: string[] = [];
    a.onMessage((msg) => atA.push(`${msg.label}:${msg.id}`));
    let asked: { id: string; reply(label: string, data: Uint8Array): string } | undefined;
    b.onMessage((msg) => {
      asked = msg;
    });
    let answer: string | undefined;
    const pending = a.request('b', 'Ask', enc('?'), { timeoutMs: 5_000 }).then((r) => {
      answer = text(r.data);
    });
    await m.clock.tick(10);
    assert.ok(asked !== undefined);
    b.send('a', 'Chatter', enc('not an answer'));
    c.send('a', 'Forged', enc('c is not b'), { id: replyIdOf(asked.id, c.newMessageId()) });
    await m.clock.tick(10);
    assert.equal(answer, undefined, 'neither answered the request');
    assert.deepEqual(atA.map((x) => x.split(':')[0]).sort(), ['Chatter', 'Forged']);
    asked.reply('Answer', enc('the answer'));
    await m.clock.tick(10);
    await pending;
    assert.equal(answer, 'the answer');
    await m.close();
  });

  test('times out with ERR_REQUEST_TIMEOUT on the injected clock; a late reply is an ordinary message', async () => {
    const m = await mesh(['a', 'b']);
    const [a, b] = m.nodes as [Network, Network];
    const asked: { reply(label: string, data: Uint8Array): string }[] = [];
    b.onMessage((msg) => asked.push(msg));
    const late: string[] = [];
    a.onMessage((msg) => late.push(msg.label));
    const code = codeOf(a.request('b', 'Ask', enc('?'), { timeoutMs: 2_000 }));
    await m.clock.tick(1_999);
    let settled = false;
    void code.then(() => {
      settled = true;
    });
    await settle();
    assert.equal(settled, false, 'still waiting before the timeout');
    await m.clock.tick(1);
    assert.equal(await code, 'ERR_REQUEST_TIMEOUT');
    asked[0]!.reply('Late', enc('too late'));
    await m.clock.tick(10);
    assert.deepEqual(late, ['Late']);
    await m.close();
  });

  test('rejects with ERR_REQUEST_DROPPED, the outcomes as cause, when no target got it written', async () => {
    const m = await mesh(['a']);
    const [a] = m.nodes as [Network];
    const p = a.request(addr('nowhere:1'), 'Ask', enc('?'));
    const err = await p.catch((e: unknown) => e);
    assert.ok(isPeerpostError(err, 'ERR_REQUEST_DROPPED'), String(err));
    const outcomes = (err as Error & { cause: { outcome: Parameters<typeof formatOutcome>[0] }[] }).cause;
    assert.deepEqual(
      outcomes.map((o) => formatOutcome(o.outcome)),
      ['dropped:no_connection'],
    );
    await m.close();
  });

  test('with acks, a reply that comes after the ack still answers (delivered counts as reached)', async () => {
    const m = await memoryNodes(['a', 'b'], (id) => (id === 'a' ? { acks: { enabled: true } } : {}));
    const [a, b] = m.nets as [Network, Network];
    a.updateTopology({ b: [b.address] });
    const asked: { reply(label: string, data: Uint8Array): string }[] = [];
    b.onMessage((msg) => asked.push(msg));
    const outcomes: string[] = [];
    let result: string | undefined;
    a.request('b', 'Ask', enc('slow'), {
      timeoutMs: 5_000,
      onOutcome: (e) => outcomes.push(formatOutcome(e.outcome)),
    }).then(
      (r) => {
        result = text(r.data);
      },
      (e: unknown) => {
        result = String(e);
      },
    );
    // The responder answers only after b's node acknowledged the request to a.
    for (let i = 0; i < 20 && outcomes.length === 0; i++) await m.clock.tick(100);
    assert.deepEqual(outcomes, ['delivered'], 'the request was acknowledged first');
    assert.equal(asked.length, 1);
    await settle();
    assert.equal(result, undefined, 'still waiting for the reply once acknowledged');
    asked[0]!.reply('Answer', enc('late but fine'));
    for (let i = 0; i < 10 && result === undefined; i++) await m.clock.tick(10);
    assert.equal(result, 'late but fine');
    await m.close();
  });

  test('abort rejects ERR_ABORTED; close rejects what is pending with ERR_CLOSED; both leave no timer', async () => {
    const m = await mesh(['a', 'b']);
    const [a] = m.nodes as [Network, Network];
    const ctl = new AbortController();
    const aborted = codeOf(a.request('b', 'Ask', enc('?'), { signal: ctl.signal, timeoutMs: 60_000 }));
    const closed = codeOf(a.request('b', 'Ask', enc('?'), { timeoutMs: 60_000 }));
    await m.clock.tick(10);
    ctl.abort();
    assert.equal(await aborted, 'ERR_ABORTED');
    const closing = a.close();
    assert.equal(await closed, 'ERR_CLOSED');
    await m.clock.tick(10_000);
    await closing;
    assert.equal(await codeOf(a.request('b', 'Ask', enc('?'))), 'ERR_CLOSED');
    await m.close();
    assert.equal(m.clock.pendingTimers, 0, 'no request timer left');
  });
});

describe('sendAndWait() and per-send callbacks', () => {
  test('resolves with one outcome per target once every target has one', async () => {
    const m = await mesh(['a', 'b']);
    const [a, b] = m.nodes as [Network, Network];
    a.updateTopology({ b: [b.address, 'gone:1'] });
    const seen: string[] = [];
    const done = a.sendAndWait('b', 'Note', enc('x'));
    let outcomes: readonly { address: string | undefined; outcome: Parameters<typeof formatOutcome>[0] }[] =
      [];
    void done.then((o) => {
      outcomes = o;
    });
    a.send('b', 'Note', enc('y'), {
      onOutcome: (e) => seen.push(`${e.address}:${formatOutcome(e.outcome)}`),
    });
    await m.clock.tick(10);
    assert.equal(outcomes.length, 0, 'gone:1 still retries: not settled');
    await m.clock.tick(10_000); // past the backoff deadline
    await done;
    assert.deepEqual(outcomes.map((o) => `${o.address}:${formatOutcome(o.outcome)}`).sort(), [
      `${b.address}:written`,
      'gone:1:dropped:connect_failed',
    ]);
    assert.deepEqual(seen.sort(), [`${b.address}:written`, 'gone:1:dropped:connect_failed']);
    await m.close();
  });
});

describe('network.request() over mutual TLS (127.0.0.1)', () => {
  const nodes: TestNode[] = [];
  test('a request and its reply between two processes-worth of nodes', async (t) => {
    t.after(() => closeAll(nodes));
    const creds = await makeCredentials(2);
    const trust = { certHashes: [] as string[] };
    nodes.push(await startNode('a', creds[0]!, { trust }), await startNode('b', creds[1]!, { trust }));
    for (const n of nodes) n.network.updateTopology(topologyOf(nodes));
    const [a, b] = nodes as [TestNode, TestNode];
    b.network.onMessage((msg) => {
      if (msg.label === 'Ask') msg.reply('Answer', enc(`${text(msg.data)} pong`));
    });
    const reply = await a.network.request('b', 'Ask', enc('ping'), { timeoutMs: 5_000 });
    assert.equal(text(reply.data), 'ping pong');
    assert.equal(reply.from.peerId, 'b');
    assert.equal(
      a.received.some((m) => m.id === reply.id),
      false,
      'the reply went to the request only',
    );
  });
});

describe('request timeouts share one timer (virtual time)', () => {
  test('each request times out at its own deadline, whatever order the deadlines come in', async () => {
    const m = await mesh(['a', 'b']);
    const [a] = m.nodes as [Network, Network];
    const endedAt = new Map<string, number>();
    const t0 = m.clock.now();
    const wait = (name: string, timeoutMs: number) =>
      codeOf(a.request('b', 'Ask', enc(name), { timeoutMs })).then((code) => {
        assert.equal(code, 'ERR_REQUEST_TIMEOUT');
        endedAt.set(name, m.clock.now() - t0);
      });
    const all = [wait('3s', 3_000), wait('1s', 1_000), wait('2s', 2_000), wait('1s-too', 1_000)];
    await m.clock.tick(999);
    await settle();
    assert.equal(endedAt.size, 0, 'none before its deadline');
    await m.clock.tick(1);
    await settle();
    assert.deepEqual([...endedAt.keys()].sort(), ['1s', '1s-too']);
    await m.clock.tick(999);
    await settle();
    assert.equal(endedAt.has('2s'), false);
    await m.clock.tick(1);
    await settle();
    assert.equal(endedAt.get('2s'), 2_000);
    await m.clock.tick(1_000);
    await Promise.all(all);
    assert.deepEqual(Object.fromEntries(endedAt), { '1s': 1_000, '1s-too': 1_000, '2s': 2_000, '3s': 3_000 });
    await m.close();
    assert.equal(m.clock.pendingTimers, 0);
  });

  test('a request made after an answered one still waits its full timeout', async () => {
    const m = await mesh(['a', 'b']);
    const [a, b] = m.nodes as [Network, Network];
    b.onMessage((msg) => {
      if (text(msg.data) === 'answer me') msg.reply('Answer', msg.data);
    });
    const t0 = m.clock.now();
    const answered = a.request('b', 'Ask', enc('answer me'), { timeoutMs: 5_000 });
    await m.clock.tick(10);
    assert.equal(text((await answered).data), 'answer me');
    await m.clock.tick(990); // t = 1000
    let endedAt = -1;
    const unanswered = codeOf(a.request('b', 'Ask', enc('silence'), { timeoutMs: 5_000 })).then((code) => {
      endedAt = m.clock.now() - t0;
      return code;
    });
    await m.clock.tick(4_000); // t = 5000: the first request's deadline, long answered
    await settle();
    assert.equal(endedAt, -1, 'not timed out at the deadline of the answered request');
    await m.clock.tick(999);
    await settle();
    assert.equal(endedAt, -1);
    await m.clock.tick(1);
    assert.equal(await unanswered, 'ERR_REQUEST_TIMEOUT');
    assert.equal(endedAt, 6_000);
    await m.close();
  });

  test('a shorter timeout than the one the timer waits for still fires on time', async () => {
    const m = await mesh(['a', 'b']);
    const [a] = m.nodes as [Network, Network];
    const t0 = m.clock.now();
    const ends: [string, number][] = [];
    const long = codeOf(a.request('b', 'Ask', enc('long'), { timeoutMs: 60_000 })).then((c) => {
      ends.push(['long', m.clock.now() - t0]);
      return c;
    });
    await m.clock.tick(100);
    const short = codeOf(a.request('b', 'Ask', enc('short'), { timeoutMs: 500 })).then((c) => {
      ends.push(['short', m.clock.now() - t0]);
      return c;
    });
    await m.clock.tick(500);
    assert.equal(await short, 'ERR_REQUEST_TIMEOUT');
    assert.deepEqual(ends, [['short', 600]]);
    await m.clock.tick(59_399);
    await settle();
    assert.equal(ends.length, 1);
    await m.clock.tick(1);
    assert.equal(await long, 'ERR_REQUEST_TIMEOUT');
    assert.deepEqual(ends, [
      ['short', 600],
      ['long', 60_000],
    ]);
    await m.close();
  });

  test('many concurrent requests each get their own reply; abort and close end the rest with their codes', async () => {
    const m = await mesh(['a', 'b']);
    const [a, b] = m.nodes as [Network, Network];
    const held: { reply(label: string, data: Uint8Array): string; data: Uint8Array }[] = [];
    b.onMessage((msg) => {
      if (text(msg.data).startsWith('q')) held.push(msg);
      else if (text(msg.data) === 'hello') msg.reply('Hi', msg.data);
    });
    const hello = a.request('b', 'Ask', enc('hello')); // connects first
    await m.clock.tick(10);
    await hello;
    const n = 300;
    const replies = Array.from({ length: n }, (_, i) => a.request('b', 'Ask', enc(`q${i}`)));
    await m.clock.tick(10);
    assert.equal(held.length, n);
    // Answer in reverse order: each reply goes to the request it names.
    for (const msg of [...held].reverse()) msg.reply('Answer', enc(`re ${text(msg.data)}`));
    await m.clock.tick(10);
    const got = await Promise.all(replies);
    assert.deepEqual(
      got.map((r) => text(r.data)),
      Array.from({ length: n }, (_, i) => `re q${i}`),
    );
    const ctl = new AbortController();
    const aborted = codeOf(a.request('b', 'Ask', enc('x'), { signal: ctl.signal }));
    const timedOut = codeOf(a.request('b', 'Ask', enc('y'), { timeoutMs: 1_000 }));
    const closed = codeOf(a.request('b', 'Ask', enc('z')));
    ctl.abort();
    assert.equal(await aborted, 'ERR_ABORTED');
    await m.clock.tick(1_000);
    assert.equal(await timedOut, 'ERR_REQUEST_TIMEOUT');
    const closing = a.close();
    assert.equal(await closed, 'ERR_CLOSED');
    await m.clock.tick(10_000);
    await closing;
    await m.close();
    assert.equal(m.clock.pendingTimers, 0, 'no request timer left');
  });

  test('a drop still rejects ERR_REQUEST_DROPPED with outcomes as cause, and per-request callbacks still run', async () => {
    const m = await mesh(['a']);
    const [a] = m.nodes as [Network];
    const seen: string[] = [];
    let settledWith = -1;
    const err = await a
      .request(addr('nowhere:1'), 'Ask', enc('?'), {
        onOutcome: (e) => seen.push(formatOutcome(e.outcome)),
        onSettled: (all) => {
          settledWith = all.length;
        },
      })
      .catch((e: unknown) => e);
    assert.ok(isPeerpostError(err, 'ERR_REQUEST_DROPPED'), String(err));
    assert.deepEqual(seen, ['dropped:no_connection']);
    assert.equal(settledWith, 1);
    await m.close();
  });
});
