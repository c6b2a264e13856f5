// The size metric of plain messages is counted in runs of one size (OutgoingEnvelopes
// .observePlain): the exposition must be what one observation per message makes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPrometheusMetrics } from '../../src/metrics/prometheus.js';
import { OutgoingEnvelopes } from '../../src/network/outgoing.js';
import { noopLogger } from '../../src/util/logger.js';

test('plain message sizes counted in runs expose one observation per message', async () => {
  const metrics = createPrometheusMetrics();
  const oracle = createPrometheusMetrics();
  const out = new OutgoingEnvelopes('n-1-', 1000, metrics, noopLogger);
  const sizes = [64, 64, 64, 100, 64, 64, 5000, 5000, 0, 0, 64, 70_000, 64];
  for (const bytes of sizes) {
    if (bytes > 1000) {
      // Above the compression threshold: the general path (make) observes at once.
      out.make(out.nextId(), 'chat', new Uint8Array(bytes), 1_700_000_000_000);
    } else {
      out.observePlain(bytes);
    }
    oracle.observe('peerpost_message_size_bytes', bytes, { stage: 'uncompressed' });
  }
  // The compressed sizes of the two compressed messages, as make() observed them.
  const text = await (async () => {
    await Promise.resolve();
    return metrics.metricsText();
  })();
  const uncompressed = (t: string) => t.split('\n').filter((l) => l.includes('stage="uncompressed"'));
  assert.deepEqual(uncompressed(text), uncompressed(await oracle.metricsText()));
  assert.match(text, /peerpost_message_size_bytes_count\{stage="uncompressed"\} 13/);
});
