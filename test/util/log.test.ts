import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../src/util/log.js';
import type { Logger } from '../../src/util/logger.js';

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

test('JSON lines carry the node id, child bindings and no payload', () => {
  const out = sink();
  const log: Logger = createLogger({ level: 'debug', destination: out.stream, base: { nodeId: 'alice' } });
  log.info({ peerId: 'bob', data: 'SECRET-DATA', payload: Buffer.from('SECRET-PAYLOAD') }, 'sent');
  const peerLog = log.child({ peerId: 'carol', address: '127.0.0.1:7001', shortId: 'ab12' });
  peerLog.warn({ message: { id: 'm1', label: 'chat', data: 'SECRET-NESTED' } }, 'dropped');
  peerLog.debug({ credentials: { pem: 'SECRET-KEY' } }, 'rotated');
  const lines = out
    .text()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 3);
  assert.equal(lines[0]!.nodeId, 'alice');
  assert.equal(lines[0]!.peerId, 'bob');
  assert.equal(lines[0]!.msg, 'sent');
  assert.equal(lines[0]!.level, 30);
  assert.equal(lines[0]!.pid, process.pid);
  assert.equal(typeof lines[0]!.time, 'number');
  assert.equal(lines[1]!.nodeId, 'alice');
  assert.equal(lines[1]!.peerId, 'carol');
  assert.equal(lines[1]!.shortId, 'ab12');
  assert.deepEqual(lines[1]!.message, { id: 'm1', label: 'chat' });
  assert.deepEqual(lines[2]!.credentials, {});
  assert.ok(!out.text().includes('SECRET'), out.text());
  assert.ok(!('data' in lines[0]!) && !('payload' in lines[0]!));
});

test('the level filters, and can change live', () => {
  const out = sink();
  const log = createLogger({ level: 'warn', destination: out.stream });
  log.info({}, 'hidden');
  log.error({ code: 'ERR_X' }, 'shown');
  log.level = 'debug';
  log.debug({}, 'now shown');
  const msgs = out
    .text()
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.deepEqual(msgs, ['shown', 'now shown']);
});

test('pretty output is human-readable and still redacted', () => {
  const out = sink();
  const log = createLogger({ pretty: true, destination: out.stream, base: { nodeId: 'alice' } });
  log.info({ peerId: 'bob', data: 'SECRET' }, 'connected');
  const text = out.text();
  assert.match(text, /INFO.*connected/);
  assert.match(text, /nodeId: "alice"/);
  assert.throws(() => JSON.parse(text));
  assert.ok(!text.includes('SECRET'));
});

test('secrets are removed at every depth, in fields and in child bindings, without touching the caller objects', () => {
  const out = sink();
  const log = createLogger({
    destination: out.stream,
    base: { nodeId: 'alice', credentials: { keyPem: 'SECRET-BASE' } },
  });
  const fields = {
    config: { registry: { etcd: { endpoints: ['127.0.0.1:2379'], username: 'u', password: 'SECRET-PW' } } },
    batch: [
      { id: 'm1', data: 'SECRET-A' },
      { id: 'm2', nested: [{ payload: 'SECRET-B' }] },
    ],
    admin: { auth: { token: 'SECRET-TOKEN' } },
  };
  log
    .child({ peer: { pem: 'SECRET-CHILD', shortId: 'ab12' } })
    .child({ more: [{ password: 'SECRET-GRANDCHILD' }] })
    .warn(fields, 'reloaded');
  const text = out.text();
  assert.ok(!text.includes('SECRET'), text);
  const line = JSON.parse(text) as {
    config: { registry: { etcd: unknown } };
    batch: unknown;
    peer: unknown;
  };
  assert.deepEqual(line.config.registry.etcd, { endpoints: ['127.0.0.1:2379'], username: 'u' });
  assert.deepEqual(line.batch, [{ id: 'm1' }, { id: 'm2', nested: [{}] }]);
  assert.deepEqual(line.peer, { shortId: 'ab12' });
  assert.equal(fields.config.registry.etcd.password, 'SECRET-PW', 'the logged object itself is not changed');
});
