import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { bytes, codeOf, decodeChunks, framerConformance, hexAll } from '../conformance/framer-suite.js';
import { netstringOptionsSchema } from '../../src/framing/netstring.js';

const registry = createFramerRegistry();
const make = (options: Record<string, unknown> = {}) => () => registry.build('netstring', options).create();
const payload = (max = 40) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

framerConformance({
  name: 'netstring (default)',
  create: make(),
  frame: payload(),
  vectors: [
    { name: 'djb examples', input: bytes('12:hello world!,0:,'), frames: [bytes('hello world!'), bytes('')] },
    { name: 'payload holding ":" and ","', input: bytes('3:a,:,'), frames: [bytes('a,:')] },
  ],
  malformed: [
    { name: 'leading zero', input: bytes('01:a,') },
    { name: 'no digits', input: bytes(':,') },
    { name: 'not a digit', input: bytes('x:') },
    { name: 'sign', input: bytes('-1:a,') },
    { name: 'space before colon', input: bytes('1 :a,') },
    { name: 'missing comma', input: bytes('3:abc;') },
    { name: 'second frame bad', input: bytes('1:a,2:bc.'), frames: [bytes('a')] },
  ],
  truncated: [
    { name: 'length only', input: bytes('12') },
    { name: 'payload partial', input: bytes('5:ab') },
    { name: 'comma missing at end', input: bytes('2:ab') },
  ],
});

framerConformance({
  name: 'netstring (maxLength 10)',
  create: make({ maxLength: 10 }),
  frame: payload(10),
  vectors: [{ name: 'exactly 10', input: bytes('10:0123456789,'), frames: [bytes('0123456789')] }],
  oversize: [
    { name: 'length 11', input: bytes('11:') },
    { name: 'too many digits, no colon yet', input: bytes('123') },
  ],
});

describe('netstring specifics', () => {
  test('encode builds <len>:<bytes>,', () => {
    assert.equal(make()().encode(bytes('hello world!')).toString(), '12:hello world!,');
    assert.equal(make()().encode(bytes('')).toString(), '0:,');
    assert.equal(codeOf(() => make({ maxLength: 2 })().encode(bytes('abc'))), ErrorCodes.FRAME_TOO_LARGE);
  });

  test('encodeTo does not copy the payload: header, the frame itself, ","', () => {
    const payload = bytes('hello world!');
    const out: Buffer[] = [];
    make()().encodeTo!(payload, out);
    assert.equal(out.length, 3);
    assert.equal(out[1], payload);
    assert.equal(Buffer.concat(out).toString(), '12:hello world!,');
    assert.equal(codeOf(() => make({ maxLength: 2 })().encodeTo!(bytes('abc'), out)), ErrorCodes.FRAME_TOO_LARGE);
    assert.equal(out.length, 3, 'nothing appended on error');
  });

  test('the length is rejected as soon as its digits exceed maxLength', () => {
    const f = make({ maxLength: 99 })();
    f.push(bytes('10'));
    assert.equal(f.next(), null);
    f.push(bytes('0'));
    assert.equal(codeOf(() => f.next()), ErrorCodes.FRAME_TOO_LARGE);
  });

  test('"0" alone is a valid length; "00" is not', () => {
    assert.deepEqual(hexAll(decodeChunks(make()(), [bytes('0:,')])), ['']);
    assert.equal(codeOf(() => decodeChunks(make()(), [bytes('00:,')])), ErrorCodes.FRAME_MALFORMED);
  });

  test('options', () => {
    assert.throws(() => registry.build('netstring', { maxLength: 100, maxBufferedBytes: 104 }), /maxBufferedBytes/);
    registry.build('netstring', { maxLength: 100, maxBufferedBytes: 105 });
    assert.throws(() => registry.build('netstring', { max: 1 }), /max|Unrecognized/);
  });
});

test('netstring: maxLength and maxBufferedBytes accept size strings like "64KiB"', () => {
  assert.deepEqual(netstringOptionsSchema.parse({ maxLength: '1MB', maxBufferedBytes: '2MB' }), { maxLength: 1_000_000, maxBufferedBytes: 2_000_000 });
  const f = make({ maxLength: '1KB' })();
  assert.deepEqual(decodeChunks(f, [bytes('1000:', Buffer.alloc(1000, 0x61), ',')], false).map((n) => n.length), [1000]);
  const g = make({ maxLength: '1KB' })();
  g.push(bytes('1001:'));
  assert.equal(codeOf(() => g.next()), ErrorCodes.FRAME_TOO_LARGE);
  assert.throws(() => registry.build('netstring', { maxLength: '1.5B' }), { message: `framer 'netstring'.maxLength: size "1.5B" is not a whole number of bytes` });
  assert.throws(() => registry.build('netstring', { maxLength: '100B', maxBufferedBytes: '104B' }), /maxBufferedBytes/);
});
