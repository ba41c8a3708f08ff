import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { FixedFramer, fixedOptionsSchema } from '../../src/framing/fixed.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { bytes, codeOf, decodeChunks, framerConformance, hexAll } from '../conformance/framer-suite.js';
import { SIZE_FORMS } from '../../src/core/units.js';

const registry = createFramerRegistry();
const make = (options: Record<string, unknown>) => () => registry.build('fixed', options).create();

for (const size of [1, 3, 16]) {
  framerConformance({
    name: `fixed (size ${size})`,
    create: make({ size }),
    frame: fc.uint8Array({ minLength: size, maxLength: size }).map((a) => Buffer.from(a)),
    vectors: size === 3 ? [{ name: 'three frames', input: bytes('abcdefghi'), frames: [bytes('abc'), bytes('def'), bytes('ghi')] }] : [],
    truncated: size > 1 ? [{ name: 'one byte short', input: Buffer.alloc(size - 1, 0x61) }] : [],
  });
}

describe('fixed specifics', () => {
  test('encode verifies the size', () => {
    const f = make({ size: 2 })();
    const ok = bytes('ab');
    assert.equal(f.encode(ok), ok);
    assert.equal(codeOf(() => f.encode(bytes('abc'))), ErrorCodes.FRAME_TOO_LARGE);
    assert.equal(codeOf(() => f.encode(bytes('a'))), ErrorCodes.FRAME_MALFORMED);
  });

  test('options: size is required and ≥ 1', () => {
    assert.throws(() => registry.build('fixed', {}), /size/);
    assert.throws(() => registry.build('fixed', { size: 0 }), /size/);
    assert.throws(() => registry.build('fixed', { size: 1.5 }), /size/);
    assert.throws(() => registry.build('fixed', { size: 10, maxBufferedBytes: 9 }), /maxBufferedBytes/);
    assert.throws(() => new FixedFramer({ size: 0 }), /size/);
  });
});

test('fixed: size and maxBufferedBytes accept size strings like "64KiB"', () => {
  assert.deepEqual(fixedOptionsSchema.parse({ size: '4B', maxBufferedBytes: '64KiB' }), { size: 4, maxBufferedBytes: 65_536 });
  assert.deepEqual(hexAll(decodeChunks(make({ size: '2B' })(), [bytes('abcd')])), ['6162', '6364']);
  assert.equal(make({ size: '1KiB' })().encode(Buffer.alloc(1024)).length, 1024);
  assert.throws(() => registry.build('fixed', {}), { message: `framer 'fixed'.size: missing (expected ${SIZE_FORMS})` });
  assert.throws(() => registry.build('fixed', { size: 'four' }), { message: `framer 'fixed'.size: expected ${SIZE_FORMS}, got "four"` });
  assert.throws(() => registry.build('fixed', { size: '1KiB', maxBufferedBytes: '1KB' }), /maxBufferedBytes: must be at least size \(1024\)/);
});
