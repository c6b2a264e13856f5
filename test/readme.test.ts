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
  const lastCommand = ci.trim().split('\n').at(-1);
  assert.equal(lastCommand, 'npm ci && npm test');
  assert.equal(pkg.scripts['demo'], 'node bin/peerpost.js demo');
  assert.ok(pkg.scripts['test']);
});
