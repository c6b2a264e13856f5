import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffConfig } from '../../src/config/diff.js';
import type { LoadedNodeConfig } from '../../src/config/load.js';
import { acksSchema, DEFAULT_LIMITS } from '../../src/config/schema.js';
import { generateCredentials } from '../../src/identity/credentials.js';
import { applyConfig } from '../../src/node/apply.js';
import { DropRing } from '../../src/node/drops.js';
import { formatStatus } from '../../src/node/status-text.js';
import type { OutcomeEvent } from '../../src/sender/outcome.js';

function drop(i: number, reason: 'queue_full' | 'connect_failed'): OutcomeEvent {
  return {
    messageId: `m${i}`,
    label: 'l',
    receiver: 'p',
    address: '127.0.0.1:9',
    mode: 'direct',
    outcome: { kind: 'dropped', reason },
  };
}

test('DropRing keeps the newest drops up to its capacity and totals every drop by reason', () => {
  const ring = new DropRing(3);
  ring.record({ ...drop(0, 'queue_full'), outcome: { kind: 'written' } }, 0);
  for (let i = 1; i <= 5; i++) ring.record(drop(i, i % 2 === 0 ? 'queue_full' : 'connect_failed'), i * 10);
  assert.deepEqual(
    ring.recent().map((d) => [d.messageId, d.atMs, d.reason]),
    [
      ['m5', 50, 'connect_failed'],
      ['m4', 40, 'queue_full'],
      ['m3', 30, 'connect_failed'],
    ],
  );
  const summary = ring.summary(2);
  assert.deepEqual(summary.recentByReason, { connect_failed: 2, queue_full: 1 });
  assert.deepEqual(summary.totalByReason, { connect_failed: 3, queue_full: 2 });
  assert.deepEqual(
    summary.recent.map((d) => d.messageId),
    ['m5', 'm4'],
  );
});

async function configs(): Promise<{ old: LoadedNodeConfig; pem: { key: string; cert: string } }> {
  const creds = await generateCredentials();
  const old: LoadedNodeConfig = {
    nodeId: 'n',
    listen: '127.0.0.1:0',
    credentials: { keyFile: '/k', certFile: '/c' },
    trust: { certHashes: [], ownerKeys: [] },
    limits: DEFAULT_LIMITS as unknown as LoadedNodeConfig['limits'],
    directSendMode: 'direct',
    acks: acksSchema.parse({}),
    admin: undefined,
    logLevel: 'info',
    topology: new Map(),
    topologyFile: undefined,
    path: '/n.yaml',
    pem: { key: creds.keyPem, cert: creds.certPem },
  };
  return { old, pem: old.pem };
}

function recorder() {
  const calls: [string, unknown][] = [];
  return {
    calls,
    target: {
      network: {
        updateConfig: (u: unknown) => calls.push(['config', u]),
        updateTopology: (t: unknown) => calls.push(['topology', t]),
        updateTrust: (t: unknown) => calls.push(['trust', t]),
        updateCredentials: (c: unknown) => calls.push(['credentials', c]),
      },
      setLogLevel: (l: string) => calls.push(['level', l]),
    },
  };
}

test('applyConfig applies live keys and reports restart-only keys without applying them', async () => {
  const { old } = await configs();
  const next: LoadedNodeConfig = {
    ...old,
    listen: '127.0.0.1:7000',
    directSendMode: 'both',
    logLevel: 'debug',
    trust: { certHashes: ['a'.repeat(64)], ownerKeys: [] },
    limits: { ...old.limits, peerQueueCapacity: 7, maxFrameBytes: 1024 },
    topology: new Map([['p', [{ address: '127.0.0.1:9' }]]]),
  };
  const { calls, target } = recorder();
  const report = applyConfig(target, next, diffConfig(old, next));
  assert.deepEqual(
    calls.map(([what]) => what),
    ['config', 'topology', 'trust', 'level'],
  );
  const update = calls[0]![1] as { directSendMode: string; limits: { peerQueueCapacity: number } };
  assert.equal(update.directSendMode, 'both');
  assert.equal(update.limits.peerQueueCapacity, 7);
  assert.deepEqual(calls[2]![1], { certHashes: ['a'.repeat(64)], ownerKeys: [] });
  assert.deepEqual(report.notApplied, [
    'listen: 127.0.0.1:0 -> 127.0.0.1:7000 (needs restart, not applied)',
    `limits.maxFrameBytes: ${DEFAULT_LIMITS.maxFrameBytes} -> 1024 (needs restart, not applied)`,
  ]);
  assert.ok(report.applied.includes('directSendMode: direct -> both'));
  assert.ok(report.applied.includes('limits.peerQueueCapacity: 100 -> 7'));
});

test('applyConfig validates new credentials before changing anything', async () => {
  const { old } = await configs();
  const other = await generateCredentials();
  // The old key with a certificate of another key: rejected, nothing applied.
  const bad: LoadedNodeConfig = {
    ...old,
    directSendMode: 'both',
    pem: { key: old.pem.key, cert: other.certPem },
  };
  const { calls, target } = recorder();
  assert.throws(() => applyConfig(target, bad, diffConfig(old, bad)), { code: 'ERR_INVALID_CERTIFICATE' });
  assert.deepEqual(calls, []);
  const good: LoadedNodeConfig = { ...old, pem: { key: other.keyPem, cert: other.certPem } };
  const ok = recorder();
  applyConfig(ok.target, good, diffConfig(old, good));
  assert.deepEqual(ok.calls, [['credentials', { keyPem: other.keyPem, certPem: other.certPem }]]);
});

test('formatStatus: the backoff column shows failures only, never "attempt 0"', () => {
  const address = (peerId: string, entry: Record<string, unknown>) => ({
    peerId,
    addresses: [
      { address: `${peerId}.example:7000`, pinned: '-', queueDepth: 0, unflushed: 0, unacked: 0, ...entry },
    ],
  });
  const text = formatStatus({
    nowMs: 10_000,
    peers: [
      address('fresh', { state: 'connecting', attempt: 1 }),
      address('remembered', { state: 'backoff', attempt: 0, retryAt: 10_400 }),
      address('failing', { state: 'backoff', attempt: 3, retryAt: 10_250 }),
      address('once', { state: 'backoff', attempt: 1, retryAt: 10_050 }),
      address('again', { state: 'connecting', attempt: 4 }),
      address('up', { state: 'connected' }),
      address('idle', { state: 'none' }),
    ],
  });
  assert.doesNotMatch(text, /attempt 0/);
  const column = (peer: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`  ${peer} `));
    assert.ok(line, peer);
    // peer, address, pinned, state, queue, unacked: the rest is the backoff column.
    return line.replace(/^ {2}\S+ +\S+ +\S+ +\S+ +\d+ +\d+ +/, '');
  };
  assert.equal(column('fresh'), '-');
  assert.equal(column('remembered'), 'retry in 400ms (earlier failures)');
  assert.equal(column('failing'), '3 failed attempts, retry in 250ms');
  assert.equal(column('once'), '1 failed attempt, retry in 50ms');
  assert.equal(column('again'), 'retrying, attempt 4');
  assert.equal(column('up'), '-');
  assert.equal(column('idle'), '-');
});

test('formatStatus shows the registry line only for a node with a registry', () => {
  assert.doesNotMatch(formatStatus({ nodeId: 'a' }), /^registry/m);
  const text = formatStatus({
    nodeId: 'a',
    registry: {
      state: 'reconnecting',
      registered: false,
      revision: 42,
      entries: 3,
      ignoredEntries: 1,
      watchRestarts: 2,
      reRegistrations: 1,
      errors: 5,
      lastError: 'watch: Error: 14 UNAVAILABLE\u001b[31m',
    },
  });
  assert.match(text, /^registry {3}reconnecting, not registered, revision 42, 3 entries$/m);
  assert.match(text, /^ {11}watch restarts 2, re-registrations 1, ignored entries 1, errors 5$/m);
  assert.match(text, /^ {11}last error: watch: Error: 14 UNAVAILABLE\?\[31m$/m);
  const synced = formatStatus({ registry: { state: 'synced', registered: true, revision: 7, entries: 2 } });
  assert.match(synced, /^registry {3}synced, registered, revision 7, 2 entries$/m);
  assert.doesNotMatch(synced, /last error/);
});

test('formatStatus renders hostile or partial documents safely', () => {
  assert.match(formatStatus(null), /^node {7}- \(identity -, -\)$/m);
  const peers = Array.from({ length: 80 }, (_, i) => ({
    peerId: `p${i}\u001b[31m`,
    addresses: [{ address: 'x'.repeat(500), state: 7, queueDepth: 'lots' }],
  }));
  const text = formatStatus({ peers, drops: { recentByReason: { queue_full: 3 } }, outcomes: [] });
  assert.equal(text.includes('\u001b'), false);
  assert.match(text, /^peers \(80\)$/m);
  assert.match(text, /^ {2}\.\.\. 30 more$/m);
  assert.match(text, /^drops {6}recent: queue_full=3 {3}total: none$/m);
  for (const line of text.split('\n')) assert.ok(line.length < 400, line.slice(0, 80));
});
