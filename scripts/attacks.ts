/**
 * The attack catalogue of RELIABILITY.md, measured: `npx tsx scripts/attacks.ts`.
 *
 * A victim node runs in its own process (this file with `--victim`), on real mutual TLS
 * on 127.0.0.1, trusting a good peer and a "trusted attacker" certificate; it answers
 * messages labelled `Req` with 1 MiB replies. The good peer (this process) sends to it
 * at 20 messages a second all along. Then, one attack at a time, this process attacks it
 * and measures: time until the victim refused (closed the attacker's sockets), CPU the
 * victim spent meanwhile, log lines (and bytes) it wrote, its RSS, and the good peer's
 * messages reported `written` during the attack that the victim did not deliver.
 * Prints a Markdown table.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { type Credentials, certificateHash, generateCredentials } from '../src/identity/credentials.js';
import { createNetwork, type Network } from '../src/network/network.js';
import { formatOutcome } from '../src/sender/outcome.js';
import { addr } from '../src/sender/receiver.js';
import { ALPN_BY_KIND } from '../src/transport/types.js';
import type { Logger } from '../src/util/logger.js';
import type { Envelope } from '../src/wire/envelope.js';
import { encodeEnvelopeFrame } from '../src/wire/framing.js';
import { zstd } from '../src/wire/zstd.js';

interface VictimConfig {
  readonly creds: Credentials;
  readonly trust: readonly string[];
  readonly maxInboundConnections: number;
}

interface Sample {
  readonly cpuMs: number;
  readonly rss: number;
  readonly logLines: number;
  readonly logBytes: number;
  readonly good: readonly string[];
  readonly queueBytes: number;
}

const REPLY_BYTES = 1024 * 1024;
const MAX_INBOUND = 150;

// ---------------------------------------------------------------------------------------
// The victim (child process).

async function victim(configPath: string): Promise<void> {
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as VictimConfig;
  let logLines = 0;
  let logBytes = 0;
  const line = (obj: object, msg?: string) => {
    logLines++;
    const text = JSON.stringify({ ...obj, msg }, (_, v) => (typeof v === 'bigint' ? String(v) : v));
    logBytes += text.length + 1;
    if (process.env['ATTACK_LOG'] !== undefined) process.stderr.write(`[victim] ${text}\n`);
  };
  const logger: Logger = { debug() {}, info: line, warn: line, error: line, child: () => logger };
  const network = await createNetwork({
    nodeId: 'victim',
    credentials: config.creds,
    trust: { certHashes: [...config.trust] },
    limits: { maxInboundConnections: config.maxInboundConnections },
    compressThresholdBytes: 1e9,
    logger,
  });
  const good: string[] = [];
  const reply = new Uint8Array(REPLY_BYTES).fill(7);
  network.onMessage((msg) => {
    if (msg.label === 'Good') good.push(msg.id);
    else if (msg.label === 'Req') network.send(addr(msg.from.address), 'Rep', reply);
  });
  process.on('message', (raw) => {
    const m = raw as { type: 'sample'; gc?: boolean } | { type: 'close' };
    if (m.type === 'sample') {
      if (m.gc === true) (globalThis as { gc?: () => void }).gc?.();
      const cpu = process.cpuUsage();
      const sample: Sample = {
        cpuMs: (cpu.user + cpu.system) / 1000,
        rss: process.memoryUsage().rss,
        logLines,
        logBytes,
        good,
        queueBytes: network.stats().queueBytes,
      };
      process.send!({ type: 'sample', sample });
    } else void network.close().then(() => process.disconnect());
  });
  process.send!({ type: 'ready', address: network.address });
}

// ---------------------------------------------------------------------------------------
// The attacker and the good peer (this process).

class Victim {
  readonly proc: ChildProcess;
  readonly ready: Promise<string>;
  constructor(configPath: string) {
    this.proc = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--victim', configPath],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    this.ready = new Promise((resolve) => {
      const on = (m: { type: string; address?: string }) => {
        if (m.type !== 'ready') return;
        this.proc.off('message', on);
        resolve(m.address!);
      };
      this.proc.on('message', on);
    });
  }
  sample(gc = false): Promise<Sample> {
    return new Promise((resolve) => {
      const on = (m: { type: string; sample?: Sample }) => {
        if (m.type !== 'sample') return;
        this.proc.off('message', on);
        resolve(m.sample!);
      };
      this.proc.on('message', on);
      this.proc.send({ type: 'sample', gc });
    });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Opened {
  readonly socket: net.Socket;
  readonly startedAt: number;
  /** When the victim closed it (or it failed), ms after `startedAt`. */
  readonly refusedAfter: Promise<number>;
}

function track(socket: net.Socket): Opened {
  const startedAt = performance.now();
  socket.on('error', () => {});
  socket.resume(); // read (and discard) what comes, so that its end is seen
  const refusedAfter = new Promise<number>((resolve) =>
    socket.once('close', () => resolve(performance.now() - startedAt)),
  );
  return { socket, startedAt, refusedAfter };
}

function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

function tlsTo(address: string, options: tls.ConnectionOptions): Opened {
  return track(
    tls.connect({
      ...hostPort(address),
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ALPNProtocols: [ALPN_BY_KIND.direct],
      ...options,
    }),
  );
}

/** A trusted TLS connection, once connected. */
async function trusted(address: string, creds: Credentials): Promise<Opened> {
  const o = tlsTo(address, { key: creds.keyPem, cert: creds.certPem });
  await new Promise<void>((resolve) => {
    (o.socket as tls.TLSSocket).once('secureConnect', () => resolve());
    o.socket.once('close', () => resolve());
  });
  return o;
}

function envelope(id: string, label: string, compressed: boolean, data: Uint8Array): Envelope {
  return {
    deliveryStartTimestampMs: BigInt(Date.now()),
    id,
    label,
    compressed,
    data,
    lastSenderIsProxy: false,
  };
}

/** The slowest refusal of `opened` (ms), or `held` when some are still open after `ms`. */
async function refusal(opened: readonly Opened[], ms: number): Promise<string> {
  const times = await Promise.all(
    opened.map((o) => Promise.race([o.refusedAfter, sleep(ms).then(() => -1)])),
  );
  const open = times.filter((t) => t < 0).length;
  for (const o of opened) o.socket.destroy();
  const done = times.filter((t) => t >= 0);
  const worst = done.length === 0 ? 0 : Math.max(...done);
  if (open > 0) return `${open} of ${opened.length} still open after ${ms / 1000} s`;
  return opened.length === 1
    ? `${worst.toFixed(0)} ms`
    : `all ${opened.length} within ${worst.toFixed(0)} ms`;
}

interface Attack {
  readonly name: string;
  /** Runs the attack; returns the refusal text and optional extra notes. */
  run(ctx: Context): Promise<{ refusal: string; note?: string }>;
}

interface Context {
  readonly address: string;
  readonly victim: Victim;
  readonly attacker: Credentials;
  readonly untrusted: Credentials;
}

const ATTACKS: readonly Attack[] = [
  {
    name: 'no client certificate',
    run: async ({ address }) => ({ refusal: await refusal([tlsTo(address, {})], 10_000) }),
  },
  {
    name: 'untrusted certificate',
    run: async ({ address, untrusted }) => ({
      refusal: await refusal([tlsTo(address, { key: untrusted.keyPem, cert: untrusted.certPem })], 10_000),
    }),
  },
  {
    name: 'TLS 1.2',
    run: async ({ address, attacker }) => ({
      refusal: await refusal(
        [tlsTo(address, { key: attacker.keyPem, cert: attacker.certPem, maxVersion: 'TLSv1.2' })],
        10_000,
      ),
    }),
  },
  {
    name: 'wrong ALPN',
    run: async ({ address, attacker }) => ({
      refusal: await refusal(
        [tlsTo(address, { key: attacker.keyPem, cert: attacker.certPem, ALPNProtocols: ['h2'] })],
        10_000,
      ),
    }),
  },
  {
    name: 'junk bytes (64 KiB, no TLS)',
    run: async ({ address }) => {
      const o = track(net.connect(hostPort(address)));
      o.socket.write(randomBytes(64 * 1024));
      return { refusal: await refusal([o], 10_000) };
    },
  },
  {
    name: '4 GiB length prefix',
    run: async ({ address, attacker }) => {
      const o = await trusted(address, attacker);
      o.socket.write(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), randomBytes(1024)]));
      return { refusal: await refusal([o], 10_000) };
    },
  },
  {
    name: 'garbage envelopes',
    run: async ({ address, attacker }) => {
      const o = await trusted(address, attacker);
      const body = randomBytes(100);
      const frame = Buffer.alloc(4 + body.length);
      frame.writeUInt32BE(body.length, 0);
      body.copy(frame, 4);
      for (let i = 0; i < 100; i++) o.socket.write(frame);
      return { refusal: await refusal([o], 10_000) };
    },
  },
  {
    name: 'zstd bombs (100 x 64 MiB of zeros, cap 16 MiB)',
    run: async ({ address, attacker }) => {
      const packed = zstd().compress(new Uint8Array(64 * 1024 * 1024));
      const opened: Opened[] = [];
      for (let batch = 0; batch < 10; batch++) {
        const conns = await Promise.all(Array.from({ length: 10 }, () => trusted(address, attacker)));
        for (const [i, o] of conns.entries()) {
          o.socket.write(encodeEnvelopeFrame(envelope(`bomb-${batch}-${i}`, 'X', true, packed)));
        }
        opened.push(...conns);
      }
      return { refusal: await refusal(opened, 10_000), note: `bomb ${packed.length} B` };
    },
  },
  {
    name: '200 slowloris sockets',
    run: async ({ address }) => {
      const opened = Array.from({ length: 200 }, () => track(net.connect(hostPort(address))));
      return { refusal: await refusal(opened, 15_000) };
    },
  },
  {
    name: `over-cap crowd (${MAX_INBOUND + 50} trusted connections, cap ${MAX_INBOUND})`,
    run: async ({ address, attacker }) => {
      const opened = await Promise.all(
        Array.from({ length: MAX_INBOUND + 50 }, () => trusted(address, attacker)),
      );
      await sleep(1000);
      const closed = await Promise.all(
        opened.map((o) => Promise.race([o.refusedAfter, sleep(10).then(() => -1)])),
      );
      const refused = closed.filter((t) => t >= 0);
      for (const o of opened) o.socket.destroy();
      return {
        refusal: `${refused.length} refused, within ${Math.max(0, ...refused).toFixed(0)} ms`,
        note: `${closed.length - refused.length} held`,
      };
    },
  },
  {
    name: 'trusted peer that never reads, 1 MiB replies',
    run: async ({ address, attacker, victim }) => {
      const before = await victim.sample(true);
      const o = await trusted(address, attacker);
      o.socket.pause();
      for (let i = 0; i < 200; i++)
        o.socket.write(encodeEnvelopeFrame(envelope(`req-${i}`, 'Req', false, new Uint8Array(16))));
      await sleep(3000);
      const during = await victim.sample();
      o.socket.destroy();
      await sleep(2000);
      const after = await victim.sample(true);
      const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)}`;
      return {
        refusal: 'held (it is trusted); replies past 16 MiB dropped',
        note: `RSS ${mib(before.rss)} / ${mib(during.rss)} / ${mib(after.rss)} MiB (before / during / 2 s after close); queued ${mib(during.queueBytes)} MiB, then ${mib(after.queueBytes)}`,
      };
    },
  },
  {
    name: 'bad-payload flood (200 connections x 100 bad zstd payloads)',
    run: async ({ address, attacker }) => {
      const bad = encodeEnvelopeFrame(envelope('bad', 'X', true, randomBytes(60)));
      const flood = Buffer.concat(Array.from({ length: 100 }, () => bad));
      const opened: Opened[] = [];
      for (let batch = 0; batch < 10; batch++) {
        const conns = await Promise.all(Array.from({ length: 20 }, () => trusted(address, attacker)));
        for (const o of conns) o.socket.write(flood);
        opened.push(...conns);
      }
      return {
        refusal: await refusal(opened, 10_000),
        note: `${((flood.length * 200) / 1e6).toFixed(1)} MB sent`,
      };
    },
  },
];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'peerpost-attacks-'));
  const [victimCreds, goodCreds, attacker, untrusted] = await Promise.all(
    Array.from({ length: 4 }, () => generateCredentials()),
  );
  const configPath = join(dir, 'victim.json');
  const config: VictimConfig = {
    creds: victimCreds!,
    trust: [certificateHash(goodCreds!.certPem), certificateHash(attacker!.certPem)],
    maxInboundConnections: MAX_INBOUND,
  };
  writeFileSync(configPath, JSON.stringify(config));
  const victim = new Victim(configPath);
  const address = await victim.ready;
  const good: Network = await createNetwork({
    nodeId: 'good',
    credentials: goodCreds!,
    trust: { certHashes: [certificateHash(victimCreds!.certPem)] },
    topology: { victim: [{ address, certHash: certificateHash(victimCreds!.certPem) }] },
  });
  const written = new Map<string, number>();
  const other = new Map<string, number>();
  good.onOutcome((e) => {
    if (e.outcome.kind === 'written') written.set(e.messageId, performance.now());
    else {
      const k = formatOutcome(e.outcome);
      other.set(k, (other.get(k) ?? 0) + 1);
    }
  });
  await good.waitForPeer('victim');
  const goodTimer = setInterval(() => good.send('victim', 'Good', new Uint8Array(64)), 50);
  const ctx: Context = { address, victim, attacker: attacker!, untrusted: untrusted! };
  const rows: string[] = [];
  const windows: { name: string; from: number; to: number }[] = [];
  const run = async (name: string, attack: () => Promise<{ refusal: string; note?: string }>) => {
    const before = await victim.sample();
    const from = performance.now();
    const result = await attack();
    const to = performance.now();
    await sleep(500);
    const after = await victim.sample();
    windows.push({ name, from, to });
    rows.push(
      [
        name,
        result.refusal,
        `${(after.cpuMs - before.cpuMs).toFixed(0)} ms in ${((to - from) / 1000 + 0.5).toFixed(1)} s`,
        `${after.logLines - before.logLines} (${after.logBytes - before.logBytes} B)`,
        result.note ?? '',
      ].join(' | '),
    );
    process.stderr.write(`${name}: done\n`);
  };
  await run('baseline (good peer only, 3 s)', async () => {
    await sleep(3000);
    return { refusal: '-' };
  });
  const only = process.env['ATTACK_ONLY'];
  for (const attack of ATTACKS.filter((a) => only === undefined || a.name.includes(only))) {
    await run(attack.name, () => attack.run(ctx));
    await sleep(500);
  }
  clearInterval(goodTimer);
  await sleep(2000);
  const final = await victim.sample();
  const delivered = new Set(final.good);
  const lostIn = (w: { from: number; to: number }) =>
    [...written].filter(([id, at]) => at >= w.from - 1000 && at <= w.to + 1000 && !delivered.has(id)).length;
  const lostTotal = [...written.keys()].filter((id) => !delivered.has(id)).length;
  console.log(`Measured ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${address}`);
  console.log('');
  console.log('| attack | refused | victim CPU | log lines | good peer lost | notes |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  rows.forEach((row, i) => {
    const [name, refused, cpu, logs, note] = row.split(' | ');
    console.log(`| ${name} | ${refused} | ${cpu} | ${logs} | ${lostIn(windows[i]!)} | ${note} |`);
  });
  console.log('');
  console.log(
    `Good peer: ${written.size} written, ${delivered.size} delivered, ${lostTotal} written and lost; other outcomes ${JSON.stringify([...other])}`,
  );
  await good.close();
  victim.proc.send({ type: 'close' });
  await new Promise((r) => victim.proc.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}

if (process.argv[2] === '--victim') await victim(process.argv[3]!);
else await main();
