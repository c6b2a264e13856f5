import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/util/fake-clock.js';
import type { Logger } from '../../src/util/logger.js';
import { WARN_BURST, WARN_INTERVAL_MS, WarnLimiter } from '../../src/util/warn-limiter.js';

function recording(): { logger: Logger; lines: { obj: Record<string, unknown>; msg: string | undefined }[] } {
  const lines: { obj: Record<string, unknown>; msg: string | undefined }[] = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (obj, msg) => void lines.push({ obj: obj as Record<string, unknown>, msg }),
    error: () => {},
    child: () => logger,
  };
  return { logger, lines };
}

test('a flood of one warning costs WARN_BURST lines per interval, then one line with the count', () => {
  const clock = new FakeClock();
  const { logger, lines } = recording();
  const limiter = new WarnLimiter(logger, clock);
  for (let i = 0; i < 1000; i++) limiter.warn('bad', { i }, 'bad frame');
  limiter.warn('other', {}, 'another kind has its own budget');
  assert.equal(lines.length, WARN_BURST + 1);
  assert.deepEqual(
    lines.slice(0, WARN_BURST).map((l) => l.obj.i),
    [0, 1, 2, 3, 4].slice(0, WARN_BURST),
  );
  clock.advance(WARN_INTERVAL_MS);
  limiter.warn('bad', { i: 1000 }, 'bad frame');
  assert.deepEqual(lines.at(-1), { obj: { i: 1000, suppressed: 1000 - WARN_BURST }, msg: 'bad frame' });
  limiter.warn('bad', { i: 1001 }, 'bad frame');
  assert.equal(lines.at(-1)!.obj.suppressed, undefined, 'the count is reported once');
});
