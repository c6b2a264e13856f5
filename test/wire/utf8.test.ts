import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdReader, noteAscii, readUtf8, StringInterner, utf8Length, writeUtf8 } from '../../src/wire/utf8.js';

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

test('the id reader returns exactly the id, whether its prefix was seen before or not', () => {
  const ids = new IdReader();
  const read = (bytes: Buffer) => {
    const buf = Buffer.concat([Buffer.from('..'), bytes, Buffer.from('..')]);
    return ids.read(buf, 2, 2 + bytes.length);
  };
  const cases = [
    'client-1a2b3c4d-0',
    'client-1a2b3c4d-1',
    'client-1a2b3c4d-zz', // the same prefix: only the end is decoded
    ...Array.from({ length: 17 }, (_, k) => `client-1a2b3c4d-${'a1b2c3d4e5f6g7h8i'.slice(0, k + 1)}`), // ends of 1 to 17
    'server-00000000-5', // another sender: decoded in full, becomes the prefix
    'client-1a2b3c4d-2', // and back
    'client-1a2b3c4e-2', // a prefix that differs in its last byte before the dash
    'client-1a2b3c4d-', // nothing after the prefix
    'no-dash-at-the-end-but-long-enough-x',
    'x',
    '',
    'client-1a2b3c4d-é', // a non-ASCII end
    'ключ-1', // a non-ASCII prefix is never remembered
    'ключ-2',
  ];
  for (const id of cases) assert.equal(read(Buffer.from(id)), id, id);
  // Bytes that are not UTF-8 after a known prefix are refused, as in a full decode.
  read(Buffer.from('client-1a2b3c4d-0'));
  assert.equal(read(Buffer.concat([Buffer.from('client-1a2b3c4d-'), Buffer.from([0xff])])), undefined);
  assert.equal(read(Buffer.concat([Buffer.from('client-1a2b3c4d-'), Buffer.from([0xc3])])), undefined);
});

test('the id reader keeps the prefixes of many senders whose ids interleave, and stays exact', () => {
  const ids = new IdReader(8); // 8 slots: 40 senders collide and replace each other
  const read = (id: string) => {
    const bytes = Buffer.from(id);
    const buf = Buffer.concat([Buffer.from('..'), bytes, Buffer.from('..')]);
    return ids.read(buf, 2, 2 + bytes.length);
  };
  for (let seq = 0; seq < 50; seq++) {
    for (let s = 0; s < 40; s++) {
      const id = `node${s}-${(s * 7919).toString(16)}-${seq.toString(36)}`;
      assert.equal(read(id), id);
    }
    assert.equal(read(`a-b-c-${seq}`), `a-b-c-${seq}`); // a dash inside the end
  }
});

test('the id reader keeps the prefix of a steady sender while one-off prefixes (replies) come between its ids', () => {
  // One slot: every prefix competes for it. A reply's id holds its whole request id in its
  // prefix (`<request id>~r~<fresh id>`), so no two replies share one.
  const ids = new IdReader(1);
  const read = (id: string) => {
    const bytes = Buffer.from(id);
    assert.equal(ids.read(bytes, 0, bytes.length), id);
  };
  for (let seq = 0; seq < 100; seq++) {
    read(`sender-1a2b3c4d-${seq.toString(36)}`);
    read(`client-9f8e7d6c-${seq.toString(36)}~r~sender-1a2b3c4d-${(seq + 1000).toString(36)}`);
  }
  // The sender's prefix is remembered on its second miss and hit from then on (it was
  // pushed out by every reply's prefix before: 0 hits).
  assert.ok(ids.hits >= 97, `${ids.hits} ids of 200 read with a remembered prefix`);
});

test('cached bytes are copies: the received chunk they were read from can be reused', () => {
  const chunk = Buffer.from('..client-1a2b-7..Block..');
  const ids = new IdReader();
  const labels = new StringInterner();
  assert.equal(ids.read(chunk, 2, 15), 'client-1a2b-7');
  assert.equal(labels.read(chunk, 17, 22), 'Block');
  chunk.fill(0x78); // the transport reuses the chunk: a view would now read "xxx..."
  const xs = Buffer.from('xxxxxxxxxxxxx');
  assert.equal(ids.read(xs, 0, 13), 'xxxxxxxxxxxxx');
  assert.equal(labels.read(xs, 0, 5), 'xxxxx');
  const next = Buffer.from('client-1a2b-8 Block');
  assert.equal(ids.read(next, 0, 13), 'client-1a2b-8');
  assert.equal(labels.read(next, 14, 19), 'Block');
});

test('a string noted as ASCII is sized and written exactly; other strings are unaffected', () => {
  const head = Buffer.from('node-1-');
  noteAscii('node-1-2a', head, '2a');
  for (const s of ['node-1-2a', ['node-1-', '2a'].join(''), 'node-1-2b', 'é-1-2a', 'ключ', 'node-1-2ab']) {
    assert.equal(utf8Length(s), Buffer.byteLength(s), s);
    const buf = Buffer.alloc(Buffer.byteLength(s) + 4, 0xee);
    assert.equal(writeUtf8(buf, 2, s), Buffer.byteLength(s), s);
    assert.deepEqual(buf.subarray(2, 2 + Buffer.byteLength(s)), Buffer.from(s), s);
    assert.deepEqual([buf[0], buf[1], buf.at(-2), buf.at(-1)], [0xee, 0xee, 0xee, 0xee], s);
  }
});
