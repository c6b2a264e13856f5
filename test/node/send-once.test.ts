import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LoadedNodeConfig } from '../../src/config/load.js';
import { acksSchema, DEFAULT_LIMITS } from '../../src/config/schema.js';
import { isPeerpostError } from '../../src/errors.js';
import { generateCredentials } from '../../src/identity/credentials.js';
import { resolveTarget, type SendOnceResult, sendOnce } from '../../src/node/send-once.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import { FakeClock, settle } from '../../src/util/fake-clock.js';
import type { Logger } from '../../src/util/logger.js';

/** A config whose topology lists `dave` with no address. */
async function config(limits: Partial<LoadedNodeConfig['limits']> = {}): Promise<LoadedNodeConfig> {
  const creds = await generateCredentials();
  return {
    nodeId: 'n',
    listen: '127.0.0.1:0',
    credentials: { keyFile: '/k', certFile: '/c' },
    trust: { certHashes: [], ownerKeys: [] },
    limits: { ...(DEFAULT_LIMITS as unknown as LoadedNodeConfig['limits']), ...limits },
    directSendMode: 'direct',
    acks: acksSchema.parse({}),
    admin: undefined,
    logLevel: 'info',
    topology: new Map([['dave', []]]),
    topologyFile: undefined,
    path: '/n.yaml',
    pem: { key: creds.keyPem, cert: creds.certPem },
  };
}

/** A logger that tells when the network has started (sendOnce sends right after). */
function startLogger(): { logger: Logger; started: Promise<void> } {
  let resolve!: () => void;
  const started = new Promise<void>((r) => {
    resolve = r;
  });
  const logger: Logger = {
    debug() {},
    info(_obj, msg) {
      if (msg === 'network started') resolve();
    },
    warn() {},
    error() {},
    child: () => logger,
  };
  return { logger, started };
}

/** Runs sendOnce to `dave` on a FakeClock; returns when it finished and at what virtual time. */
async function sendToDave(
  cfg: LoadedNodeConfig,
  options: { resolveWaitMs?: number; stepMs: number; steps: number },
): Promise<{ result: SendOnceResult; afterMs: number }> {
  const clock = new FakeClock();
  const { logger, started } = startLogger();
  let result: SendOnceResult | undefined;
  let finishedAt: number | undefined;
  const running = sendOnce({
    config: cfg,
    to: 'dave',
    label: 'ping',
    data: new Uint8Array([1]),
    clock,
    logger,
    ...(options.resolveWaitMs === undefined ? {} : { resolveWaitMs: options.resolveWaitMs }),
  }).then((r) => {
    result = r;
    finishedAt ??= clock.now();
  });
  await started;
  await settle();
  const sentAt = clock.now();
  for (let i = 0; i < options.steps && result === undefined; i++) await clock.tick(options.stepMs);
  await running;
  return { result: result!, afterMs: finishedAt! - sentAt };
}

test('sendOnce to a peer with no address waits resolveWaitMs, then reports dropped:unresolved_expired', async () => {
  const { result, afterMs } = await sendToDave(await config(), {
    resolveWaitMs: 2000,
    stepMs: 100,
    steps: 200,
  });
  assert.equal(result.peerId, 'dave');
  assert.equal(result.unresolved, true);
  assert.deepEqual(
    result.outcomes.map((o) => [o.messageId, formatOutcome(o.outcome)]),
    [[result.messageId, 'dropped:unresolved_expired']],
  );
  assert.equal(result.missing, 0);
  assert.equal(result.ok, false);
  assert.ok(afterMs >= 2000 && afterMs <= 2100, `waited ${afterMs} ms`);
});

test('a shorter limits.unresolvedTtlMs ends the wait sooner; the default wait is a few seconds', async () => {
  const short = await sendToDave(await config({ unresolvedTtlMs: 300 }), {
    resolveWaitMs: 2000,
    stepMs: 50,
    steps: 400,
  });
  assert.equal(formatOutcome(short.result.outcomes[0]!.outcome), 'dropped:unresolved_expired');
  assert.ok(short.afterMs >= 300 && short.afterMs <= 350, `waited ${short.afterMs} ms`);

  const byDefault = await sendToDave(await config(), { stepMs: 250, steps: 400 });
  assert.equal(formatOutcome(byDefault.result.outcomes[0]!.outcome), 'dropped:unresolved_expired');
  assert.ok(byDefault.afterMs >= 5000 && byDefault.afterMs <= 5250, `waited ${byDefault.afterMs} ms`);
});

test('resolveTarget: a --to that looks like an address but is not a valid one says what is wrong', () => {
  const topology = new Map([['dave', []]]);
  assert.equal(resolveTarget(topology, 'dave').peerId, 'dave');
  assert.equal(resolveTarget(topology, '127.0.0.1:7000').peerId, 'addr:127.0.0.1:7000');
  const cases: [string, RegExp][] = [
    ['127.0.0.1:99999', /port 99999 is out of range \(1-65535\)$/],
    ['127.0.0.1:0', /port 0 is out of range \(1-65535\)$/],
    ['127.0.0.1:http', /port "http" is not a number$/],
    ['::1:7000', /IPv6 hosts must be in brackets/],
  ];
  for (const [to, reason] of cases) {
    assert.throws(
      () => resolveTarget(topology, to),
      (err: unknown) =>
        isPeerpostError(err, 'ERR_INVALID_ADDRESS') &&
        err.message.startsWith(
          `--to ${JSON.stringify(to)} is not a peer of the topology, and not a valid host:port address: `,
        ) &&
        reason.test(err.message),
      to,
    );
  }
  assert.throws(
    () => resolveTarget(topology, 'nobody'),
    (err: unknown) =>
      isPeerpostError(err, 'ERR_INVALID_OPTION') &&
      err.message === '--to "nobody" is neither a peer of the topology nor a host:port address',
  );
});
