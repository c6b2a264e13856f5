/**
 * Issue 20 with real processes and real mutual TLS: a receiver SIGSTOPped (longer than
 * the sender's idle timeout), then SIGKILLed and restarted on the same address with the
 * same credentials, in the middle of a steady stream (200 msg/s of 64 B).
 *
 * The receiver (test/sim/acks-receiver.ts) writes each message id to a file of its
 * incarnation synchronously in `onMessage`, so the files are what the application was
 * handed, independent of the sender's view. The sender (this process) records every
 * outcome.
 *
 * - Acknowledged delivery: every message has exactly one outcome; every `delivered` one
 *   is in a receiver file; no id is in the files twice (exactly once at the application
 *   across both incarnations); every other message ended as a named drop. Zero silent
 *   losses.
 * - The same run without acks shows the problem they solve: messages the sender
 *   recorded as `written` that no incarnation of the receiver ever had.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Credentials, certificateHash, generateCredentials } from '../../src/identity/credentials.js';
import { createNetwork } from '../../src/network/network.js';
import { formatOutcome, type OutcomeEvent } from '../../src/sender/outcome.js';
import type { AcksFromChild, AcksReceiverConfig } from './acks-receiver.js';
import { within } from './within.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY = fileURLToPath(new URL('./acks-receiver.ts', import.meta.url));
const IDLE_MS = 1500;
/** 2 messages every 10 ms: 200 msg/s. */
const TICK_MS = 10;
const PER_TICK = 2;
const BEFORE_MS = 1000;
/** Longer than the idle timeout: the sender notices the stall and loses the connection. */
const STOPPED_MS = 2500;
const AFTER_MS = 1500;
const DRAIN_MS = 3000;

const dir = mkdtempSync(join(tmpdir(), 'peerpost-acks-proc-'));
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const [senderCreds, receiverCreds] = await Promise.all([generateCredentials(), generateCredentials()]);
const receiverHash = certificateHash(receiverCreds.certPem);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Child {
  readonly proc: ChildProcess;
  readonly file: string;
  readonly exited: Promise<void>;
  next<T extends AcksFromChild['type']>(type: T): Promise<Extract<AcksFromChild, { type: T }>>;
  output(): string;
}

function spawnReceiver(configPath: string, file: string): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', ENTRY, configPath, file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.add(proc);
  let output = '';
  for (const stream of [proc.stdout!, proc.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      if (output.length < 20_000) output += chunk;
    });
  }
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc,
    file,
    exited,
    output: () => output,
    next: (type) =>
      new Promise((resolve) => {
        const on = (m: AcksFromChild) => {
          if (m.type !== type) return;
          proc.off('message', on);
          resolve(m as never);
        };
        proc.on('message', on);
      }),
  };
}

const idsIn = (file: string): string[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];

interface Run {
  sent: string[];
  outcomes: Map<string, OutcomeEvent>;
  /** Ids the receiving application was handed, per incarnation. */
  files: [string[], string[]];
  summary: string;
}

function label(e: OutcomeEvent): string {
  const o = e.outcome;
  return o.kind === 'dropped' && o.detail !== undefined
    ? `${formatOutcome(o)}/${o.detail}`
    : formatOutcome(o);
}

/**
 * Receiver #1 up, the sender streaming; SIGSTOP #1 for STOPPED_MS (receiver #2 loads
 * meanwhile), SIGKILL it, #2 takes its address; stream on for AFTER_MS, then the sender
 * closes with a drain and #2 closes.
 */
async function scenario(name: string, acks: boolean, creds: Credentials): Promise<Run> {
  const configPath = join(dir, `${name}.json`);
  const config: AcksReceiverConfig = {
    keyPem: receiverCreds.keyPem,
    certPem: receiverCreds.certPem,
    trustCertHash: certificateHash(creds.certPem),
    idleTimeoutMs: IDLE_MS,
  };
  writeFileSync(configPath, JSON.stringify(config));
  const first = spawnReceiver(configPath, join(dir, `${name}-1.ids`));
  let second: Child | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    await within(first.next('loaded'), 30_000, `receiver 1 loaded: ${first.output()}`);
    first.proc.send({ type: 'listen', address: '127.0.0.1:0' });
    const { address } = await within(first.next('ready'), 30_000, `receiver 1 ready: ${first.output()}`);
    const sender = await createNetwork({
      nodeId: 'sender',
      credentials: creds,
      trust: { certHashes: [receiverHash] },
      topology: { receiver: [{ address, certHash: receiverHash }] },
      limits: {
        idleTimeoutMs: IDLE_MS,
        handshakeTimeoutMs: 1000,
        // Room for everything sent while the receiver is away, and no giving up on it.
        peerQueueCapacity: 10_000,
        backoff: { initialMs: 50, deadlineMs: 20_000 },
      },
      ...(acks ? { acks: { enabled: true } } : {}),
    });
    const outcomes = new Map<string, OutcomeEvent>();
    const repeated: string[] = [];
    sender.onOutcome((e) => {
      if (outcomes.has(e.messageId)) repeated.push(e.messageId);
      outcomes.set(e.messageId, e);
    });
    await within(sender.waitForPeer('receiver'), 10_000, 'sender connected');
    const sent: string[] = [];
    const payload = new Uint8Array(64);
    timer = setInterval(() => {
      for (let i = 0; i < PER_TICK; i++) sent.push(sender.send('receiver', 'Put', payload));
    }, TICK_MS);

    await sleep(BEFORE_MS);
    first.proc.kill('SIGSTOP');
    const stoppedAt = Date.now();
    second = spawnReceiver(configPath, join(dir, `${name}-2.ids`));
    await within(second.next('loaded'), 30_000, `receiver 2 loaded: ${second.output()}`);
    await sleep(Math.max(0, STOPPED_MS - (Date.now() - stoppedAt)));
    first.proc.kill('SIGKILL');
    await within(first.exited, 10_000, 'receiver 1 killed');
    second.proc.send({ type: 'listen', address });
    await within(second.next('ready'), 30_000, `receiver 2 ready: ${second.output()}`);
    // As a registry would say it: the peer is back, try now rather than after the backoff delay.
    sender.reconnect('receiver');
    await sleep(AFTER_MS);
    clearInterval(timer);
    timer = undefined;
    await within(sender.close({ drainTimeoutMs: DRAIN_MS }), DRAIN_MS + 10_000, 'sender closed');
    const closed = second.next('closed');
    second.proc.send({ type: 'close' });
    await within(closed, 10_000, 'receiver 2 closed');
    await within(second.exited, 10_000, 'receiver 2 exits by itself');
    assert.deepEqual(repeated, [], 'a second outcome for a message');

    const files: [string[], string[]] = [idsIn(first.file), idsIn(second.file)];
    const kinds = new Map<string, number>();
    for (const e of outcomes.values()) kinds.set(label(e), (kinds.get(label(e)) ?? 0) + 1);
    const summary =
      `${name}: sent ${sent.length}, outcomes ${outcomes.size} {${[...kinds].map(([k, v]) => `${k} ${v}`).join(', ')}}` +
      `, receiver got ${files[0].length} + ${files[1].length}`;
    return { sent, outcomes, files, summary };
  } finally {
    if (timer !== undefined) clearInterval(timer);
    for (const c of [first, second])
      if (c && c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  }
}

test('acked, receiver SIGSTOPped then SIGKILLed and restarted mid-stream: every message delivered exactly once or named', async (t) => {
  const { sent, outcomes, files, summary } = await scenario('acked', true, senderCreds);
  t.diagnostic(summary);
  console.log(summary);
  // Exactly one outcome per message sent (doubles were checked as they came).
  assert.equal(outcomes.size, sent.length, `one outcome per message: ${summary}`);
  for (const id of sent) assert.ok(outcomes.has(id), `no outcome for ${id}: ${summary}`);

  const all = [...files[0], ...files[1]];
  const got = new Set(all);
  // Exactly once at the application, across both incarnations.
  assert.equal(got.size, all.length, `an id reached the application twice: ${summary}`);
  const sentSet = new Set(sent);
  for (const id of all) assert.ok(sentSet.has(id), `the receiver got ${id}, never sent`);

  const delivered = sent.filter((id) => outcomes.get(id)!.outcome.kind === 'delivered');
  const missing = delivered.filter((id) => !got.has(id));
  assert.deepEqual(missing, [], `delivered but not at the application: ${summary}`);
  // Not delivered: a named drop, never `written` (which would be silent about the outcome).
  for (const id of sent) {
    const e = outcomes.get(id)!;
    if (e.outcome.kind === 'delivered') continue;
    assert.equal(e.outcome.kind, 'dropped', `${id} ended ${label(e)}: ${summary}`);
    if (e.outcome.kind === 'dropped' && e.outcome.reason === 'unacknowledged')
      assert.ok(e.outcome.detail !== undefined, `${id}: dropped:unacknowledged without a detail`);
    // What the application had, the sender may only have been unable to confirm.
    if (got.has(id))
      assert.equal(
        formatOutcome(e.outcome),
        'dropped:unacknowledged',
        `${id} at the application, ended ${label(e)}`,
      );
  }
  // The scenario happened: both incarnations got messages, and the restart cost some
  // messages whose delivery could not be known (the receiver lost its state).
  assert.ok(files[0].length > 0 && files[1].length > 0, `both incarnations received: ${summary}`);
  const lostState = [...outcomes.values()].filter(
    (e) => e.outcome.kind === 'dropped' && e.outcome.detail === 'peer_lost_state',
  ).length;
  assert.ok(lostState > 0, `some messages ended dropped:unacknowledged/peer_lost_state: ${summary}`);
});

test('plain (acks off), the same scenario: messages reported written that the receiver never got', async (t) => {
  const { sent, outcomes, files, summary } = await scenario('plain', false, senderCreds);
  const got = new Set([...files[0], ...files[1]]);
  const writtenLost = sent.filter((id) => outcomes.get(id)?.outcome.kind === 'written' && !got.has(id));
  const line = `${summary}, written but never received ${writtenLost.length}`;
  t.diagnostic(line);
  console.log(line);
  assert.equal(outcomes.size, sent.length, `one outcome per message: ${line}`);
  assert.ok(writtenLost.length > 0, `plain mode loses written messages silently here: ${line}`);
});
