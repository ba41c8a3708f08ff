import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { bytes, codeOf, drain, framerConformance } from '../conformance/framer-suite.js';
import { passthroughOptionsSchema } from '../../src/framing/passthrough.js';
import { SIZE_FORMS } from '../../src/core/units.js';

const registry = createFramerRegistry();
const make = (options: Record<string, unknown> = {}) => () => registry.build('passthrough', options).create();

framerConformance({
  name: 'passthrough',
  create: make(),
  frame: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  chunkFrames: true,
  vectors: [{ name: 'any bytes', input: bytes([0, 1, 0x0a, 0xff]), frames: [bytes([0, 1, 0x0a, 0xff])] }],
});

describe('passthrough specifics', () => {
  test('each chunk is one frame, the same Buffer; empty chunks produce none; encode is the identity', () => {
    const f = make()();
    assert.equal(f.passthrough, true);
    const a = bytes('abc');
    const b = bytes('de');
    f.push(a);
    f.push(Buffer.alloc(0));
    f.push(b);
    const frames = drain(f);
    assert.equal(frames.length, 2);
    assert.equal(frames[0], a);
    assert.equal(frames[1], b);
    assert.equal(f.encode(a), a);
    const out: Buffer[] = [];
    f.encodeTo!(a, out);
    assert.deepEqual(out, [a]);
    assert.equal(out[0], a, 'encodeTo appends the frame itself');
  });

  test('end() with nothing held is clean (no truncation for raw bytes)', () => {
    const f = make()();
    f.push(bytes('x'));
    f.end();
    assert.equal(drain(f).length, 1);
    assert.equal(f.next(), null);
  });

  test('maxBufferedBytes guard', () => {
    const f = make({ maxBufferedBytes: 4 })();
    f.push(bytes('abc'));
    assert.equal(codeOf(() => f.push(bytes('de'))), ErrorCodes.BUFFER_OVERFLOW);
  });
});

test('passthrough: maxBufferedBytes accepts size strings like "64KiB"', () => {
  assert.deepEqual(passthroughOptionsSchema.parse({ maxBufferedBytes: '1MiB' }), { maxBufferedBytes: 1_048_576 });
  assert.deepEqual(passthroughOptionsSchema.parse({}), { maxBufferedBytes: 16 * 1024 * 1024 });
  const f = make({ maxBufferedBytes: '4B' })();
  f.push(bytes('abc'));
  assert.equal(codeOf(() => f.push(bytes('de'))), ErrorCodes.BUFFER_OVERFLOW);
  assert.throws(() => registry.build('passthrough', { maxBufferedBytes: '0' }), {
    message: `framer 'passthrough'.maxBufferedBytes: expected a size of at least 1 byte, got "0"`,
  });
  assert.throws(() => registry.build('passthrough', { maxBufferedBytes: [1] }), {
    message: `framer 'passthrough'.maxBufferedBytes: expected ${SIZE_FORMS}, got a list`,
  });
});
