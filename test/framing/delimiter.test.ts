import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { delimiterBytes } from '../../src/framing/delimiter.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { bytes, codeOf, decodeChunks, drain, framerConformance, hex, hexAll } from '../conformance/framer-suite.js';
import { SIZE_FORMS } from '../../src/core/units.js';

const registry = createFramerRegistry();
const make = (options: Record<string, unknown>) => () => registry.build('delimiter', options).create();
const alphabet = (...b: number[]) => fc.array(fc.constantFrom(...b), { maxLength: 20 }).map((a) => Buffer.from(a));

framerConformance({
  name: 'delimiter (NUL, hex)',
  create: make({ delimiters: [{ hex: '00' }] }),
  frame: alphabet(0x61, 0x01, 0xff),
  vectors: [{ name: 'NUL-terminated, empty frame', input: bytes([0x61, 0, 0, 0x62, 0x63, 0]), frames: [bytes('a'), bytes(''), bytes('bc')] }],
  truncated: [{ name: 'no terminator', input: bytes('abc') }],
});

framerConformance({
  name: 'delimiter (multi-byte "\\r\\n\\r\\n" and "||", maxLength 6)',
  create: make({ delimiters: ['\r\n\r\n', '||'], maxLength: 6 }),
  frame: alphabet(0x61, 0x0d, 0x0a, 0x7c)
    .map((b) => b.subarray(0, 6))
    .filter((b) => {
      const s = b.toString('latin1');
      // frame + "\r\n\r\n" must not hold a delimiter that starts inside the frame
      const w = s + '\r\n\r\n';
      return w.indexOf('\r\n\r\n') === s.length && !w.includes('||');
    }),
  vectors: [
    { name: 'both delimiters, split everywhere', input: bytes('ab||\r\n\r\ncd\r\n\r\n||'), frames: [bytes('ab'), bytes(''), bytes('cd'), bytes('')] },
    { name: 'a partial delimiter is data', input: bytes('a\r\nb|c||'), frames: [bytes('a\r\nb|c')] },
  ],
  oversize: [
    { name: 'terminated, 7 bytes', input: bytes('1234567||') },
    { name: 'unterminated, 7 bytes', input: bytes('1234567') },
    { name: '6 bytes + partial delimiter, then data', input: bytes('123456\r\n\rx') },
  ],
  truncated: [{ name: '6 bytes + partial delimiter', input: bytes('123456\r\n\r') }],
});

framerConformance({
  name: 'delimiter (keep delimiter)',
  create: make({ delimiters: [';', { hex: '0a' }], stripDelimiter: false }),
  frame: fc.tuple(alphabet(0x61, 0x62), fc.constantFrom(';', '\n')).map(([b, d]) => Buffer.concat([b, bytes(d)])),
  vectors: [{ name: 'frames keep their delimiter', input: bytes('a;b\n;'), frames: [bytes('a;'), bytes('b\n'), bytes(';')] }],
});

describe('delimiter framer specifics', () => {
  test('picks the delimiter giving the SHORTEST frame (Netty), not the first listed', () => {
    const f = make({ delimiters: ['\n', '\r\n'] })();
    assert.deepEqual(hexAll(decodeChunks(f, [bytes('a\r\nb\n')])), hexAll([bytes('a'), bytes('b')]));
    const g = make({ delimiters: ['END', ';'] })();
    assert.deepEqual(hexAll(decodeChunks(g, [bytes('x;yEND;')])), hexAll([bytes('x'), bytes('y'), bytes('')]));
  });

  test('on a tie (same start) the first listed delimiter wins', () => {
    const f = make({ delimiters: ['\r', '\r\n'] })();
    assert.deepEqual(hexAll(decodeChunks(f, [bytes('a\r\nb\r')])), hexAll([bytes('a'), bytes('\nb')]));
    const g = make({ delimiters: ['\r\n', '\r'] })();
    assert.deepEqual(hexAll(decodeChunks(g, [bytes('a\r\nb\r')])), hexAll([bytes('a'), bytes('b')]));
  });

  test('a delimiter spanning chunk boundaries', () => {
    const f = make({ delimiters: ['<EOF>'] })();
    f.push(bytes('abc<E'));
    assert.equal(f.next(), null);
    f.push(bytes('O'));
    assert.equal(f.next(), null);
    f.push(bytes('F>rest'));
    assert.deepEqual(hexAll(drain(f)), hexAll([bytes('abc')]));
    assert.equal(f.takeBuffered().toString(), 'rest');
  });

  test('a rare delimiter does not make many frames per chunk quadratic', () => {
    const f = make({ delimiters: ['\n', { hex: '00' }] })();
    const chunk = Buffer.alloc(100 * 640, 0x61);
    for (let i = 99; i < chunk.length; i += 100) chunk[i] = 0x0a;
    const t0 = performance.now();
    let n = 0;
    for (let k = 0; k < 60; k++) {
      f.push(chunk);
      for (let fr = f.next(); fr !== null; fr = f.next()) n++;
    }
    assert.equal(n, 640 * 60);
    assert.ok(performance.now() - t0 < 1000);
  });

  test('encode appends the first delimiter; rejects frames holding a delimiter', () => {
    const f = make({ delimiters: ['\r\n', '\n'] })();
    assert.equal(f.encode(bytes('hi')).toString(), 'hi\r\n');
    assert.equal(codeOf(() => f.encode(bytes('a\nb'))), ErrorCodes.FRAME_MALFORMED);
    assert.equal(f.encode(bytes('a\r')).toString(), 'a\r\r\n', "'a\\r' then '\\r\\n' decodes back to 'a\\r'");
    const g = make({ delimiters: ['\n', '\r\n'] })();
    assert.equal(codeOf(() => g.encode(bytes('a\r'))), ErrorCodes.FRAME_MALFORMED, "'a\\r' + '\\n' would decode as 'a'");
  });

  test('strip encode rejects exactly the frames where a delimiter starts inside frame + first delimiter (property)', () => {
    const lists = [['\r\n', '\n'], ['\n', '\r\n'], ['ab', 'ba', 'aab'], ['\r\n\r\n', '||'], ['aa']];
    fc.assert(
      fc.property(fc.constantFrom(...lists), alphabet(0x61, 0x62, 0x0d, 0x0a, 0x7c), (list, frame) => {
        const f = make({ delimiters: list })();
        const delims = list.map((d) => bytes(d));
        const wire = Buffer.concat([frame, delims[0]!]);
        const reject = delims.some((d) => {
          const at = wire.indexOf(d);
          return at >= 0 && at < frame.length;
        });
        assert.equal(codeOf(() => f.encode(frame)), reject ? ErrorCodes.FRAME_MALFORMED : undefined);
        if (!reject) assert.equal(hex(f.encode(frame)), hex(wire));
      }),
      { numRuns: 500 },
    );
  });

  test('encodeTo is zero-copy: the frame itself, then the first delimiter', () => {
    const f = make({ delimiters: ['\r\n', '\n'] })();
    const frame = bytes('hi');
    const out: Buffer[] = [];
    f.encodeTo!(frame, out);
    assert.equal(out.length, 2);
    assert.equal(out[0], frame);
    assert.equal(Buffer.concat(out).toString(), 'hi\r\n');
    assert.equal(codeOf(() => make({ delimiters: ['\n', '\r\n'] })().encodeTo!(bytes('a\r'), out)), ErrorCodes.FRAME_MALFORMED);
    assert.equal(out.length, 2, 'nothing appended on error');
    const rec = bytes('abc;');
    const kept: Buffer[] = [];
    make({ delimiters: [';'], stripDelimiter: false })().encodeTo!(rec, kept);
    assert.deepEqual(kept, [rec]);
    assert.equal(kept[0], rec);
  });

  test('keep-delimiter encode is the identity for exactly one record', () => {
    const f = make({ delimiters: [';'], stripDelimiter: false, maxLength: 3 })();
    const rec = bytes('abc;');
    assert.equal(f.encode(rec), rec);
    assert.equal(codeOf(() => f.encode(bytes('abc'))), ErrorCodes.FRAME_MALFORMED);
    assert.equal(codeOf(() => f.encode(bytes('a;b;'))), ErrorCodes.FRAME_MALFORMED);
    assert.equal(codeOf(() => f.encode(bytes('abcd;'))), ErrorCodes.FRAME_TOO_LARGE);
  });

  test('options schema: strings, hex objects, validation', () => {
    assert.equal(delimiterBytes({ hex: '0d 0A' }).toString('hex'), '0d0a');
    assert.equal(delimiterBytes('é').toString('hex'), 'c3a9');
    assert.throws(() => registry.build('delimiter', {}), /delimiters/);
    assert.throws(() => registry.build('delimiter', { delimiters: [] }), /delimiters/);
    assert.throws(() => registry.build('delimiter', { delimiters: [''] }), /delimiters\.0/);
    assert.throws(() => registry.build('delimiter', { delimiters: [{ hex: '0' }] }), /hex/);
    assert.throws(() => registry.build('delimiter', { delimiters: [{ hex: 'zz' }] }), /hex/);
    assert.throws(() => registry.build('delimiter', { delimiters: [{ hex: '00', text: 'x' }] }), /delimiters/);
    assert.throws(() => registry.build('delimiter', { delimiters: ['\n', { hex: '0a' }] }), /duplicate/);
    assert.throws(() => registry.build('delimiter', { delimiters: ['ab'], maxLength: 10, maxBufferedBytes: 11 }), /maxBufferedBytes/);
    assert.throws(() => registry.build('delimiter', { delimiters: [';'], bogus: 1 }), /bogus|Unrecognized/);
  });
});

test('delimiter: maxLength and maxBufferedBytes accept size strings like "64KiB"', () => {
  const f = make({ delimiters: [';'], maxLength: '1KB', maxBufferedBytes: '2KB' })();
  assert.deepEqual(decodeChunks(f, [Buffer.concat([Buffer.alloc(1000, 0x61), bytes(';')])], false).map((d) => d.length), [1000]);
  assert.equal(codeOf(() => decodeChunks(f, [Buffer.alloc(1001, 0x61)], false)), ErrorCodes.FRAME_TOO_LARGE, 'no delimiter within 1KB');
  assert.throws(() => registry.build('delimiter', { delimiters: [';'], maxLength: 'lots' }), {
    message: `framer 'delimiter'.maxLength: expected ${SIZE_FORMS}, got "lots"`,
  });
  assert.throws(() => registry.build('delimiter', { delimiters: [';'], maxBufferedBytes: true }), {
    message: `framer 'delimiter'.maxBufferedBytes: expected ${SIZE_FORMS}, got true`,
  });
  assert.throws(() => registry.build('delimiter', { delimiters: ['ab'], maxLength: '1KiB', maxBufferedBytes: '1KiB' }), /maxBufferedBytes/);
});
