import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { test } from 'node:test';
import { startAdminServer } from '../../src/admin/server.js';
import { isPeerpostError } from '../../src/errors.js';
import { createPrometheusMetrics } from '../../src/metrics/prometheus.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(address: string, path: string, method = 'GET'): Promise<Reply> {
  const url = new URL(`http://${address}${path}`);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, path, method, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('serves metrics, health, readiness and status; 404 and 405 otherwise', async () => {
  const metrics = createPrometheusMetrics();
  metrics.inc('peerpost_errors_total', { kind: 'fail_conn_to_peer' }, 2);
  let healthy = true;
  let ready = false;
  const server = await startAdminServer({
    address: '127.0.0.1:0',
    metrics: () => metrics.metricsText(),
    health: () => healthy,
    ready: () => ready,
    status: () => ({
      nodeId: 'alice',
      peers: new Map([['bob', { state: 'connected', queued: 3 }]]),
      seen: new Set(['x']),
      bytes: 10n,
    }),
  });
  try {
    assert.match(server.address, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(server.address, '127.0.0.1:0');

    const m = await get(server.address, '/metrics');
    assert.equal(m.status, 200);
    assert.equal(m.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(m.body, /^peerpost_errors_total\{kind="fail_conn_to_peer"\} 2$/m);

    assert.deepEqual(
      [(await get(server.address, '/healthz')).status, (await get(server.address, '/readyz')).status],
      [200, 503],
    );
    healthy = false;
    ready = true;
    assert.deepEqual(
      [(await get(server.address, '/healthz')).status, (await get(server.address, '/readyz?verbose')).status],
      [503, 200],
    );

    const s = await get(server.address, '/status');
    assert.equal(s.status, 200);
    assert.equal(s.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(s.body), {
      nodeId: 'alice',
      peers: { bob: { state: 'connected', queued: 3 } },
      seen: ['x'],
      bytes: '10',
    });

    const head = await get(server.address, '/metrics', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await get(server.address, '/nope')).status, 404);
    assert.equal((await get(server.address, '/')).status, 404);
    const post = await get(server.address, '/metrics', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  } finally {
    await server.close();
  }
});

test('failing callbacks give 500 for metrics and 503 for probes, and are logged', async () => {
  const logged: string[] = [];
  const logger = {
    debug() {},
    info() {},
    warn() {},
    error(_o: object, msg?: string) {
      logged.push(msg ?? '');
    },
    child() {
      return logger;
    },
  };
  const boom = () => {
    throw new Error('boom');
  };
  const server = await startAdminServer({
    metrics: () => Promise.reject(new Error('scrape failed')),
    health: boom,
    ready: boom,
    status: boom,
    logger,
  });
  try {
    assert.equal((await get(server.address, '/metrics')).status, 500);
    assert.equal((await get(server.address, '/healthz')).status, 503);
    assert.equal((await get(server.address, '/readyz')).status, 503);
    assert.equal((await get(server.address, '/status')).status, 500);
    assert.equal(logged.filter((m) => m === 'admin endpoint failed').length, 4);
  } finally {
    await server.close();
  }
});

test('close() resolves with keep-alive sockets open, and is idempotent', async () => {
  const server = await startAdminServer({
    metrics: () => '',
    health: () => true,
    ready: () => true,
    status: () => null,
  });
  const [host, port] = [
    server.address.slice(0, server.address.lastIndexOf(':')),
    Number(server.address.split(':').pop()),
  ];
  // A raw keep-alive client that never closes its side.
  const socket = connect({ host, port });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n`);
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const closedByServer = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await Promise.all([server.close(), server.close()]);
  await closedByServer;
  await server[Symbol.asyncDispose]();
  await assert.rejects(get(server.address, '/healthz'), /ECONNREFUSED/);
});

async function ipv6Loopback(): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
}

test('listens on IPv6 loopback', async (t) => {
  if (!(await ipv6Loopback())) return t.skip('::1 is not available on this machine');
  const v6 = await startAdminServer({
    address: '[::1]:0',
    metrics: () => '',
    health: () => true,
    ready: () => true,
    status: () => ({}),
  });
  try {
    assert.match(v6.address, /^\[::1\]:\d+$/);
    assert.equal((await get(v6.address, '/healthz')).status, 200);
  } finally {
    await v6.close();
  }
});

test('a scraped exposition passes promtool check metrics', {
  skip:
    spawnSync('promtool', ['--version']).status !== 0 && !process.env.CI
      ? 'promtool not installed (Debian package prometheus); CI installs it'
      : false,
}, async () => {
  const metrics = createPrometheusMetrics();
  metrics.observe('peerpost_phase_duration_seconds', 0.02, {
    phase: 'IncomingTransfer',
    label: 'chat',
    mode: 'broadcast',
  });
  metrics.set('peerpost_queue_depth', 4, { queue: 'subscribers' });
  const server = await startAdminServer({
    metrics: () => metrics.metricsText(),
    health: () => true,
    ready: () => true,
    status: () => ({}),
  });
  try {
    const scraped = await get(server.address, '/metrics');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: scraped.body, encoding: 'utf8' });
    assert.equal(`${check.stdout}${check.stderr}`, '');
    assert.equal(check.status, 0);
    assert.match(scraped.body, /^peerpost_queue_depth\{queue="subscribers"\} 4$/m);
  } finally {
    await server.close();
  }
});

test('a taken port and a bad address are coded errors', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  const taken = (blocker.address() as { port: number }).port;
  try {
    await assert.rejects(
      startAdminServer({
        address: `127.0.0.1:${taken}`,
        metrics: () => '',
        health: () => true,
        ready: () => true,
        status: () => ({}),
      }),
      (err) => isPeerpostError(err, 'ERR_LISTEN_FAILED') && err.message.includes('EADDRINUSE'),
    );
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
  await assert.rejects(
    startAdminServer({
      address: 'localhost',
      metrics: () => '',
      health: () => true,
      ready: () => true,
      status: () => ({}),
    }),
    (err) => isPeerpostError(err, 'ERR_INVALID_ADDRESS'),
  );
});
