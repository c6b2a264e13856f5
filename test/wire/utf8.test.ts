import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readUtf8, StringInterner, utf8Length, writeUtf8 } from '../../src/wire/utf8.js';

test('utf8Length and writeUtf8 agree with Buffer for ASCII, non-ASCII and long strings', () => {
  for (const s of [
    '',
    'Bench',
    'MsgType::Block',
    'é',
    'ключ',
    '𝄞x',
    'a'.repeat(47),
    'a'.repeat(49),
    `${'b'.repeat(60)}é`,
  ]) {
    assert.equal(utf8Length(s), Buffer.byteLength(s), s);
    const buf = Buffer.alloc(utf8Length(s) + 4);
    assert.equal(writeUtf8(buf, 2, s), Buffer.byteLength(s));
    assert.equal(buf.subarray(2, 2 + Buffer.byteLength(s)).toString('utf8'), s);
    assert.equal(readUtf8(buf, 2, 2 + Buffer.byteLength(s)), s);
  }
});

test('the interner returns the string of exactly these bytes: hits, near misses, collisions', () => {
  const interner = new StringInterner(4); // 4 slots: distinct strings collide
  const read = (s: string) => {
    const buf = Buffer.concat([Buffer.from('xx'), Buffer.from(s), Buffer.from('yy')]);
    return interner.read(buf, 2, 2 + Buffer.byteLength(s));
  };
  const words = ['Block', 'Blocl', 'Vote', 'Block', 'Blocl', 'Ping', 'Pong', 'é-peer', 'Block', ''];
  for (const w of words) assert.equal(read(w), w);
  // The same string twice in a row comes back as the same string.
  assert.equal(read('Vote'), 'Vote');
  // Bytes that are not UTF-8 are refused, and do not poison the cache.
  assert.equal(interner.read(Buffer.from([0xff, 0xfe]), 0, 2), undefined);
  assert.equal(read('Vote'), 'Vote');
});
