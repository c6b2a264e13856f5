import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createNetwork } from '../../src/network/network.js';
import { MemoryNetwork } from '../../src/transport/memory/network.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { Oracle, type OracleEvent, type Rule } from './oracle.js';
import { TapTransport } from './tap.js';

/**
 * The oracle must be able to fail: one clean history passes, and each rule is shown to
 * catch the one change to that history that breaks it.
 */

const A = 'a#1';
const B = 'b#1';

/** a sends m1 to peer b (addresses h:1 and h:2); h:1 carries and delivers it, h:2 refuses. */
function clean(): OracleEvent[] {
  return [
    { t: 'node', node: A, peerId: 'a', address: 'ha:1' },
    { t: 'node', node: B, peerId: 'b', address: 'h:1' },
    { t: 'topology', node: A, table: { b: ['h:1', 'h:2'] } },
    { t: 'topology', node: B, table: {} },
    { t: 'accept', node: A, id: 'm1', to: 'peer:b', mode: 'direct' },
    { t: 'accept', node: A, id: 'm2', to: 'peer:b', mode: 'direct' },
    { t: 'open', node: A, conn: 1, kind: 'direct', direction: 'outbound', local: 'ha:50', remote: 'h:1' },
    { t: 'open', node: B, conn: 2, kind: 'direct', direction: 'inbound', local: 'h:1', remote: 'ha:50' },
    { t: 'handed', node: A, conn: 1, ids: ['m1', 'm2'] },
    { t: 'flushed', node: A, conn: 1, count: 2 },
    { t: 'outcome', node: A, id: 'm1', address: 'h:1', mode: 'direct', outcome: 'written' },
    { t: 'outcome', node: A, id: 'm2', address: 'h:1', mode: 'direct', outcome: 'written' },
    { t: 'received', node: B, conn: 2, id: 'm1' },
    { t: 'deliver', node: B, id: 'm1' },
    { t: 'received', node: B, conn: 2, id: 'm2' },
    { t: 'deliver', node: B, id: 'm2' },
    { t: 'outcome', node: A, id: 'm1', address: 'h:2', mode: 'direct', outcome: 'dropped:connect_failed' },
    { t: 'outcome', node: A, id: 'm2', address: 'h:2', mode: 'direct', outcome: 'dropped:connect_failed' },
    { t: 'closed', node: A, conn: 1, code: 'ERR_CONNECTION_CLOSED' },
    { t: 'closed', node: B, conn: 2, code: 'ERR_CONNECTION_CLOSED' },
    { t: 'node-closed', node: A },
    { t: 'node-closed', node: B },
    { t: 'final', openConnections: 0, pendingTimers: 0 },
  ];
}

function rulesOf(events: readonly OracleEvent[]): Rule[] {
  const oracle = new Oracle();
  for (const e of events) oracle.record(e);
  return [...new Set(oracle.check().map((v) => v.rule))].sort();
}

const at = (events: OracleEvent[], match: (e: OracleEvent) => boolean): number => {
  const i = events.findIndex(match);
  assert.ok(i >= 0, 'the clean history has the event to change');
  return i;
};
const isOutcome = (id: string, address: string) => (e: OracleEvent) =>
  e.t === 'outcome' && e.id === id && e.address === address;

describe('outcome oracle', () => {
  test('a clean history has no violation', () => {
    assert.deepEqual(rulesOf(clean()), []);
  });

  const cases: [string, Rule[], (events: OracleEvent[]) => void][] = [
    [
      'a second outcome for one (message, address)',
      ['one-outcome'],
      (ev) =>
        ev.splice(-4, 0, {
          t: 'outcome',
          node: A,
          id: 'm2',
          address: 'h:2',
          mode: 'direct',
          outcome: 'dropped:shutdown',
        }),
    ],
    [
      'a target live at send that never gets an outcome',
      ['every-target'],
      (ev) => ev.splice(at(ev, isOutcome('m1', 'h:2')), 1),
    ],
    [
      'an outcome at an address the peer never had',
      ['target-address'],
      (ev) =>
        ev.splice(-4, 0, {
          t: 'outcome',
          node: A,
          id: 'm1',
          address: 'h:9',
          mode: 'direct',
          outcome: 'dropped:connect_failed',
        }),
    ],
    [
      'an address-less outcome while the peer had addresses all along',
      ['unresolved-only'],
      (ev) =>
        ev.splice(-4, 0, {
          t: 'outcome',
          node: A,
          id: 'm1',
          address: null,
          mode: 'direct',
          outcome: 'dropped:unresolved_expired',
        }),
    ],
    [
      'an address-less outcome with a reason only an address can have',
      ['unresolved-only'],
      (ev) =>
        ev.splice(-4, 0, {
          t: 'outcome',
          node: A,
          id: 'm1',
          address: null,
          mode: 'direct',
          outcome: 'dropped:queue_full',
        }),
    ],
    [
      '`written` at an address no connection carried it to',
      ['written-carried'],
      (ev) => {
        ev[at(ev, isOutcome('m2', 'h:2'))] = {
          t: 'outcome',
          node: A,
          id: 'm2',
          address: 'h:2',
          mode: 'direct',
          outcome: 'written',
        };
      },
    ],
    [
      '`written` for a frame handed over but never flushed (and a delivery of it)',
      ['written-carried', 'delivered-carried'],
      (ev) => {
        ev[at(ev, (e) => e.t === 'flushed')] = { t: 'flushed', node: A, conn: 1, count: 1 };
      },
    ],
    [
      'a delivery whose sender reported a drop on that path',
      ['delivered-written'],
      (ev) => {
        ev[at(ev, isOutcome('m1', 'h:1'))] = {
          t: 'outcome',
          node: A,
          id: 'm1',
          address: 'h:1',
          mode: 'direct',
          outcome: 'dropped:connection_lost',
        };
      },
    ],
    [
      'a delivery no connection received',
      ['delivered-carried'],
      (ev) =>
        ev.splice(
          at(ev, (e) => e.t === 'received' && e.id === 'm1'),
          1,
        ),
    ],
    [
      'a message delivered twice to one node',
      ['one-delivery'],
      (ev) => ev.splice(-4, 0, { t: 'deliver', node: B, id: 'm1' }),
    ],
    [
      'frames handed over out of send order',
      ['fifo'],
      (ev) => {
        ev[at(ev, (e) => e.t === 'handed')] = { t: 'handed', node: A, conn: 1, ids: ['m2', 'm1'] };
      },
    ],
    [
      'a message handed to one address twice (after a later one, so out of order too)',
      ['handed-once', 'fifo'],
      (ev) =>
        ev.splice(
          -4,
          0,
          {
            t: 'open',
            node: A,
            conn: 3,
            kind: 'direct',
            direction: 'outbound',
            local: 'ha:51',
            remote: 'h:1',
          },
          { t: 'handed', node: A, conn: 3, ids: ['m1'] },
          { t: 'closed', node: A, conn: 3, code: 'ERR_CONNECTION_RESET' },
        ),
    ],
    [
      'an outcome after the node closed',
      ['outcome-after-close'],
      (ev) => {
        const [o] = ev.splice(at(ev, isOutcome('m1', 'h:2')), 1);
        ev.splice(-1, 0, o!);
      },
    ],
    [
      'a connection or a timer left after close',
      ['clean-close'],
      (ev) => {
        ev[ev.length - 1] = { t: 'final', openConnections: 1, pendingTimers: 2 };
      },
    ],
    [
      'a waiting message that gets nothing when its peer gets an address',
      ['every-target'],
      (ev) =>
        ev.splice(
          -4,
          0,
          { t: 'accept', node: A, id: 'm3', to: 'peer:c', mode: 'direct' },
          { t: 'topology', node: A, table: { b: ['h:1', 'h:2'], c: ['h:3'] } },
        ),
    ],
    [
      'a broadcast with no outcome',
      ['every-target'],
      (ev) => ev.splice(-4, 0, { t: 'accept', node: A, id: 'm4', to: 'broadcast', mode: 'broadcast' }),
    ],
    [
      'a message reported delivered (acks) that no application of the peer had',
      ['acked-delivered'],
      (ev) => {
        const i = at(ev, isOutcome('m1', 'h:1'));
        ev[i] = { ...(ev[i] as Extract<OracleEvent, { t: 'outcome' }>), outcome: 'delivered' };
        ev.splice(
          at(ev, (e) => e.t === 'deliver' && e.id === 'm1'),
          1,
        );
        ev.splice(
          at(ev, (e) => e.t === 'received' && e.id === 'm1'),
          1,
        );
      },
    ],
    [
      'a message delivered (acks) before the application had it',
      ['acked-delivered'],
      (ev) => {
        const i = at(ev, isOutcome('m2', 'h:1'));
        ev[i] = { ...(ev[i] as Extract<OracleEvent, { t: 'outcome' }>), outcome: 'delivered' };
      },
    ],
    [
      'a message sent with acks that reaches a restarted peer a second time',
      ['one-delivery'],
      (ev) => {
        const i = at(ev, isOutcome('m1', 'h:1'));
        ev[i] = { ...(ev[i] as Extract<OracleEvent, { t: 'outcome' }>), outcome: 'dropped:unacknowledged' };
        ev.splice(
          -4,
          0,
          { t: 'node', node: 'b#2', peerId: 'b', address: 'h:1' },
          {
            t: 'open',
            node: A,
            conn: 3,
            kind: 'direct',
            direction: 'outbound',
            local: 'ha:51',
            remote: 'h:1',
            acks: true,
          },
          {
            t: 'open',
            node: 'b#2',
            conn: 4,
            kind: 'direct',
            direction: 'inbound',
            local: 'h:1',
            remote: 'ha:51',
            acks: true,
          },
          { t: 'handed', node: A, conn: 3, ids: ['ctl', 'm1'] },
          { t: 'flushed', node: A, conn: 3, count: 2 },
          { t: 'received', node: 'b#2', conn: 4, id: 'm1' },
          { t: 'deliver', node: 'b#2', id: 'm1' },
          { t: 'closed', node: A, conn: 3, code: 'ERR_CONNECTION_CLOSED' },
          { t: 'closed', node: 'b#2', conn: 4, code: 'ERR_CONNECTION_CLOSED' },
        );
      },
    ],
  ];
  for (const [name, rules, change] of cases) {
    test(`catches ${name}`, () => {
      const events = clean();
      change(events);
      assert.deepEqual(rulesOf(events), [...rules].sort());
    });
  }

  /**
   * The clean history plus: b subscribes to a twice (connections from hb:60 and hb:61);
   * a broadcasts m5: written on both, delivered once at b.
   */
  function broadcastHistory(): OracleEvent[] {
    const ev = clean();
    ev.splice(
      -4,
      0,
      {
        t: 'open',
        node: A,
        conn: 5,
        kind: 'subscribe-node',
        direction: 'inbound',
        local: 'ha:1',
        remote: 'hb:60',
      },
      {
        t: 'open',
        node: B,
        conn: 6,
        kind: 'subscribe-node',
        direction: 'outbound',
        local: 'hb:60',
        remote: 'ha:1',
      },
      {
        t: 'open',
        node: A,
        conn: 7,
        kind: 'subscribe-node',
        direction: 'inbound',
        local: 'ha:1',
        remote: 'hb:61',
      },
      {
        t: 'open',
        node: B,
        conn: 8,
        kind: 'subscribe-node',
        direction: 'outbound',
        local: 'hb:61',
        remote: 'ha:1',
      },
      { t: 'accept', node: A, id: 'm5', to: 'broadcast', mode: 'broadcast' },
      { t: 'handed', node: A, conn: 5, ids: ['m5'] },
      { t: 'handed', node: A, conn: 7, ids: ['m5'] },
      { t: 'flushed', node: A, conn: 5, count: 1 },
      { t: 'flushed', node: A, conn: 7, count: 1 },
      { t: 'outcome', node: A, id: 'm5', address: 'hb:60', mode: 'broadcast', outcome: 'written' },
      { t: 'outcome', node: A, id: 'm5', address: 'hb:61', mode: 'broadcast', outcome: 'written' },
      { t: 'received', node: B, conn: 6, id: 'm5' },
      { t: 'deliver', node: B, id: 'm5' },
      { t: 'closed', node: A, conn: 5, code: 'ERR_CONNECTION_CLOSED' },
      { t: 'closed', node: B, conn: 6, code: 'ERR_CONNECTION_CLOSED' },
      { t: 'closed', node: A, conn: 7, code: 'ERR_CONNECTION_CLOSED' },
      { t: 'closed', node: B, conn: 8, code: 'ERR_CONNECTION_CLOSED' },
    );
    return ev;
  }
  const isBroadcastOutcome = (address: string) => (e: OracleEvent) =>
    e.t === 'outcome' && e.id === 'm5' && e.address === address;

  test('a broadcast with an outcome per subscriber connection has no violation', () => {
    assert.deepEqual(rulesOf(broadcastHistory()), []);
  });

  const broadcastCases: [string, Rule[], (events: OracleEvent[]) => void][] = [
    [
      'a subscriber connection, open all along, with no outcome',
      ['every-target'],
      (ev) => ev.splice(at(ev, isBroadcastOutcome('hb:61')), 1),
    ],
    [
      'a broadcast outcome at an address that is no subscriber connection',
      ['target-address'],
      (ev) =>
        ev.splice(at(ev, isBroadcastOutcome('hb:61')), 0, {
          t: 'outcome',
          node: A,
          id: 'm5',
          address: 'h:1',
          mode: 'broadcast',
          outcome: 'dropped:queue_full',
        }),
    ],
    [
      '`no_subscriber` and per-subscriber outcomes for one broadcast',
      ['one-outcome'],
      (ev) =>
        ev.splice(at(ev, isBroadcastOutcome('hb:61')), 0, {
          t: 'outcome',
          node: A,
          id: 'm5',
          address: 'broadcast',
          mode: 'broadcast',
          outcome: 'dropped:no_subscriber',
        }),
    ],
    [
      '`written` at a subscriber connection that never flushed it (and b got it there)',
      ['written-carried', 'delivered-carried'],
      (ev) => {
        ev[at(ev, (e) => e.t === 'flushed' && e.conn === 5)] = { t: 'flushed', node: A, conn: 5, count: 0 };
      },
    ],
    [
      'a delivered broadcast reported dropped on the connection that carried it',
      ['delivered-written'],
      (ev) => {
        ev[at(ev, isBroadcastOutcome('hb:60'))] = {
          t: 'outcome',
          node: A,
          id: 'm5',
          address: 'hb:60',
          mode: 'broadcast',
          outcome: 'dropped:connection_lost',
        };
      },
    ],
  ];
  for (const [name, rules, change] of broadcastCases) {
    test(`catches ${name}`, () => {
      const events = broadcastHistory();
      change(events);
      assert.deepEqual(rulesOf(events), [...rules].sort());
    });
  }

  /**
   * broadcastHistory with m5 made by publishing loop L of A right after
   * `broadcastWritable()` said true; the loop ends `done` before the run ends.
   */
  function pacedHistory(): OracleEvent[] {
    const ev = broadcastHistory();
    const accept = at(ev, (e) => e.t === 'accept' && e.id === 'm5');
    ev.splice(accept, 0, { t: 'pace-start', node: A, pace: 'L' });
    ev.splice(accept + 2, 0, { t: 'paced', node: A, pace: 'L', id: 'm5' });
    ev.splice(at(ev, isBroadcastOutcome('hb:61')) + 1, 0, {
      t: 'pace-end',
      node: A,
      pace: 'L',
      result: 'done',
    });
    const closedA = at(ev, (e) => e.t === 'node-closed');
    ev.splice(
      closedA,
      0,
      { t: 'closing-all' },
      { t: 'node-stopping', node: A },
      { t: 'node-stopping', node: B },
    );
    return ev;
  }
  const isPaceEnd = (e: OracleEvent) => e.t === 'pace-end';
  /** Moves L's end to just after the event `match` finds, ending with `result`. */
  const endPaceAfter = (ev: OracleEvent[], match: (e: OracleEvent) => boolean, result: string): void => {
    ev.splice(at(ev, isPaceEnd), 1);
    ev.splice(at(ev, match) + 1, 0, { t: 'pace-end', node: A, pace: 'L', result });
  };
  const isStoppingA = (e: OracleEvent) => e.t === 'node-stopping' && e.node === A;

  test('a paced broadcast queued for every subscriber, its loop ending done, has no violation', () => {
    assert.deepEqual(rulesOf(pacedHistory()), []);
  });

  test('a publishing loop rejected ERR_CLOSED because its node was asked to close mid-run has no violation', () => {
    const ev = pacedHistory();
    ev.splice(at(ev, isStoppingA), 1);
    ev.splice(at(ev, isBroadcastOutcome('hb:61')) + 1, 0, { t: 'node-stopping', node: A });
    endPaceAfter(ev, isStoppingA, 'ERR_CLOSED');
    assert.deepEqual(rulesOf(ev), []);
  });

  const pacedCases: [string, (events: OracleEvent[]) => void][] = [
    [
      'a broadcast made when writable that a subscriber queue refused',
      (ev) => {
        ev[at(ev, isBroadcastOutcome('hb:61'))] = {
          t: 'outcome',
          node: A,
          id: 'm5',
          address: 'hb:61',
          mode: 'broadcast',
          outcome: 'dropped:queue_full',
        };
      },
    ],
    ['a publishing loop that never ends', (ev) => ev.splice(at(ev, isPaceEnd), 1)],
    [
      'a publishing loop that ends twice',
      (ev) => ev.splice(at(ev, isPaceEnd), 0, { t: 'pace-end', node: A, pace: 'L', result: 'done' }),
    ],
    [
      'a publishing loop rejected while its node ran',
      (ev) => {
        ev[at(ev, isPaceEnd)] = { t: 'pace-end', node: A, pace: 'L', result: 'ERR_CLOSED' };
      },
    ],
    [
      'a publishing loop still waiting when the run ended (rejected as its node closed at the end)',
      (ev) => endPaceAfter(ev, isStoppingA, 'ERR_CLOSED'),
    ],
  ];
  for (const [name, change] of pacedCases) {
    test(`catches ${name}`, () => {
      const events = pacedHistory();
      change(events);
      const rule: Rule = name.startsWith('a broadcast') ? 'paced-room' : 'paced-ends';
      assert.deepEqual(rulesOf(events), [rule]);
    });
  }

  test('a waiting message may end without an address, or go to the address its peer gets', () => {
    const ended = clean();
    ended.splice(
      -4,
      0,
      { t: 'accept', node: A, id: 'm3', to: 'peer:c', mode: 'direct' },
      {
        t: 'outcome',
        node: A,
        id: 'm3',
        address: null,
        mode: 'direct',
        outcome: 'dropped:unresolved_expired',
      },
      { t: 'topology', node: A, table: { b: ['h:1', 'h:2'], c: ['h:3'] } },
    );
    assert.deepEqual(rulesOf(ended), []);
    const moved = clean();
    moved.splice(
      -4,
      0,
      { t: 'accept', node: A, id: 'm3', to: 'peer:c', mode: 'direct' },
      { t: 'topology', node: A, table: { b: ['h:1', 'h:2'], c: ['h:3'] } },
      { t: 'outcome', node: A, id: 'm3', address: 'h:3', mode: 'direct', outcome: 'dropped:connect_failed' },
    );
    assert.deepEqual(rulesOf(moved), []);
  });

  describe('a killed node (SIGKILL: its log ends where the kill caught it)', () => {
    /**
     * a sends m1 and m2 to peer b (h:1, h:2) and is killed: m2 was handed and reached b,
     * but a's report of its flush, its `written` and its outcome at h:2 died with a.
     */
    const killedHistory = (): OracleEvent[] => [
      { t: 'node', node: A, peerId: 'a', address: 'ha:1' },
      { t: 'node', node: B, peerId: 'b', address: 'h:1' },
      { t: 'topology', node: A, table: { b: ['h:1', 'h:2'] } },
      { t: 'topology', node: B, table: {} },
      { t: 'accept', node: A, id: 'm1', to: 'peer:b', mode: 'direct' },
      { t: 'accept', node: A, id: 'm2', to: 'peer:b', mode: 'direct' },
      { t: 'open', node: A, conn: 1, kind: 'direct', direction: 'outbound', local: 'ha:50', remote: 'h:1' },
      { t: 'open', node: B, conn: 2, kind: 'direct', direction: 'inbound', local: 'h:1', remote: 'ha:50' },
      { t: 'handed', node: A, conn: 1, ids: ['m1', 'm2'] },
      { t: 'flushed', node: A, conn: 1, count: 1 },
      { t: 'outcome', node: A, id: 'm1', address: 'h:1', mode: 'direct', outcome: 'written' },
      { t: 'outcome', node: A, id: 'm1', address: 'h:2', mode: 'direct', outcome: 'dropped:connect_failed' },
      { t: 'received', node: B, conn: 2, id: 'm1' },
      { t: 'deliver', node: B, id: 'm1' },
      { t: 'received', node: B, conn: 2, id: 'm2' },
      { t: 'deliver', node: B, id: 'm2' },
      { t: 'killed', node: A },
      { t: 'closed', node: B, conn: 2, code: 'ERR_CONNECTION_RESET' },
      { t: 'node-closed', node: B },
      { t: 'final', node: B, openConnections: 0, pendingTimers: 0, openSockets: 0 },
    ];
    const isKilled = (e: OracleEvent) => e.t === 'killed';

    test('its missing later reports are excused, and only because it was killed', () => {
      assert.deepEqual(rulesOf(killedHistory()), []);
      const notKilled = killedHistory();
      notKilled.splice(at(notKilled, isKilled), 1);
      assert.deepEqual(rulesOf(notKilled), ['delivered-carried', 'every-target']);
      // The exemption is the killed node's own: another node killed excuses nothing of a's.
      const otherKilled = killedHistory();
      otherKilled[at(otherKilled, isKilled)] = { t: 'killed', node: B };
      assert.deepEqual(rulesOf(otherKilled), ['delivered-carried', 'every-target']);
    });

    const narrow: [string, Rule[], (events: OracleEvent[]) => void][] = [
      [
        'its message delivered twice',
        ['one-delivery'],
        (ev) => ev.splice(at(ev, isKilled), 0, { t: 'deliver', node: B, id: 'm2' }),
      ],
      [
        'a delivery of its message that no connection of the receiver received',
        ['delivered-carried'],
        (ev) =>
          ev.splice(
            at(ev, (e) => e.t === 'received' && e.id === 'm2'),
            1,
          ),
      ],
      [
        'a delivery of its message that it never handed to a connection',
        ['delivered-carried'],
        (ev) => {
          ev[at(ev, (e) => e.t === 'handed')] = { t: 'handed', node: A, conn: 1, ids: ['m1'] };
        },
      ],
      [
        'a drop it did report on the path its message was delivered on',
        ['delivered-written'],
        (ev) =>
          ev.splice(at(ev, isKilled), 0, {
            t: 'outcome',
            node: A,
            id: 'm2',
            address: 'h:1',
            mode: 'direct',
            outcome: 'dropped:connection_lost',
          }),
      ],
      [
        '`written` it reported at an address no connection of it was handed the message for',
        ['written-carried'],
        (ev) =>
          ev.splice(at(ev, isKilled), 0, {
            t: 'outcome',
            node: A,
            id: 'm2',
            address: 'h:2',
            mode: 'direct',
            outcome: 'written',
          }),
      ],
      [
        'an outcome at an address its peer never had',
        ['target-address'],
        (ev) =>
          ev.splice(at(ev, isKilled), 0, {
            t: 'outcome',
            node: A,
            id: 'm2',
            address: 'h:9',
            mode: 'direct',
            outcome: 'dropped:connect_failed',
          }),
      ],
      [
        'its frames handed over out of send order',
        ['fifo'],
        (ev) => {
          ev[at(ev, (e) => e.t === 'handed')] = { t: 'handed', node: A, conn: 1, ids: ['m2', 'm1'] };
        },
      ],
      [
        'an outcome of it recorded after the kill',
        ['outcome-after-close'],
        (ev) =>
          ev.splice(at(ev, isKilled) + 1, 0, {
            t: 'outcome',
            node: A,
            id: 'm2',
            address: 'h:2',
            mode: 'direct',
            outcome: 'dropped:connect_failed',
          }),
      ],
      [
        'a socket left by another process (every final is checked)',
        ['clean-close'],
        (ev) => ev.push({ t: 'final', node: 'c#1', openConnections: 0, pendingTimers: 0, openSockets: 1 }),
      ],
    ];
    for (const [name, rules, change] of narrow) {
      test(`still catches ${name}`, () => {
        const events = killedHistory();
        change(events);
        assert.deepEqual(rulesOf(events), [...rules].sort());
      });
    }
  });

  test('the tap records what a real connection carried: handed, flushed, received, closed', async () => {
    const clock = new FakeClock();
    const memory = new MemoryNetwork({ clock });
    const oracle = new Oracle();
    const numbers = { next: 1 };
    const a = await createNetwork({
      nodeId: 'a',
      transport: new TapTransport(memory.transport({ host: 'a' }), A, oracle.record, numbers),
      listen: 'a:0',
      clock,
    });
    const b = await createNetwork({
      nodeId: 'b',
      transport: new TapTransport(memory.transport({ host: 'b' }), B, oracle.record, numbers),
      listen: 'b:0',
      clock,
    });
    a.updateTopology({ b: [b.address] });
    const ids = [a.send('b', 'x', new Uint8Array(3)), a.send('b', 'x', new Uint8Array(3))];
    await clock.tick(100);
    const closing = Promise.all([a.close(), b.close()]);
    await clock.tick(100);
    await closing;
    await memory.close();
    const kinds = oracle.events.map((e) => e.t);
    for (const t of ['open', 'handed', 'flushed', 'received', 'closed'] as const)
      assert.ok(kinds.includes(t), t);
    const handed = oracle.events.flatMap((e) => (e.t === 'handed' && e.node === A ? e.ids : []));
    const received = oracle.events.flatMap((e) => (e.t === 'received' && e.node === B ? [e.id] : []));
    assert.deepEqual(handed, ids);
    assert.deepEqual(received, ids);
    const flushed = oracle.events.reduce((s, e) => s + (e.t === 'flushed' && e.node === A ? e.count : 0), 0);
    assert.equal(flushed, 2);
  });
});

describe('request rules', () => {
  const REPLY = 'm1~r~b1';
  /** a requests m1 of peer b over h:1; b answers by address on the same connection. */
  function asked(): OracleEvent[] {
    return [
      { t: 'node', node: A, peerId: 'a', address: 'ha:1' },
      { t: 'node', node: B, peerId: 'b', address: 'h:1' },
      { t: 'topology', node: A, table: { b: ['h:1'] } },
      { t: 'topology', node: B, table: {} },
      { t: 'accept', node: A, id: 'm1', to: 'peer:b', mode: 'direct' },
      { t: 'request', node: A, id: 'm1' },
      { t: 'open', node: A, conn: 1, kind: 'direct', direction: 'outbound', local: 'ha:50', remote: 'h:1' },
      { t: 'open', node: B, conn: 2, kind: 'direct', direction: 'inbound', local: 'h:1', remote: 'ha:50' },
      { t: 'handed', node: A, conn: 1, ids: ['m1'] },
      { t: 'flushed', node: A, conn: 1, count: 1 },
      { t: 'outcome', node: A, id: 'm1', address: 'h:1', mode: 'direct', outcome: 'written' },
      { t: 'received', node: B, conn: 2, id: 'm1' },
      { t: 'deliver', node: B, id: 'm1' },
      { t: 'accept', node: B, id: REPLY, to: 'addr:ha:50', mode: 'direct' },
      { t: 'handed', node: B, conn: 2, ids: [REPLY] },
      { t: 'flushed', node: B, conn: 2, count: 1 },
      { t: 'outcome', node: B, id: REPLY, address: 'ha:50', mode: 'direct', outcome: 'written' },
      { t: 'received', node: A, conn: 1, id: REPLY },
      { t: 'deliver', node: A, id: REPLY },
      { t: 'request-end', node: A, id: 'm1', result: 'answered', reply: REPLY },
      { t: 'closed', node: A, conn: 1, code: 'ERR_CONNECTION_CLOSED' },
      { t: 'closed', node: B, conn: 2, code: 'ERR_CONNECTION_CLOSED' },
      { t: 'node-closed', node: A },
      { t: 'node-closed', node: B },
      { t: 'final', openConnections: 0, pendingTimers: 0 },
    ];
  }
  const isEnd = (e: OracleEvent) => e.t === 'request-end';

  test('a request answered by its peer has no violation; so does one dropped before any write', () => {
    assert.deepEqual(rulesOf(asked()), []);
    const dropped: OracleEvent[] = [
      ...asked().slice(0, 6),
      { t: 'outcome', node: A, id: 'm1', address: 'h:1', mode: 'direct', outcome: 'dropped:connect_failed' },
      { t: 'request-end', node: A, id: 'm1', result: 'ERR_REQUEST_DROPPED' },
      { t: 'node-closed', node: A },
      { t: 'node-closed', node: B },
      { t: 'final', openConnections: 0, pendingTimers: 0 },
    ];
    assert.deepEqual(rulesOf(dropped), []);
  });

  const cases: [string, Rule, (events: OracleEvent[]) => void][] = [
    ['a request that never ends', 'request-once', (ev) => ev.splice(at(ev, isEnd), 1)],
    [
      'a request that ends twice',
      'request-once',
      (ev) =>
        ev.splice(at(ev, isEnd) + 1, 0, {
          t: 'request-end',
          node: A,
          id: 'm1',
          result: 'ERR_REQUEST_TIMEOUT',
        }),
    ],
    [
      'dropped after it was written (or, with acks, delivered)',
      'request-result',
      (ev) =>
        ev.splice(at(ev, isEnd), 1, { t: 'request-end', node: A, id: 'm1', result: 'ERR_REQUEST_DROPPED' }),
    ],
    [
      'answered by a reply whose id names another request',
      'request-result',
      (ev) => {
        const i = at(ev, isEnd);
        ev[i] = { t: 'request-end', node: A, id: 'm1', result: 'answered', reply: 'm9~r~b1' };
      },
    ],
    [
      'answered by a reply that another peer sent',
      'request-result',
      (ev) => {
        const i = at(ev, (e) => e.t === 'accept' && e.id === REPLY);
        ev[i] = { t: 'accept', node: 'c#1', id: REPLY, to: 'addr:ha:50', mode: 'direct' };
      },
    ],
    [
      'answered by a reply no connection of the requester received',
      'request-result',
      (ev) =>
        ev.splice(
          at(ev, (e) => e.t === 'received' && e.id === REPLY),
          1,
        ),
    ],
    [
      'ended with an error a request cannot end with',
      'request-result',
      (ev) => {
        const i = at(ev, isEnd);
        ev[i] = { t: 'request-end', node: A, id: 'm1', result: 'ERR_SOMETHING' };
      },
    ],
  ];
  for (const [name, rule, change] of cases) {
    test(`catches: ${name}`, () => {
      const events = asked();
      change(events);
      assert.ok(rulesOf(events).includes(rule), `${name}: ${rulesOf(events).join(', ')}`);
    });
  }
});

describe('sendAndWait rule', () => {
  /** The clean history, m1 sent with sendAndWait and settled with both its outcomes. */
  function waited(): OracleEvent[] {
    const events = clean();
    const accept = at(events, (e) => e.t === 'accept' && e.id === 'm1');
    events.splice(accept + 1, 0, { t: 'wait', node: A, id: 'm1' });
    const last = at(events, isOutcome('m1', 'h:2'));
    events.splice(last + 1, 0, {
      t: 'settled',
      node: A,
      id: 'm1',
      outcomes: ['direct h:2 dropped:connect_failed', 'direct h:1 written'],
    });
    return events;
  }
  const isSettled = (e: OracleEvent) => e.t === 'settled';

  test('settling once, after its outcomes, with the outcomes onOutcome heard, has no violation', () => {
    assert.deepEqual(rulesOf(waited()), []);
  });

  const cases: [string, (events: OracleEvent[]) => void][] = [
    ['never settles', (ev) => ev.splice(at(ev, isSettled), 1)],
    ['settles twice', (ev) => ev.splice(at(ev, isSettled), 0, { ...(ev[at(ev, isSettled)] as OracleEvent) })],
    [
      'settles before its last outcome',
      (ev) => {
        const [settled] = ev.splice(at(ev, isSettled), 1);
        ev.splice(at(ev, isOutcome('m1', 'h:2')), 0, settled as OracleEvent);
      },
    ],
    [
      'settles with an outcome onOutcome did not report',
      (ev) => {
        const i = at(ev, isSettled);
        ev[i] = { t: 'settled', node: A, id: 'm1', outcomes: ['direct h:1 written', 'direct h:2 written'] };
      },
    ],
    [
      'settles without one of its outcomes',
      (ev) => {
        const i = at(ev, isSettled);
        ev[i] = { t: 'settled', node: A, id: 'm1', outcomes: ['direct h:1 written'] };
      },
    ],
  ];
  for (const [name, change] of cases) {
    test(`catches: a message sent with sendAndWait that ${name}`, () => {
      const events = waited();
      change(events);
      assert.ok(rulesOf(events).includes('settled-outcomes'), `${name}: ${rulesOf(events).join(', ')}`);
    });
  }
});
