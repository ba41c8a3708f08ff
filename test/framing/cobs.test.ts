import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { cobsDecode, cobsEncode, cobsMaxEncodedLength, cobsOptionsSchema } from '../../src/framing/cobs.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { bytes, codeOf, decodeChunks, framerConformance, hex, hexAll } from '../conformance/framer-suite.js';
import { SIZE_FORMS } from '../../src/core/units.js';

const registry = createFramerRegistry();
const make = (options: Record<string, unknown> = {}) => () => registry.build('cobs', options).create();
const seq = (from: number, to: number): Buffer => Buffer.from(Array.from({ length: to - from + 1 }, (_, i) => (from + i) & 0xff));
/** Zeros show up often; lengths cross the 254-byte block size. */
const payload = fc.oneof(
  fc.array(fc.constantFrom(0, 1, 0x11, 0xff), { maxLength: 30 }).map((a) => Buffer.from(a)),
  fc.uint8Array({ minLength: 250, maxLength: 520 }).map((a) => Buffer.from(a)),
);

/** Wikipedia's COBS examples (payload → encoding including the 0x00 terminator). */
const VECTORS: [string, Buffer, Buffer][] = [
  ['empty', bytes([]), bytes([0x01, 0x00])],
  ['00', bytes([0x00]), bytes([0x01, 0x01, 0x00])],
  ['00 00', bytes([0x00, 0x00]), bytes([0x01, 0x01, 0x01, 0x00])],
  ['00 11 00', bytes([0x00, 0x11, 0x00]), bytes([0x01, 0x02, 0x11, 0x01, 0x00])],
  ['11 22 00 33 (Tendril)', bytes([0x11, 0x22, 0x00, 0x33]), bytes([0x03, 0x11, 0x22, 0x02, 0x33, 0x00])],
  ['11 22 33 44', bytes([0x11, 0x22, 0x33, 0x44]), bytes([0x05, 0x11, 0x22, 0x33, 0x44, 0x00])],
  ['11 00 00 00', bytes([0x11, 0x00, 0x00, 0x00]), bytes([0x02, 0x11, 0x01, 0x01, 0x01, 0x00])],
  ['01..FE (254 bytes)', seq(1, 254), bytes([0xff], seq(1, 254), [0x00])],
  ['00..FE (255 bytes)', seq(0, 254), bytes([0x01, 0xff], seq(1, 254), [0x00])],
  ['01..FF (255 bytes)', seq(1, 255), bytes([0xff], seq(1, 254), [0x02, 0xff, 0x00])],
  ['02..FF 00 (255 bytes)', bytes(seq(2, 255), [0x00]), bytes([0xff], seq(2, 255), [0x01, 0x01, 0x00])],
  ['03..FF 00 01 (255 bytes)', bytes(seq(3, 255), [0x00, 0x01]), bytes([0xfe], seq(3, 255), [0x02, 0x01, 0x00])],
];

framerConformance({
  name: 'cobs (default)',
  create: make(),
  frame: payload,
  vectors: [
    { name: 'Tendril vector + empty frame', input: bytes([0x03, 0x11, 0x22, 0x02, 0x33, 0x00, 0x01, 0x00]), frames: [bytes([0x11, 0x22, 0x00, 0x33]), bytes([])] },
    { name: 'non-canonical trailing 01 after FF', input: bytes([0xff], seq(1, 254), [0x01, 0x00]), frames: [seq(1, 254)] },
  ],
  malformed: [
    { name: 'code byte overruns the block (Tendril silently corrupts)', input: bytes([0x05, 0x11, 0x22, 0x00]) },
    { name: 'empty block', input: bytes([0x01, 0x00, 0x00]), frames: [bytes([])] },
  ],
  truncated: [{ name: 'no terminator', input: bytes([0x03, 0x11, 0x22]) }],
});

framerConformance({
  name: 'cobs (maxLength 4)',
  create: make({ maxLength: 4 }),
  frame: fc.uint8Array({ maxLength: 4 }).map((a) => Buffer.from(a)),
  oversize: [
    { name: '5 decoded bytes', input: bytes([0x06, 1, 2, 3, 4, 5, 0x00]) },
    { name: '6 encoded bytes without terminator', input: bytes([0x06, 1, 2, 3, 4, 5]) },
  ],
});

describe('cobs specifics', () => {
  for (const [name, payloadBytes, wire] of VECTORS) {
    test(`vector ${name}`, () => {
      assert.equal(hex(cobsEncode(payloadBytes)), hex(wire));
      assert.equal(hex(make()().encode(payloadBytes)), hex(wire));
      assert.deepEqual(hexAll(decodeChunks(make()(), [wire])), [hex(payloadBytes)]);
      assert.ok(wire.length - 1 <= cobsMaxEncodedLength(payloadBytes.length));
    });
  }

  test('encode("") = 01 00', () => {
    assert.equal(hex(make()().encode(Buffer.alloc(0))), '0100');
  });

  test('encoded length never exceeds the bound (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), (a) => {
        const enc = cobsEncode(Buffer.from(a));
        assert.ok(enc.length - 1 <= cobsMaxEncodedLength(a.length));
        assert.equal(enc.indexOf(0), enc.length - 1, 'only the terminator is zero');
        assert.equal(hex(cobsDecode(enc.subarray(0, -1))), hex(Buffer.from(a)));
      }),
      { numRuns: 150 },
    );
  });

  test('overrun is malformed, not silently shortened', () => {
    assert.equal(codeOf(() => cobsDecode(bytes([0x03, 0x11]))), ErrorCodes.FRAME_MALFORMED);
    assert.equal(codeOf(() => make({ maxLength: 3 })().encode(bytes('abcd'))), ErrorCodes.FRAME_TOO_LARGE);
  });
});

test('cobs: maxLength and maxBufferedBytes accept size strings like "64KiB"', () => {
  assert.deepEqual(cobsOptionsSchema.parse({ maxLength: '1KiB', maxBufferedBytes: '64KiB' }), { maxLength: 1024, maxBufferedBytes: 65_536 });
  const f = make({ maxLength: '1KiB' })();
  const payload = Buffer.alloc(1024, 0x61);
  assert.deepEqual(decodeChunks(f, [cobsEncode(payload)], false).map((c) => c.length), [1024]);
  assert.equal(codeOf(() => make({ maxLength: '1KiB' })().encode(Buffer.alloc(1025, 0x61))), ErrorCodes.FRAME_TOO_LARGE);
  const least = cobsMaxEncodedLength(1024) + 1;
  assert.throws(() => registry.build('cobs', { maxLength: '1KiB', maxBufferedBytes: '1KiB' }), {
    message: `framer 'cobs'.maxBufferedBytes: must hold the longest encoded frame (${least} bytes)`,
  });
  assert.throws(() => registry.build('cobs', { maxLength: -1 }), {
    message: `framer 'cobs'.maxLength: expected ${SIZE_FORMS} (a whole number >= 0), got -1`,
  });
});
