import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionHub } from '../../src/hub/hub.js';
import type { Topology } from '../../src/topology/types.js';
import { settle } from '../../src/util/fake-clock.js';
import { ObservableValue } from '../../src/util/observable.js';
import { encodeEnvelope } from '../../src/wire/envelope.js';
import { CollectingSink, envelope, RecordingMetrics, recordingTicket, setupHub } from './helpers.js';

/** The distinct `label` values the hub reported for `name`. */
function labelValues(metrics: RecordingMetrics, name: string): Set<string> {
  const values = new Set<string>();
  for (const key of metrics.counters.keys()) {
    const m = /^([a-z_]+)\{(?:.*,)?label=([^,}]*)/.exec(key);
    if (m !== null && m[1] === name) values.add(m[2] as string);
  }
  return values;
}

test('the hub reports known labels by name and every other label as `other`, on every metric', async () => {
  const s = await setupHub(); // knownLabels: ['Test']
  const sub = await s.connect('sub', 'subscribe-node');
  const direct = await s.connect('direct');
  for (let i = 0; i < 300; i++) {
    s.hub.broadcast(envelope(s.clock, `b${i}`, { label: `label-${i}` }));
    direct.connection.write(encodeEnvelope(envelope(s.clock, `d${i}`, { label: `in-${i}` })));
  }
  s.hub.broadcast(envelope(s.clock, 'known'));
  direct.connection.write(encodeEnvelope(envelope(s.clock, 'known-in')));
  await settle();
  assert.equal(sub.ids.length, 301);
  assert.equal(s.sink.messages.length, 301);
  for (const name of [
    'peerpost_sent_bytes_total',
    'peerpost_received_bytes_total',
    'peerpost_phase_started_total',
  ]) {
    assert.deepEqual([...labelValues(s.metrics, name)].sort(), ['Test', 'other'], name);
  }
  await s.hub.close();
  await s.network.close();
});

test('with a ticket, the hub leaves sent bytes to the ticket owner (counted once, on flush)', async () => {
  const s = await setupHub();
  await s.connect('sub', 'subscribe-node');
  const log: string[] = [];
  assert.equal(s.hub.broadcast(envelope(s.clock, 'b'), recordingTicket(log, 'b')), 'written');
  await settle();
  assert.deepEqual(log, ['b:written']);
  assert.equal(s.metrics.counter('peerpost_sent_bytes_total', { label: 'Test', mode: 'broadcast' }), 0);
  await s.hub.close();
  await s.network.close();
});

test('knownLabels given as an observable config is followed live', async () => {
  const base = await setupHub();
  const config = new ObservableValue<{ knownLabels?: readonly string[] }>({ knownLabels: ['a'] });
  const metrics = new RecordingMetrics();
  const hub = new ConnectionHub({
    transport: base.network.transport({ host: 'live' }),
    listenAddress: 'live:0',
    incoming: new CollectingSink(),
    topology: new ObservableValue<Topology>(new Map()),
    clock: base.clock,
    metrics,
    knownLabels: config,
  });
  const { address } = await hub.start();
  const client = await base.network.transport({ host: 'client' }).connect(address, 'direct');
  client.attach({ onFrame() {}, onClose() {} });
  const send = (label: string) => client.write(encodeEnvelope(envelope(base.clock, label, { label })));
  send('a');
  send('b');
  await settle();
  assert.deepEqual([...labelValues(metrics, 'peerpost_received_bytes_total')].sort(), ['a', 'other']);
  config.set({ knownLabels: ['a', 'b'] });
  send('b');
  await settle();
  assert.equal(
    metrics.counter('peerpost_phase_started_total', { phase: 'IncomingBuffer', label: 'b', mode: 'direct' }),
    1,
  );
  assert.equal(
    metrics.counter('peerpost_phase_started_total', {
      phase: 'IncomingBuffer',
      label: 'other',
      mode: 'direct',
    }),
    1,
  );
  await hub.close();
  assert.equal(config.listenerCount, 0, 'close() unsubscribes');
  await base.hub.close();
  await base.network.close();
});
