import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteList } from '../../src/core/byte-list.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { codeOf } from '../conformance/framer-suite.js';

const chunksArb = fc.array(fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)), { maxLength: 10 });
const smallBytes = fc.array(fc.constantFrom(0, 1, 2, 0x0a, 0x0d), { maxLength: 40 });

function listOf(chunks: Buffer[]): ByteList {
  const l = new ByteList();
  for (const c of chunks) l.append(c);
  return l;
}

describe('ByteList', () => {
  test('append, length, byteAt, consume within and across chunks', () => {
    const l = listOf([Buffer.from('abc'), Buffer.alloc(0), Buffer.from('de'), Buffer.from('fgh')]);
    assert.equal(l.length, 8);
    assert.equal(l.chunkCount, 3);
    assert.equal(String.fromCharCode(l.byteAt(0), l.byteAt(3), l.byteAt(7)), 'adh');
    assert.throws(() => l.byteAt(8), RangeError);
    const first = l.consume(2);
    assert.equal(first.toString(), 'ab');
    assert.equal(l.consume(3).toString(), 'cde');
    assert.equal(l.length, 3);
    assert.equal(l.consumeAll().toString(), 'fgh');
    assert.equal(l.length, 0);
    assert.throws(() => l.consume(1), RangeError);
  });

  test('consume within one chunk is zero-copy', () => {
    const chunk = Buffer.from('hello world');
    const l = listOf([chunk]);
    l.skip(6);
    const out = l.consume(5);
    assert.equal(out.buffer, chunk.buffer);
    assert.equal(out.byteOffset, chunk.byteOffset + 6);
  });

  test('indexOf single byte and multi-byte needles across boundaries', () => {
    const l = listOf([Buffer.from('ab\r'), Buffer.from('\ncd\r'), Buffer.from('\r'), Buffer.from('\n')]);
    assert.equal(l.indexOf(0x0a), 3);
    assert.equal(l.indexOf(0x0a, 4), 8);
    assert.equal(l.indexOf(Buffer.from('\r\n')), 2);
    assert.equal(l.indexOf(Buffer.from('\r\n'), 3), 7);
    assert.equal(l.indexOf(Buffer.from('\r\r\n')), 6);
    assert.equal(l.indexOf(Buffer.from('b\r\ncd')), 1);
    assert.equal(l.indexOf(Buffer.from('zz')), -1);
    l.skip(4);
    assert.equal(l.indexOf(Buffer.from('\r\n')), 3);
  });

  test('readUIntBE/LE for 1..8 bytes, within and across chunks', () => {
    const bytes = Buffer.from([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xff]);
    for (const chunks of [[bytes], [...bytes].map((b) => Buffer.from([b]))]) {
      const l = listOf(chunks);
      for (const len of [1, 2, 3, 4, 5, 6] as const) {
        assert.equal(l.readUIntBE(1, len), bytes.readUIntBE(1, len));
        assert.equal(l.readUIntLE(1, len), bytes.readUIntLE(1, len));
      }
      assert.equal(l.readUIntBE(1, 8), bytes.readBigUInt64BE(1));
      assert.equal(l.readUIntLE(1, 8), bytes.readBigUInt64LE(1));
      assert.equal(l.readUIntBE(0, 7), 0x01020304050607n);
      assert.equal(l.readUIntLE(0, 7), 0x07060504030201n);
      assert.throws(() => l.readUIntBE(3, 7), RangeError);
    }
  });

  test('limit: append throws SWY_BUFFER_OVERFLOW and keeps the list unchanged', () => {
    const l = new ByteList({ limit: 5 });
    l.append(Buffer.from('abc'));
    assert.equal(codeOf(() => l.append(Buffer.from('def'))), ErrorCodes.BUFFER_OVERFLOW);
    assert.equal(l.length, 3);
    l.append(Buffer.from('de'));
    assert.equal(l.consumeAll().toString(), 'abcde');
  });

  test('consumeChunk returns chunks as appended', () => {
    const l = listOf([Buffer.from('ab'), Buffer.from('cd')]);
    l.skip(1);
    assert.equal(l.consumeChunk().toString(), 'b');
    assert.equal(l.consumeChunk().toString(), 'cd');
    assert.equal(l.consumeChunk().length, 0);
  });

  test('peek copies without consuming', () => {
    const l = listOf([Buffer.from('ab'), Buffer.from('cd')]);
    assert.equal(l.peek(1, 3).toString(), 'bc');
    assert.equal(l.peek(2).toString(), 'cd');
    assert.equal(l.length, 4);
  });

  test('thousands of 1-byte chunks: compaction and cursor keep it correct', () => {
    const l = new ByteList();
    const all: number[] = [];
    for (let i = 0; i < 5000; i++) {
      l.append(Buffer.from([i & 0xff]));
      all.push(i & 0xff);
      if (i % 7 === 6) {
        const n = 3;
        assert.deepEqual([...l.consume(n)], all.splice(0, n));
      }
      assert.equal(l.byteAt(l.length - 1), i & 0xff);
    }
    assert.deepEqual([...l.consumeAll()], all);
  });

  test('model check against a flat Buffer (property)', () => {
    fc.assert(
      fc.property(chunksArb, fc.array(fc.tuple(fc.constantFrom('consume', 'skip', 'indexOf', 'byteAt', 'read'), fc.nat(50))), (chunks, ops) => {
        const l = listOf(chunks);
        let flat = Buffer.concat(chunks);
        for (const [op, n] of ops) {
          assert.equal(l.length, flat.length);
          if (flat.length === 0) break;
          const k = n % (flat.length + 1);
          if (op === 'consume') {
            assert.equal(l.consume(k).toString('hex'), flat.subarray(0, k).toString('hex'));
            flat = flat.subarray(k);
          } else if (op === 'skip') {
            l.skip(k);
            flat = flat.subarray(k);
          } else if (op === 'indexOf') {
            assert.equal(l.indexOf(n & 0xff, k), flat.indexOf(n & 0xff, k));
          } else if (op === 'byteAt') {
            if (k < flat.length) assert.equal(l.byteAt(k), flat[k]);
          } else if (k + 3 <= flat.length) {
            assert.equal(l.readUIntBE(k, 3), flat.readUIntBE(k, 3));
          }
        }
        assert.equal(l.consumeAll().toString('hex'), flat.toString('hex'));
      }),
      { numRuns: 300 },
    );
  });

  test('multi-byte indexOf matches Buffer.indexOf for every chunking (property)', () => {
    fc.assert(
      fc.property(smallBytes, fc.array(fc.nat(40), { maxLength: 6 }), fc.array(fc.constantFrom(0, 1, 0x0a, 0x0d), { minLength: 1, maxLength: 3 }), fc.nat(40), (data, cuts, needle, from) => {
        const flat = Buffer.from(data);
        const points = [...new Set(cuts.map((c) => c % (flat.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const p of points) {
          chunks.push(flat.subarray(prev, p));
          prev = p;
        }
        chunks.push(flat.subarray(prev));
        const l = listOf(chunks);
        const nb = Buffer.from(needle);
        const start = from % (flat.length + 1);
        assert.equal(l.indexOf(nb, start), flat.indexOf(nb, start));
      }),
      { numRuns: 400 },
    );
  });
});
