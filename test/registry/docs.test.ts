import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { checkNodeConfig } from '../../src/cli/commands/config.js';
import { main } from '../../src/cli/main.js';
import { tempDir } from '../node/cli-harness.js';

/**
 * The recipe of docs/registry.md ("Recipe: three nodes and a local etcd"): its keygen step
 * run as written (through the CLI's `main`), and the configs its heredoc writes pass
 * `peerpost config check`, pointing at the etcd the recipe starts.
 */

const doc = readFileSync(new URL('../../docs/registry.md', import.meta.url), 'utf8');
const recipe = doc.slice(doc.indexOf('## Recipe: three nodes and a local etcd'));
const setup = [...recipe.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!)[0]!;
const tmp = tempDir('registry-docs');
after(() => tmp.remove());

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await main(args, {
    stdin: Readable.from([]),
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: {},
  });
  return { code, out, err };
}

test('the recipe: keygen with an owner key, then three configs that pass `peerpost config check`', async () => {
  // Step 1: the etcd it starts, and the endpoint the configs use.
  const etcdLine = /^etcd ((?:[^\n]*\\\n)*[^\n]*)/m.exec(setup)?.[1]?.replace(/\\\n\s*/g, ' ');
  assert.ok(etcdLine, 'the recipe starts etcd');
  const clientUrl = /--listen-client-urls (\S+)/.exec(etcdLine)?.[1];
  assert.match(clientUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(clientUrl, /--advertise-client-urls (\S+)/.exec(etcdLine)?.[1]);

  // Step 2: `openssl rand -hex 32 > owner.hex`, then keygen for n1..n3 as written.
  assert.match(setup, /^openssl rand -hex 32 > owner\.hex$/m);
  writeFileSync(join(tmp.dir, 'owner.hex'), `${randomBytes(32).toString('hex')}\n`);
  const keygen = /^for n in n1 n2 n3; do peerpost (keygen [^;]*?) 2> \$n\.owner; done$/m.exec(setup)?.[1];
  assert.ok(keygen, 'the keygen loop');
  const sed = /^OWNER=\$\(sed -n 's\/(.*)\/\\1\/p' n1\.owner\)$/m.exec(setup)?.[1];
  assert.ok(sed, 'the owner key read back from keygen');
  let owner: string | undefined;
  for (const n of ['n1', 'n2', 'n3']) {
    const args = keygen
      .split(/\s+/)
      .map((a) => a.replace('$n', n))
      .map((a, i, all) => (all[i - 1] === '--out' || a === 'owner.hex' ? join(tmp.dir, a) : a));
    const run = await cli(args);
    assert.equal(run.code, 0, run.err);
    const found = new RegExp(sed.replace(/\\\(/g, '(').replace(/\\\)/g, ')')).exec(run.err)?.[1];
    assert.match(found ?? '', /^[0-9a-f]{64}$/, `${n}: the owner key is printed: ${run.err}`);
    owner ??= found;
  }

  // Step 3: the heredoc, for i = 1..3.
  const heredoc = /cat > n\$i\.yaml <<YAML\n([\s\S]*?)\nYAML\n/.exec(setup)?.[1];
  assert.ok(heredoc, 'the config heredoc');
  for (const i of [1, 2, 3]) {
    const path = join(tmp.dir, `n${i}.yaml`);
    writeFileSync(path, heredoc.replaceAll('$i', String(i)).replaceAll('$OWNER', owner!));
    // Ports are not bound: 700x/910x may be taken on the machine running the tests.
    const report = await checkNodeConfig(path, { ports: false });
    assert.equal(report.config.nodeId, `n${i}`);
    assert.deepEqual(report.config.trust.ownerKeys, [owner]);
    assert.deepEqual(
      report.identity.ownerKeys,
      [owner],
      'the certificate is signed by the trusted owner key',
    );
    assert.deepEqual(report.config.registry?.etcd.endpoints, [clientUrl]);
    assert.equal(report.config.registry?.etcd.prefix, '/peerpost/demo/');
    assert.equal(report.config.registry?.etcd.leaseTtlSeconds, 10);
    assert.equal(report.config.topology.size, 0, 'no static topology');
  }

  // Step 4: the admin addresses `peerpost status` is pointed at are the configs' own.
  for (const admin of recipe.matchAll(/peerpost status --admin (\S+)/g)) {
    assert.match(admin[1]!, /^127\.0\.0\.1:910[123]$/);
  }
});
