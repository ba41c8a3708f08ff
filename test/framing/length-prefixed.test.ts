import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { LengthPrefixedFramer, lengthPrefixedOptionsSchema } from '../../src/framing/length-prefixed.js';
import { LineFramer } from '../../src/framing/line.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { bytes, codeOf, decodeChunks, framerConformance, hex, hexAll } from '../conformance/framer-suite.js';
import { SIZE_FORMS } from '../../src/core/units.js';

const registry = createFramerRegistry();
const make = (options: Record<string, unknown> = {}) => () => registry.build('length-prefixed', options).create();
const payload = (max = 40) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const HELLO = bytes('HELLO, WORLD');
const line = { create: () => new LineFramer(), frame: fc.string({ maxLength: 10 }).filter((s) => !s.includes('\n') && !s.endsWith('\r')).map((s) => Buffer.from(s)) };

/** Whole frames (header kept) built by the header-stripping twin of a config. */
function withHeader(options: Record<string, unknown>, prefix: Buffer = Buffer.alloc(0)) {
  const o = lengthPrefixedOptionsSchema.parse(options);
  const end = o.lengthFieldOffset + o.lengthFieldLength;
  const twin = new LengthPrefixedFramer({ ...o, initialBytesToStrip: end });
  return (p: Buffer): Buffer => {
    const f = twin.encode(p);
    prefix.copy(f, 0, 0, o.lengthFieldOffset);
    return f;
  };
}

framerConformance({
  name: 'length-prefixed (default: 4-byte BE, header kept)',
  create: make(),
  frame: payload().map(withHeader({})),
  partner: line,
  vectors: [{ name: 'two frames', input: bytes([0, 0, 0, 2], 'hi', [0, 0, 0, 0]), frames: [bytes([0, 0, 0, 2], 'hi'), bytes([0, 0, 0, 0])] }],
  oversize: [{ name: 'header announces 4 GiB', input: bytes([0xff, 0xff, 0xff, 0xff]) }],
  truncated: [
    { name: 'partial header', input: bytes([0, 0]) },
    { name: 'partial body after a frame', input: bytes([0, 0, 0, 0], [0, 0, 0, 3], 'ab'), frames: [bytes([0, 0, 0, 0])] },
  ],
});

framerConformance({
  name: 'length-prefixed (header stripped, 1-byte field, maxFrameLength 21)',
  create: make({ lengthFieldLength: 1, initialBytesToStrip: 1, maxFrameLength: 21 }),
  frame: payload(20),
  partner: line,
  vectors: [{ name: 'zero-length frame', input: bytes([0, 2, 0x61, 0x62]), frames: [bytes(''), bytes('ab')] }],
  oversize: [{ name: '21 bytes of payload', input: bytes([1, 0x61, 21]) }],
  truncated: [{ name: 'body missing', input: bytes([5, 1, 2]) }],
});

framerConformance({
  name: 'length-prefixed (WAMP RawSocket shape: offset 1, 3-byte field, header kept)',
  create: make({ lengthFieldOffset: 1, lengthFieldLength: 3 }),
  frame: fc.tuple(fc.constantFrom(0, 1, 2), payload()).map(([type, p]) => withHeader({ lengthFieldOffset: 1, lengthFieldLength: 3 }, Buffer.from([type]))(p)),
  partner: line,
  vectors: [{ name: 'ping frame', input: bytes([1, 0, 0, 3], 'abc'), frames: [bytes([1, 0, 0, 3], 'abc')] }],
});

framerConformance({ name: 'length-prefixed (2-byte LE, stripped)', create: make({ lengthFieldLength: 2, byteOrder: 'little', initialBytesToStrip: 2 }), frame: payload() });
framerConformance({ name: 'length-prefixed (3-byte LE, stripped)', create: make({ lengthFieldLength: 3, byteOrder: 'little', initialBytesToStrip: 3 }), frame: payload() });
framerConformance({
  name: 'length-prefixed (8-byte BE, stripped)',
  create: make({ lengthFieldLength: 8, initialBytesToStrip: 8 }),
  frame: payload(),
  malformed: [{ name: 'negative length (sign bit set)', input: bytes([0x80, 0, 0, 0, 0, 0, 0, 0]) }],
  oversize: [{ name: '2^62 bytes', input: bytes([0x40, 0, 0, 0, 0, 0, 0, 0]) }],
});
framerConformance({ name: 'length-prefixed (8-byte LE, header kept)', create: make({ lengthFieldLength: 8, byteOrder: 'little' }), frame: payload().map(withHeader({ lengthFieldLength: 8, byteOrder: 'little' })) });
framerConformance({
  name: 'length-prefixed (length counts the header: adj -2, stripped)',
  create: make({ lengthFieldLength: 2, lengthAdjustment: -2, initialBytesToStrip: 2 }),
  frame: payload(),
  malformed: [{ name: 'length 1 < header length 2', input: bytes([0, 1]) }],
});

describe('length-prefixed: Netty LengthFieldBasedFrameDecoder javadoc examples', () => {
  const cases: { name: string; options: Record<string, unknown>; input: Buffer; output: Buffer }[] = [
    { name: '2 bytes length field at offset 0, do not strip header', options: { lengthFieldLength: 2 }, input: bytes([0x00, 0x0c], HELLO), output: bytes([0x00, 0x0c], HELLO) },
    { name: '2 bytes length field at offset 0, strip header', options: { lengthFieldLength: 2, initialBytesToStrip: 2 }, input: bytes([0x00, 0x0c], HELLO), output: HELLO },
    { name: '2 bytes length field at offset 0, length represents the whole message', options: { lengthFieldLength: 2, lengthAdjustment: -2 }, input: bytes([0x00, 0x0e], HELLO), output: bytes([0x00, 0x0e], HELLO) },
    { name: '3 bytes length field at the end of a 5 bytes header', options: { lengthFieldOffset: 2, lengthFieldLength: 3 }, input: bytes([0xca, 0xfe, 0x00, 0x00, 0x0c], HELLO), output: bytes([0xca, 0xfe, 0x00, 0x00, 0x0c], HELLO) },
    { name: '3 bytes length field at the beginning of a 5 bytes header', options: { lengthFieldLength: 3, lengthAdjustment: 2 }, input: bytes([0x00, 0x00, 0x0c, 0xca, 0xfe], HELLO), output: bytes([0x00, 0x00, 0x0c, 0xca, 0xfe], HELLO) },
    { name: '2 bytes length field at offset 1 in a 4 bytes header, strip the first header field and the length field', options: { lengthFieldOffset: 1, lengthFieldLength: 2, lengthAdjustment: 1, initialBytesToStrip: 3 }, input: bytes([0xca, 0x00, 0x0c, 0xfe], HELLO), output: bytes([0xfe], HELLO) },
    { name: '… and the length field represents the whole message', options: { lengthFieldOffset: 1, lengthFieldLength: 2, lengthAdjustment: -3, initialBytesToStrip: 3 }, input: bytes([0xca, 0x00, 0x10, 0xfe], HELLO), output: bytes([0xfe], HELLO) },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const whole = decodeChunks(make(c.options)(), [c.input]);
      assert.deepEqual(hexAll(whole), [hex(c.output)]);
      for (let i = 0; i <= c.input.length; i++) {
        assert.deepEqual(hexAll(decodeChunks(make(c.options)(), [c.input.subarray(0, i), c.input.subarray(i)])), [hex(c.output)]);
      }
    });
  }
});

describe('length-prefixed specifics', () => {
  test('too large is detected from the header alone (fail fast, never buffered)', () => {
    const f = make({ maxFrameLength: 1024 })();
    f.push(bytes([0, 0, 4, 1]));
    assert.equal(codeOf(() => f.next()), ErrorCodes.FRAME_TOO_LARGE);
    const g = make({ lengthFieldOffset: 2, lengthFieldLength: 2, maxFrameLength: 100 })();
    g.push(bytes([9, 9, 0]));
    assert.equal(g.next(), null);
    g.push(bytes([97]));
    assert.equal(codeOf(() => g.next()), ErrorCodes.FRAME_TOO_LARGE, '4 + 97 > 100');
  });

  test('maxFrameLength counts the whole frame, header included (Netty)', () => {
    const f = make({ lengthFieldLength: 1, initialBytesToStrip: 1, maxFrameLength: 5 })();
    assert.deepEqual(hexAll(decodeChunks(f, [bytes([4], 'abcd')])), [hex(bytes('abcd'))]);
    assert.equal(codeOf(() => decodeChunks(make({ lengthFieldLength: 1, maxFrameLength: 5 })(), [bytes([5])])), ErrorCodes.FRAME_TOO_LARGE);
  });

  test('initialBytesToStrip larger than the frame is malformed', () => {
    const f = make({ lengthFieldLength: 1, initialBytesToStrip: 3 })();
    assert.equal(codeOf(() => decodeChunks(f, [bytes([1, 0x61])])), ErrorCodes.FRAME_MALFORMED);
  });

  test('encode, header stripped: prepends zero bytes before the field, then the length', () => {
    const f = make({ lengthFieldOffset: 1, lengthFieldLength: 2, lengthAdjustment: -3, initialBytesToStrip: 3 })();
    assert.equal(hex(f.encode(bytes('abc'))), hex(bytes([0x00, 0x00, 0x06], 'abc')));
    assert.equal(hex(make({ lengthFieldLength: 3, byteOrder: 'little', initialBytesToStrip: 3 })().encode(bytes('ab'))), '020000' + hex(bytes('ab')));
    assert.equal(hex(make({ lengthFieldLength: 8, initialBytesToStrip: 8 })().encode(bytes('a'))), '0000000000000001' + '61');
  });

  test('encode, header kept: identity when the length field is right, rewritten copy when not', () => {
    const f = make({ lengthFieldLength: 2 })();
    const ok = bytes([0, 3], 'abc');
    assert.equal(f.encode(ok), ok, 'same Buffer');
    const wrong = bytes([0, 9], 'abc');
    const fixed = f.encode(wrong);
    assert.equal(hex(fixed), hex(ok));
    assert.equal(hex(wrong), hex(bytes([0, 9], 'abc')), 'input untouched');
    assert.equal(codeOf(() => f.encode(bytes([0]))), ErrorCodes.FRAME_MALFORMED, 'shorter than the header');
  });

  test('encodeTo: a small header then the frame itself; header kept: the frame itself, or a rewritten header + the rest', () => {
    const out: Buffer[] = [];
    const payload = bytes('abc');
    make({ lengthFieldOffset: 1, lengthFieldLength: 2, lengthAdjustment: -3, initialBytesToStrip: 3 })().encodeTo!(payload, out);
    assert.equal(out.length, 2);
    assert.equal(hex(out[0]!), hex(bytes([0x00, 0x00, 0x06])));
    assert.equal(out[1], payload, 'the payload is not copied');
    const kept = make({ lengthFieldLength: 2 })();
    const ok = bytes([0, 3], 'abc');
    const same: Buffer[] = [];
    kept.encodeTo!(ok, same);
    assert.deepEqual(same, [ok]);
    assert.equal(same[0], ok, 'same Buffer');
    const wrong = bytes([0, 9], 'abc');
    const fixed: Buffer[] = [];
    kept.encodeTo!(wrong, fixed);
    assert.equal(hex(Buffer.concat(fixed)), hex(ok));
    assert.equal(fixed.length, 2);
    assert.equal(fixed[1]!.buffer, wrong.buffer, 'the rest is a view of the frame');
    assert.equal(hex(wrong), hex(bytes([0, 9], 'abc')), 'input untouched');
    const failed: Buffer[] = [];
    assert.equal(codeOf(() => kept.encodeTo!(bytes([0]), failed)), ErrorCodes.FRAME_MALFORMED);
    assert.equal(codeOf(() => make({ lengthFieldOffset: 1, lengthFieldLength: 2, initialBytesToStrip: 1 })().encodeTo!(bytes('x'), failed)), ErrorCodes.CONFIG_INVALID);
    assert.equal(failed.length, 0, 'nothing appended on error');
  });

  test('encode errors: too large for the field or maxFrameLength, too short for the adjustment, unencodable strip', () => {
    assert.equal(codeOf(() => make({ lengthFieldLength: 1, initialBytesToStrip: 1 })().encode(Buffer.alloc(256))), ErrorCodes.FRAME_TOO_LARGE);
    assert.equal(codeOf(() => make({ maxFrameLength: 10, initialBytesToStrip: 4 })().encode(Buffer.alloc(7))), ErrorCodes.FRAME_TOO_LARGE);
    assert.equal(codeOf(() => make({ lengthAdjustment: 2, initialBytesToStrip: 4 })().encode(Buffer.alloc(1))), ErrorCodes.FRAME_MALFORMED);
    assert.equal(codeOf(() => make({ lengthFieldOffset: 1, lengthFieldLength: 2, initialBytesToStrip: 1 })().encode(bytes('x'))), ErrorCodes.CONFIG_INVALID);
  });

  test('options: defaults and impossible combinations rejected', () => {
    assert.deepEqual(lengthPrefixedOptionsSchema.parse({}), {
      lengthFieldOffset: 0, lengthFieldLength: 4, byteOrder: 'big', lengthAdjustment: 0, initialBytesToStrip: 0, maxFrameLength: 16 * 1024 * 1024,
    });
    assert.throws(() => registry.build('length-prefixed', { lengthFieldLength: 5 }), /lengthFieldLength/);
    assert.throws(() => registry.build('length-prefixed', { lengthFieldOffset: -1 }), /lengthFieldOffset/);
    assert.throws(() => registry.build('length-prefixed', { initialBytesToStrip: -1 }), /initialBytesToStrip/);
    assert.throws(() => registry.build('length-prefixed', { maxFrameLength: 0 }), /maxFrameLength/);
    assert.throws(() => registry.build('length-prefixed', { lengthFieldOffset: 7, maxFrameLength: 10 }), /lengthFieldOffset/);
    assert.throws(() => registry.build('length-prefixed', { initialBytesToStrip: 11, maxFrameLength: 10 }), /initialBytesToStrip/);
    assert.throws(() => registry.build('length-prefixed', { lengthFieldLength: 1, lengthAdjustment: -256 }), /lengthAdjustment/);
    assert.throws(() => registry.build('length-prefixed', { lengthAdjustment: 100, maxFrameLength: 50 }), /lengthAdjustment/);
    assert.throws(() => registry.build('length-prefixed', { maxFrameLength: 100, maxBufferedBytes: 99 }), /maxBufferedBytes/);
    assert.throws(() => registry.build('length-prefixed', { lengthIncludesHeader: true }), /lengthIncludesHeader|Unrecognized/);
    assert.throws(() => new LengthPrefixedFramer({ ...lengthPrefixedOptionsSchema.parse({}), maxFrameLength: 2 }), /lengthFieldOffset/);
  });
});

test('length-prefixed: maxFrameLength and maxBufferedBytes accept size strings like "64KiB"', () => {
  const o = lengthPrefixedOptionsSchema.parse({ maxFrameLength: '1MiB', maxBufferedBytes: '2MiB' });
  assert.equal(o.maxFrameLength, 1_048_576);
  assert.equal(o.maxBufferedBytes, 2_097_152);
  const f = make({ lengthFieldLength: 2, maxFrameLength: '1KiB' })();
  assert.deepEqual(hexAll(decodeChunks(f, [bytes([0x00, 0x02], 'hi')], false)), ['0002' + '6869']);
  const g = make({ lengthFieldLength: 2, maxFrameLength: '1KiB' })();
  g.push(bytes([0x03, 0xff])); // 2 + 1023 = 1025 > 1024
  assert.equal(codeOf(() => g.next()), ErrorCodes.FRAME_TOO_LARGE);
  assert.throws(() => registry.build('length-prefixed', { maxFrameLength: '16 megs' }), {
    message: `framer 'length-prefixed'.maxFrameLength: expected ${SIZE_FORMS}, got "16 megs"`,
  });
  assert.throws(() => registry.build('length-prefixed', { maxFrameLength: '1KiB', maxBufferedBytes: '1KB' }), /maxBufferedBytes/);
});
