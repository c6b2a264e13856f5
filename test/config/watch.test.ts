import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ConfigChange } from '../../src/config/diff.js';
import { type LoadedNodeConfig, loadNodeConfig } from '../../src/config/load.js';
import { ConfigWatcher } from '../../src/config/watch.js';
import { isPeerpostError, type PeerpostError } from '../../src/errors.js';
import { FakeClock } from '../../src/util/fake-clock.js';

const KEY = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n';

let root: string;
let n = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'peerpost-config-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function nodeYaml(extra = ''): string {
  return `nodeId: alice\nlisten: 127.0.0.1:7000\ncredentials:\n  key: alice.key\n  cert: alice.crt\ntopologyFile: peers.yaml\n${extra}`;
}

/** A fresh directory with a valid config, topology and credentials. */
async function fixture(): Promise<{ dir: string; path: string; topo: string }> {
  const dir = join(root, `case-${n++}`);
  await mkdir(dir);
  const path = join(dir, 'node.yaml');
  await writeFile(join(dir, 'alice.key'), KEY);
  await writeFile(join(dir, 'alice.crt'), CERT);
  await writeFile(join(dir, 'peers.yaml'), 'bob: ["127.0.0.1:7001"]\n');
  await writeFile(path, nodeYaml());
  return { dir, path, topo: join(dir, 'peers.yaml') };
}

type Event =
  | { kind: 'change'; config: LoadedNodeConfig; changes: readonly ConfigChange[] }
  | { kind: 'error'; error: PeerpostError };

/** A watcher whose events can be awaited one at a time (each wait fails after 5 s). */
function recorder() {
  const events: Event[] = [];
  const waiters: Array<(e: Event) => void> = [];
  const push = (e: Event) => {
    const w = waiters.shift();
    if (w) w(e);
    else events.push(e);
  };
  return {
    onChange: (config: LoadedNodeConfig, changes: readonly ConfigChange[]) =>
      push({ kind: 'change', config, changes }),
    onError: (error: PeerpostError) => push({ kind: 'error', error }),
    next(): Promise<Event> {
      const queued = events.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no config event within 5 s')), 5000);
        waiters.push((e) => {
          clearTimeout(timer);
          resolve(e);
        });
      });
    },
    get pending() {
      return events.length;
    },
  };
}

test('loadNodeConfig reads the topology file and the credentials', async () => {
  const { path } = await fixture();
  const config = await loadNodeConfig(path);
  assert.deepEqual([...config.topology], [['bob', [{ address: '127.0.0.1:7001' }]]]);
  assert.deepEqual(config.pem, { key: KEY, cert: CERT });
});

test('loadNodeConfig errors point at the key that names a bad file', async () => {
  const { dir, path, topo } = await fixture();
  await rm(join(dir, 'alice.crt'));
  await assert.rejects(loadNodeConfig(path), (err: Error) => {
    assert.ok(isPeerpostError(err, 'ERR_INVALID_CONFIG'));
    assert.equal(err.message, `${path}:5:3: credentials.cert: cannot read ${join(dir, 'alice.crt')}: ENOENT`);
    return true;
  });
  await writeFile(join(dir, 'alice.crt'), 'not pem');
  await assert.rejects(loadNodeConfig(path), /credentials\.cert: .*alice\.crt is not a PEM file/);
  await writeFile(join(dir, 'alice.crt'), CERT);
  await writeFile(topo, 'bob: ["127.0.0.1:7001"]\ncarol: 5\n');
  await assert.rejects(
    loadNodeConfig(path),
    (err: Error) => err.message === `${topo}:2:1: carol: expected a list of addresses, got 5`,
  );
  await rm(topo);
  await assert.rejects(loadNodeConfig(path), {
    message: `${path}:6:1: topologyFile: cannot read ${topo}: ENOENT`,
  });
  await assert.rejects(loadNodeConfig(join(dir, 'missing.yaml')), /missing\.yaml: cannot read: ENOENT/);
});

test('an edited config applies live and reports what changed', async () => {
  const { path } = await fixture();
  const rec = recorder();
  const watcher = new ConfigWatcher({ path, initial: await loadNodeConfig(path), debounceMs: 20, ...rec });
  try {
    await writeFile(path, nodeYaml('directSendMode: broadcast\n'));
    const e = await rec.next();
    assert.equal(e.kind, 'change');
    assert.ok(e.kind === 'change');
    assert.deepEqual(
      e.changes.map((c) => c.description),
      ['directSendMode: direct -> broadcast'],
    );
    assert.equal(e.config.directSendMode, 'broadcast');
    assert.equal(watcher.current.directSendMode, 'broadcast');
  } finally {
    await watcher.close();
  }
});

test('a topology file replaced by rename (as editors do) is picked up', async () => {
  const { dir, path, topo } = await fixture();
  const rec = recorder();
  const watcher = new ConfigWatcher({ path, initial: await loadNodeConfig(path), debounceMs: 20, ...rec });
  try {
    const tmp = join(dir, '.peers.yaml.swp');
    await writeFile(tmp, 'bob: ["127.0.0.1:7002"]\ncarol: ["127.0.0.1:7003"]\n');
    await rename(tmp, topo);
    const e = await rec.next();
    assert.ok(e.kind === 'change');
    assert.deepEqual(
      e.changes.map((c) => c.description),
      [
        'topology: peer bob [127.0.0.1:7001] -> [127.0.0.1:7002]',
        'topology: peer carol added [127.0.0.1:7003]',
      ],
    );
    assert.deepEqual([...watcher.current.topology.keys()], ['bob', 'carol']);
    // A second replacement still fires: the watch is on the directory, not the replaced inode.
    await writeFile(tmp, 'bob: ["127.0.0.1:7002"]\n');
    await rename(tmp, topo);
    const e2 = await rec.next();
    assert.ok(e2.kind === 'change');
    assert.deepEqual(
      e2.changes.map((c) => c.description),
      ['topology: peer carol removed (was [127.0.0.1:7003])'],
    );
  } finally {
    await watcher.close();
  }
});

test('an invalid file keeps the old config and reports why; fixing it applies', async () => {
  const { path } = await fixture();
  const rec = recorder();
  const initial = await loadNodeConfig(path);
  const watcher = new ConfigWatcher({ path, initial, debounceMs: 20, ...rec });
  try {
    await writeFile(path, nodeYaml('limits:\n  peerQueueCapacity: -5\n'));
    const e = await rec.next();
    assert.ok(e.kind === 'error');
    assert.ok(isPeerpostError(e.error, 'ERR_INVALID_CONFIG'));
    assert.equal(
      e.error.message,
      `${path}:8:3: limits.peerQueueCapacity: expected a positive integer up to 1000000, got -5`,
    );
    assert.equal(watcher.current, initial);
    const sighup = await watcher.reload();
    assert.equal(sighup.kind, 'invalid');
    assert.ok((await rec.next()).kind === 'error');

    await writeFile(path, nodeYaml('limits:\n  peerQueueCapacity: 5\n'));
    const fixed = await rec.next();
    assert.ok(fixed.kind === 'change');
    assert.deepEqual(
      fixed.changes.map((c) => c.description),
      ['limits.peerQueueCapacity: 100 -> 5'],
    );
  } finally {
    await watcher.close();
  }
});

test('a config rejected while applying keeps the running one as the base of the next reload', async () => {
  const { path } = await fixture();
  const rec = recorder();
  const initial = await loadNodeConfig(path);
  let reject = true;
  const watcher = new ConfigWatcher({
    path,
    initial,
    debounceMs: 10_000, // reloads only when asked
    onChange: (config, changes) => {
      if (reject) throw new Error('the key does not match the certificate');
      rec.onChange(config, changes);
    },
    onError: rec.onError,
  });
  try {
    await writeFile(path, nodeYaml('directSendMode: both\n'));
    const rejected = await watcher.reload();
    assert.ok(rejected.kind === 'invalid');
    assert.ok(isPeerpostError(rejected.error, 'ERR_INVALID_CONFIG'));
    assert.match(rejected.error.message, /applying the new configuration failed: the key does not match/);
    const e = await rec.next();
    assert.ok(e.kind === 'error' && e.error === rejected.error);
    assert.equal(watcher.current, initial, 'the running config is kept');

    // The same file again: still a change against what runs, so it is applied now.
    reject = false;
    const applied = await watcher.reload();
    assert.ok(applied.kind === 'changed');
    assert.deepEqual(
      applied.changes.map((c) => c.description),
      ['directSendMode: direct -> both'],
    );
    assert.equal(watcher.current.directSendMode, 'both');
  } finally {
    await watcher.close();
  }
});

test('node id and listen changes are reported as needing a restart and not applied', async () => {
  const { path } = await fixture();
  const rec = recorder();
  const watcher = new ConfigWatcher({ path, initial: await loadNodeConfig(path), debounceMs: 20, ...rec });
  try {
    await writeFile(
      path,
      nodeYaml('directSendMode: both\n').replace('alice\n', 'zed\n').replace(':7000', ':7005'),
    );
    const result = await watcher.reload();
    assert.ok(result.kind === 'changed');
    assert.deepEqual(
      result.changes.filter((c) => c.needsRestart).map((c) => c.key),
      ['nodeId', 'listen'],
    );
    assert.equal(result.config.nodeId, 'alice');
    assert.equal(result.config.listen, '127.0.0.1:7000');
    assert.equal(result.config.directSendMode, 'both');
  } finally {
    await watcher.close();
  }
});

test('reload() with nothing changed reports unchanged and calls no callback', async () => {
  const { path } = await fixture();
  const rec = recorder();
  const watcher = new ConfigWatcher({
    path,
    initial: await loadNodeConfig(path),
    debounceMs: 10_000,
    ...rec,
  });
  const result = await watcher.reload();
  assert.deepEqual(result, { kind: 'unchanged' });
  assert.equal(rec.pending, 0);
  await watcher.close();
  await assert.rejects(watcher.reload(), (err) => isPeerpostError(err, 'ERR_CLOSED'));
});

test('file events are debounced on the injected clock; close() clears the timer', async () => {
  const { path } = await fixture();
  const clock = new FakeClock();
  const rec = recorder();
  const watcher = new ConfigWatcher({
    path,
    initial: await loadNodeConfig(path),
    clock,
    debounceMs: 500,
    ...rec,
  });
  try {
    await writeFile(path, nodeYaml('logLevel: debug\n'));
    await writeFile(path, nodeYaml('logLevel: warn\n'));
    await until(() => clock.pendingTimers === 1);
    // Only one debounce timer however many events arrived; nothing reloads before it fires.
    await clock.tick(499);
    assert.equal(rec.pending, 0);
    // Late file events only restart the quiet period; keep advancing until it has passed.
    for (let i = 0; i < 100 && rec.pending === 0; i++) await clock.tick(i === 0 ? 1 : 500);
    const e = await rec.next();
    assert.ok(e.kind === 'change');
    assert.deepEqual(
      e.changes.map((c) => c.description),
      ['logLevel: info -> warn'],
    );
    await writeFile(path, nodeYaml('logLevel: error\n'));
    await until(() => clock.pendingTimers === 1);
  } finally {
    await watcher.close();
  }
  assert.equal(clock.pendingTimers, 0);
});

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail('condition not met within 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}
