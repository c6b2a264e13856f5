/**
 * Issue 15.1, with a real second process and real TLS: a receiver whose `onMessage`
 * handler blocks its event loop for twice its idle timeout loses nothing that the sender
 * reported `written`. The sender (this process) sends at a steady rate before, during
 * and after the stall; the receiver (test/sim/stall-receiver.ts) reports what it
 * delivered over IPC.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { certificateHash, generateCredentials } from '../../src/identity/credentials.js';
import { createNetwork } from '../../src/network/network.js';
import { formatOutcome, type OutcomeEvent } from '../../src/sender/outcome.js';
import type { StallConfig, StallFromChild } from './stall-receiver.js';
import { within } from './within.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY = fileURLToPath(new URL('./stall-receiver.ts', import.meta.url));
const IDLE_MS = 1500;
const BLOCK_MS = 3000;
const RATE_MS = 50; // 20 messages a second
const SEND_MS = 6000;

const dir = mkdtempSync(join(tmpdir(), 'peerpost-stall-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function next<T extends StallFromChild['type']>(
  child: ChildProcess,
  type: T,
): Promise<Extract<StallFromChild, { type: T }>> {
  return new Promise((resolve) => {
    const on = (m: StallFromChild) => {
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m as Extract<StallFromChild, { type: T }>);
    };
    child.on('message', on);
  });
}

test('a receiver whose handler blocks for twice its idle timeout loses nothing the sender reported written', async (t) => {
  const [senderCreds, receiverCreds] = await Promise.all([generateCredentials(), generateCredentials()]);
  const configPath = join(dir, 'receiver.json');
  const config: StallConfig = {
    keyPem: receiverCreds.keyPem,
    certPem: receiverCreds.certPem,
    trustCertHash: certificateHash(senderCreds.certPem),
    idleTimeoutMs: IDLE_MS,
    blockMs: BLOCK_MS,
  };
  writeFileSync(configPath, JSON.stringify(config));
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, configPath], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      if (output.length < 20_000) output += chunk;
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const { address } = await within(next(child, 'ready'), 30_000, `receiver ready: ${output}`);
    const sender = await createNetwork({
      nodeId: 'sender',
      credentials: senderCreds,
      trust: { certHashes: [certificateHash(receiverCreds.certPem)] },
      topology: { receiver: [{ address, certHash: certificateHash(receiverCreds.certPem) }] },
      limits: { idleTimeoutMs: IDLE_MS },
    });
    const outcomes = new Map<string, OutcomeEvent>();
    sender.onOutcome((e) => outcomes.set(e.messageId, e));
    await within(sender.waitForPeer('receiver'), 10_000, 'sender connected');
    const sent: string[] = [];
    const blockAt = 20; // one second in
    await new Promise<void>((resolve) => {
      const start = Date.now();
      const timer = setInterval(() => {
        sent.push(sender.send('receiver', sent.length === blockAt ? 'Block' : 'Tick', new Uint8Array(64)));
        if (Date.now() - start >= SEND_MS) {
          clearInterval(timer);
          resolve();
        }
      }, RATE_MS);
    });
    // Every message gets its outcome; then the receiver says what it delivered.
    for (let i = 0; i < 200 && outcomes.size < sent.length; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(outcomes.size, sent.length, 'one outcome per message');
    await new Promise((r) => setTimeout(r, 500));
    child.send({ type: 'report' });
    const report = await within(next(child, 'report'), 10_000, 'receiver report');
    const delivered = new Set(report.delivered);
    const written = sent.filter((id) => outcomes.get(id)?.outcome.kind === 'written');
    const lost = written.filter((id) => !delivered.has(id));
    const kinds = new Map<string, number>();
    for (const e of outcomes.values()) {
      const k = formatOutcome(e.outcome);
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    const summary = `sent ${sent.length}, outcomes ${JSON.stringify([...kinds])}, delivered ${delivered.size}, receiver idle timeouts ${report.idleTimeouts}, blocked ${report.blockedMs} ms`;
    t.diagnostic(summary);
    // The stall happened, and messages were written while it lasted.
    assert.ok(report.blockedMs >= BLOCK_MS, summary);
    assert.ok(delivered.has(sent[blockAt]!), `the Block message was delivered: ${summary}`);
    assert.ok(
      written.length > blockAt + BLOCK_MS / RATE_MS / 2,
      `written during and after the stall: ${summary}`,
    );
    assert.deepEqual(lost, [], `written but never delivered: ${summary}`);
    // What the receiver delivered, it delivered once and in order.
    assert.deepEqual(
      report.delivered,
      sent.filter((id) => delivered.has(id)),
      'in send order, once each',
    );
    await sender.close();
    child.send({ type: 'close' });
    assert.equal(await within(exited, 20_000, 'receiver exits by itself'), 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
