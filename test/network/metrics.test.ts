import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Labels, MetricName, Metrics } from '../../src/metrics/types.js';
import { makeCredentials, startNode, topologyOf, until } from './helpers.js';

/** Records every metric call, keyed by name and labels. */
class RecordingMetrics implements Metrics {
  readonly counters = new Map<string, number>();
  readonly gauges = new Map<string, number>();
  readonly observations = new Map<string, number[]>();
  static key(name: MetricName, labels?: Labels): string {
    return `${name}${JSON.stringify(labels ?? {})}`;
  }
  inc(name: MetricName, labels?: Labels, value = 1): void {
    const k = RecordingMetrics.key(name, labels);
    this.counters.set(k, (this.counters.get(k) ?? 0) + value);
  }
  set(name: MetricName, value: number, labels?: Labels): void {
    this.gauges.set(RecordingMetrics.key(name, labels), value);
  }
  observe(name: MetricName, value: number, labels?: Labels): void {
    const k = RecordingMetrics.key(name, labels);
    this.observations.set(k, [...(this.observations.get(k) ?? []), value]);
  }
}

test('a node reports message sizes, and each connection once per direction in its gauge and counter', async () => {
  const [ca, cb] = await makeCredentials(2);
  const ma = new RecordingMetrics();
  const mb = new RecordingMetrics();
  const a = await startNode('a', ca!, { metrics: ma });
  const b = await startNode('b', cb!, { metrics: mb });
  try {
    for (const n of [a, b]) n.network.updateTopology(topologyOf([a, b]));
    const id = a.network.send('b', 'Bulk', Buffer.alloc(50_000, 'x'));
    await until(() => b.received.some((m) => m.id === id), 'delivered');

    const sizes = (m: RecordingMetrics, stage: string) =>
      m.observations.get(RecordingMetrics.key('peerpost_message_size_bytes', { stage })) ?? [];
    assert.deepEqual(sizes(ma, 'uncompressed'), [50_000]);
    assert.equal(sizes(ma, 'compressed').length, 1);
    assert.ok(sizes(ma, 'compressed')[0]! < 1000);

    const out = { kind: 'direct', direction: 'outbound' };
    const inb = { kind: 'direct', direction: 'inbound' };
    assert.equal(ma.counters.get(RecordingMetrics.key('peerpost_connections_opened_total', out)), 1);
    assert.equal(ma.gauges.get(RecordingMetrics.key('peerpost_connections', out)), 1);
    await until(
      () => mb.gauges.get(RecordingMetrics.key('peerpost_connections', inb)) === 1,
      'inbound gauge at b',
    );
    assert.equal(mb.counters.get(RecordingMetrics.key('peerpost_connections_opened_total', inb)), 1);
  } finally {
    await a.network.close();
    await b.network.close();
  }
  assert.equal(
    ma.gauges.get(RecordingMetrics.key('peerpost_connections', { kind: 'direct', direction: 'outbound' })),
    0,
  );
});
