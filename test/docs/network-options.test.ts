/**
 * The README's table of `createNetwork` options against the code: every option of
 * `NetworkOptions` is documented and every documented one is accepted, and each
 * documented default is what a Network does when the option is left out (observed on a
 * running Network, since the defaults are applied inside it).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import { generateCredentials } from '../../src/identity/credentials.js';
import type { Labels, MetricName, Metrics } from '../../src/metrics/types.js';
import { createNetwork, type Network } from '../../src/network/network.js';
import { type NetworkOptions, resolveLimits, validateNetworkOptions } from '../../src/network/options.js';
import type { OutcomeEvent } from '../../src/sender/outcome.js';
import { MemoryNetwork } from '../../src/transport/memory/network.js';
import { systemClock } from '../../src/util/clock.js';
import { interfaceKeys, parseDefault, plain, readDoc, rowsByName, table } from './tables.js';

const README = 'README.md';
const rows = rowsByName(table(readDoc(README), ['option', 'default', 'meaning'], README), README);

function documented(option: string): unknown {
  const row = rows.get(option);
  assert.ok(row, `${README} documents \`${option}\``);
  return parseDefault(row[1]!);
}

/** Records every metric call. */
class Recorder implements Metrics {
  readonly calls: { name: MetricName; labels: Labels | undefined; value: number | undefined }[] = [];
  inc(name: MetricName, labels?: Labels, value?: number): void {
    this.calls.push({ name, labels, value });
  }
  set(name: MetricName, value: number, labels?: Labels): void {
    this.calls.push({ name, labels, value });
  }
  observe(name: MetricName, value: number, labels?: Labels): void {
    this.calls.push({ name, labels, value });
  }
  of(name: MetricName): (Labels | undefined)[] {
    return this.calls.filter((c) => c.name === name).map((c) => c.labels);
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    assert.ok(Date.now() < end, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe(`${README}: Network options`, () => {
  const memory = new MemoryNetwork({ clock: systemClock });
  const networks: Network[] = [];
  after(async () => {
    await Promise.all(networks.map((n) => n.close({ drainTimeoutMs: 0 })));
    await memory.close();
  });
  const probed = new Set<string>();

  /** A Network on the memory transport, listening on `<nodeId>:0`. */
  async function start(options: Partial<NetworkOptions> & { nodeId: string }): Promise<Network> {
    const net = await createNetwork({
      transport: memory.transport({ host: options.nodeId }),
      listen: `${options.nodeId}:0`,
      ...options,
    });
    networks.push(net);
    return net;
  }

  test('every option of NetworkOptions is documented, and every documented one is accepted', () => {
    const keys = interfaceKeys('network/options.ts', 'NetworkOptions');
    assert.deepEqual([...rows.keys()].sort(), [...keys].sort());
    const transport = memory.transport({ host: 'names' });
    for (const option of rows.keys()) {
      validateNetworkOptions({ [option]: undefined, nodeId: 'a', transport } as NetworkOptions);
    }
    assert.throws(
      () => validateNetworkOptions({ nodeId: 'a', transport, noSuchOption: 1 } as unknown as NetworkOptions),
      (err) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
    );
  });

  test('`nodeId` and `credentials` are required as documented', () => {
    probed.add('nodeId').add('credentials');
    assert.equal(documented('nodeId'), 'required');
    assert.equal(documented('credentials'), 'required unless transport');
    const transport = memory.transport({ host: 'required' });
    assert.throws(
      () => validateNetworkOptions({ transport } as unknown as NetworkOptions),
      (err) => isPeerpostError(err, 'ERR_INVALID_OPTION') && err.message.includes('`nodeId`'),
    );
    assert.throws(
      () => validateNetworkOptions({ nodeId: 'a' }),
      (err) => isPeerpostError(err, 'ERR_INVALID_OPTION') && err.message.includes('`credentials`'),
    );
    validateNetworkOptions({ nodeId: 'a', transport });
  });

  test('`limits`: the configuration reference, which test/docs/reference.test.ts checks against resolveLimits({})', () => {
    probed.add('limits');
    assert.match(String(documented('limits')), /configuration reference/);
    const transport = memory.transport({ host: 'limits' });
    assert.deepEqual(validateNetworkOptions({ nodeId: 'a', transport }).limits, resolveLimits({}));
  });

  test('`listen`: the default address, with a free port when it says port 0', async () => {
    probed.add('listen');
    const listen = documented('listen') as string;
    const [host, port] = [
      listen.slice(0, listen.lastIndexOf(':')),
      listen.slice(listen.lastIndexOf(':') + 1),
    ];
    const net = await createNetwork({ nodeId: 'tls', credentials: await generateCredentials() });
    networks.push(net);
    const at = net.address.lastIndexOf(':');
    assert.equal(net.address.slice(0, at), host);
    const bound = Number(net.address.slice(at + 1));
    if (port === '0') assert.ok(bound > 0, `a free port, got ${net.address}`);
    else assert.equal(bound, Number(port));
  });

  test('`topology`, `directSendMode`, `knownLabels`, `compressThresholdBytes`: as documented', async () => {
    for (const option of ['topology', 'directSendMode', 'knownLabels', 'compressThresholdBytes'])
      probed.add(option);
    const metrics = new Recorder();
    const net = await start({ nodeId: 'probe', metrics });
    const outcomes: OutcomeEvent[] = [];
    net.onOutcome((o) => outcomes.push(o));

    assert.deepEqual(plain(net.topology), documented('topology'));

    // A message to a peer the topology does not know: `direct` keeps it unresolved,
    // `broadcast` ends it at once on the broadcast path (no subscriber), `both` does both.
    net.send('nobody', 'chat', Buffer.from('hi'));
    await tick();
    const broadcast = outcomes.some((o) => o.mode === 'broadcast');
    const unresolved = net.stats().sender.unresolvedDepth > 0;
    const mode = broadcast && unresolved ? 'both' : broadcast ? 'broadcast' : 'direct';
    assert.ok(unresolved || broadcast);
    assert.equal(mode, documented('directSendMode'));

    // Labels not in knownLabels are counted as `other`.
    const known = documented('knownLabels') as string[];
    const counted = metrics.of('peerpost_phase_started_total').map((l) => l?.['label']);
    assert.ok(counted.length > 0, 'the send was counted');
    assert.deepEqual(new Set(counted), new Set([known.includes('chat') ? 'chat' : 'other']));

    // Payloads larger than the threshold are compressed, payloads of that size are not.
    const threshold = documented('compressThresholdBytes') as number;
    const compressed = (): number =>
      metrics.of('peerpost_message_size_bytes').filter((l) => l?.['stage'] === 'compressed').length;
    net.send('nobody', 'chat', Buffer.alloc(threshold, 'a'));
    assert.equal(compressed(), 0, `${threshold} bytes are not compressed`);
    net.send('nobody', 'chat', Buffer.alloc(threshold + 1, 'a'));
    assert.equal(compressed(), 1, `${threshold + 1} bytes are compressed`);
  });

  test("`acks`: off for this node's sends, accepted from peers that offer it", async () => {
    probed.add('acks');
    assert.match(String(documented('acks')), /acks\.md/);
    assert.match(rows.get('acks')![1]!, /off; accepted from peers/);
    const plainNode = await start({ nodeId: 'acks-plain' });
    const acking = await start({ nodeId: 'acks-on', acks: { enabled: true } });
    const outcomes: string[] = [];
    const got: string[] = [];
    plainNode.onMessage((m) => got.push(m.id));
    acking.onMessage((m) => got.push(m.id));
    plainNode.onOutcome((o) => outcomes.push(`plain:${o.outcome.kind}`));
    acking.onOutcome((o) => outcomes.push(`acking:${o.outcome.kind}`));
    plainNode.updateTopology({ 'acks-on': [acking.address] });
    acking.updateTopology({ 'acks-plain': [plainNode.address] });
    plainNode.send('acks-on', 'm', Buffer.from('x'));
    acking.send('acks-plain', 'm', Buffer.from('x'));
    await until(() => outcomes.length === 2 && got.length === 2, 'both outcomes');
    // Without the option a node sends plain (written); by default it accepts acks (delivered).
    assert.deepEqual(outcomes.sort(), ['acking:delivered', 'plain:written']);
  });

  test('`incomingCapacity`: messages a reader may lag behind before the oldest is dropped', async () => {
    probed.add('incomingCapacity');
    const capacity = documented('incomingCapacity') as number;
    const receiver = await start({ nodeId: 'receiver' });
    const sender = await start({
      nodeId: 'sender',
      topology: { receiver: [receiver.address] },
      limits: { peerQueueCapacity: capacity + 10 },
    });
    const data = Buffer.from('x');
    for (let i = 0; i <= capacity; i++) sender.send('receiver', 'm', data);
    const incoming = () => receiver.stats().incoming;
    await until(() => incoming().buffered + incoming().droppedSlowReader === capacity + 1, 'every message');
    assert.deepEqual(
      { buffered: incoming().buffered, dropped: incoming().droppedSlowReader },
      { buffered: capacity, dropped: 1 },
    );
  });

  test('every option documented with a value is checked by a test above', () => {
    // A value (a number, `[]`, `{}`, a quoted literal), or required, or a reference.
    const withValue = [...rows].filter(([, row]) => {
      const value = parseDefault(row[1]!);
      return (value !== undefined && typeof value !== 'string') || /'|^required|^see /.test(row[1]!);
    });
    const unchecked = withValue.map(([name]) => name).filter((name) => !probed.has(name));
    assert.deepEqual(unchecked, [], 'options whose documented default no test observes');
  });
});
