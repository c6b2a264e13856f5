import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderReadme } from '../scripts/readme.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('the README reference sections are the same as docs/ (run `npx tsx scripts/readme.ts`)', () => {
  assert.equal(readme, renderReadme(readme));
  assert.ok(
    (readme.match(/<!-- from docs\//g) ?? []).length >= 4,
    'tutorial, configuration, errors and metrics are included',
  );
});

test('the README names the two newcomer commands, and CI runs the same test command', () => {
  const ci = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    scripts: Record<string, string>;
  };
  assert.match(readme, /^npm ci && npm run demo/m);
  assert.match(readme, /^npm ci && npm test/m);
  const lines = ci.trim().split('\n');
  assert.ok(lines.includes('npm ci && npm test'), 'CI runs the README test command');
  // Then the tests again on the other Node.js lines (engines: >= 20).
  for (const version of [22, 24]) assert.match(readme, new RegExp(`Node\\.js[^.]*\\b${version}\\b`));
  assert.match(
    ci,
    /for version in 22 24; do\n.*\n\s+npx -y "node@\$\{version\}" --import tsx scripts\/run-tests\.mjs/,
  );
  assert.equal(pkg.scripts['demo'], 'node bin/peerpost.js demo');
  assert.ok(pkg.scripts['test']);
});
