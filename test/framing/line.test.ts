import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { LineFramer, lineOptionsSchema } from '../../src/framing/line.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { bytes, codeOf, decodeChunks, drain, framerConformance, hexAll } from '../conformance/framer-suite.js';
import { SIZE_FORMS } from '../../src/core/units.js';

const registry = createFramerRegistry();
const make = (options: Record<string, unknown> = {}) => () => registry.build('line', options).create();
const LF = 0x0a;
const CR = 0x0d;
/** Bytes from a small alphabet so CR, LF and NUL show up often. */
const raw = fc.array(fc.constantFrom(0x61, 0x62, CR, LF, 0x00, 0xff), { maxLength: 24 }).map((a) => Buffer.from(a));
const noLf = raw.map((b) => Buffer.from([...b].filter((x) => x !== LF)));
const dropTrailingCr = (b: Buffer): Buffer => {
  let n = b.length;
  while (n > 0 && b[n - 1] === CR) n--;
  return b.subarray(0, n);
};
const noLfNoTrailingCr = noLf.map(dropTrailingCr);
const noCrlf = raw.map((b) => Buffer.from(b.toString('latin1').replaceAll('\r\n', '\n'), 'latin1'));

framerConformance({
  name: 'line (default: any, strip, encode lf)',
  create: make(),
  frame: noLfNoTrailingCr,
  vectors: [
    { name: 'mixed ends, empty line, lone CR', input: bytes('a\nb\r\n\nc\r\r\nx\ry\n'), frames: [bytes('a'), bytes('b'), bytes(''), bytes('c\r'), bytes('x\ry')] },
    { name: 'only empty lines', input: bytes('\n\r\n\n'), frames: [bytes(''), bytes(''), bytes('')] },
  ],
  oversize: [],
  truncated: [
    { name: 'unterminated line', input: bytes('abc') },
    { name: 'line then partial', input: bytes('a\r\nbc\r'), frames: [bytes('a')] },
  ],
});

framerConformance({
  name: 'line (maxLength 8)',
  create: make({ maxLength: 8 }),
  frame: noLfNoTrailingCr.map((b) => dropTrailingCr(b.subarray(0, 8))),
  vectors: [{ name: 'exactly maxLength with CRLF', input: bytes('12345678\r\n12345678\n'), frames: [bytes('12345678'), bytes('12345678')] }],
  oversize: [
    { name: 'terminated line of 9', input: bytes('ok\n123456789\n') },
    { name: 'no line end yet, 9 bytes', input: bytes('123456789') },
    { name: '8 bytes + CR + data', input: bytes('12345678\rx') },
  ],
  truncated: [{ name: '8 bytes + CR (may still become CRLF)', input: bytes('12345678\r') }],
});

framerConformance({ name: 'line (any, encode crlf)', create: make({ encodeDelimiter: 'crlf' }), frame: noLf });
framerConformance({ name: 'line (lf)', create: make({ delimiter: 'lf' }), frame: noLf, vectors: [{ name: 'CR is data', input: bytes('a\r\n\r\n'), frames: [bytes('a\r'), bytes('\r')] }] });
framerConformance({
  name: 'line (crlf)',
  create: make({ delimiter: 'crlf', maxLength: 8 }),
  frame: noCrlf.map((b) => b.subarray(0, 8)).filter((b) => !b.toString('latin1').includes('\r\n')),
  vectors: [{ name: 'lone LF and CR are data', input: bytes('a\nb\r\n\r\r\n\n\r\n'), frames: [bytes('a\nb'), bytes('\r'), bytes('\n')] }],
  oversize: [{ name: 'lone LFs count toward the length', input: bytes('\n\n\n\n\n\n\n\n\n') }],
  truncated: [{ name: 'ends with lone LF', input: bytes('ab\n') }],
});
framerConformance({
  name: 'line (any, keep delimiter)',
  create: make({ stripDelimiter: false }),
  frame: fc.tuple(noLfNoTrailingCr, fc.constantFrom('\n', '\r\n')).map(([b, d]) => Buffer.concat([b, bytes(d)])),
  vectors: [{ name: 'frames keep their ends', input: bytes('a\nb\r\n\n'), frames: [bytes('a\n'), bytes('b\r\n'), bytes('\n')] }],
});
framerConformance({
  name: 'line (crlf, keep delimiter)',
  create: make({ delimiter: 'crlf', stripDelimiter: false }),
  frame: noCrlf.filter((b) => !b.toString('latin1').includes('\r\n')).map((b) => Buffer.concat([b, bytes('\r\n')])).filter((b) => b.indexOf('\r\n') === b.length - 2),
});

describe('line framer specifics', () => {
  test('CRLF split across chunks', () => {
    const f = make()();
    f.push(bytes('hello\r'));
    assert.equal(f.next(), null);
    f.push(bytes('\nworld\r'));
    assert.deepEqual(hexAll(drain(f)), hexAll([bytes('hello')]));
    f.push(bytes('\n'));
    assert.deepEqual(hexAll(drain(f)), hexAll([bytes('world')]));
  });

  test('empty line is an empty frame (Tendril crashes here)', () => {
    assert.deepEqual(hexAll(decodeChunks(make()(), [bytes('\r\n')])), ['']);
    assert.deepEqual(hexAll(decodeChunks(make({ delimiter: 'crlf' })(), [bytes('\r\n\r\n')])), ['', '']);
  });

  test('oversize is detected as soon as known, before the line end', () => {
    const f = make({ maxLength: 4 })();
    f.push(bytes('abcd'));
    assert.equal(f.next(), null);
    f.push(bytes('\r'));
    assert.equal(f.next(), null, 'CR may still be part of CRLF');
    f.push(bytes('e'));
    assert.equal(codeOf(() => f.next()), ErrorCodes.FRAME_TOO_LARGE);
  });

  test('encode appends the delimiter and rejects frames it cannot represent', () => {
    assert.equal(make()().encode(bytes('hi')).toString(), 'hi\n');
    assert.equal(make({ encodeDelimiter: 'crlf' })().encode(bytes('hi')).toString(), 'hi\r\n');
    assert.equal(make({ delimiter: 'crlf' })().encode(bytes('a\nb')).toString(), 'a\nb\r\n');
    assert.equal(codeOf(() => make()().encode(bytes('a\nb'))), ErrorCodes.FRAME_MALFORMED);
    assert.equal(codeOf(() => make()().encode(bytes('a\r'))), ErrorCodes.FRAME_MALFORMED);
    assert.equal(codeOf(() => make({ delimiter: 'crlf' })().encode(bytes('a\r\nb'))), ErrorCodes.FRAME_MALFORMED);
    assert.equal(codeOf(() => make({ maxLength: 3 })().encode(bytes('abcd'))), ErrorCodes.FRAME_TOO_LARGE);
  });

  test('encodeTo is zero-copy: the frame itself, then a line end shared by every framer', () => {
    const f = make()();
    const frame = bytes('hello');
    const out: Buffer[] = [];
    f.encodeTo!(frame, out);
    f.encodeTo!(bytes('x'), out);
    assert.equal(out.length, 4);
    assert.equal(out[0], frame, 'the frame Buffer itself');
    assert.equal(out[1], out[3], 'one shared delimiter constant');
    const other: Buffer[] = [];
    make()().encodeTo!(bytes(''), other);
    assert.equal(other[1], out[1], 'shared across framer instances');
    assert.equal(Buffer.concat(out).toString(), 'hello\nx\n');
    const crlf: Buffer[] = [];
    make({ delimiter: 'crlf' })().encodeTo!(frame, crlf);
    assert.equal(Buffer.concat(crlf).toString(), 'hello\r\n');
    const keep = bytes('x\r\n');
    const kept: Buffer[] = [];
    make({ stripDelimiter: false })().encodeTo!(keep, kept);
    assert.equal(kept.length, 1);
    assert.equal(kept[0], keep);
    const failed: Buffer[] = [];
    assert.equal(codeOf(() => make()().encodeTo!(bytes('a\nb'), failed)), ErrorCodes.FRAME_MALFORMED);
    assert.equal(codeOf(() => make({ maxLength: 3 })().encodeTo!(bytes('abcd'), failed)), ErrorCodes.FRAME_TOO_LARGE);
    assert.equal(failed.length, 0, 'nothing appended on error');
  });

  test('stripDelimiter false: encode is the identity on a whole line, else malformed', () => {
    const f = make({ stripDelimiter: false })();
    const line = bytes('x\r\n');
    assert.equal(f.encode(line), line);
    assert.equal(codeOf(() => f.encode(bytes('x'))), ErrorCodes.FRAME_MALFORMED);
    assert.equal(codeOf(() => f.encode(bytes('x\ny\n'))), ErrorCodes.FRAME_MALFORMED);
    assert.equal(make({ delimiter: 'lf', stripDelimiter: false })().encode(bytes('x\r\n')).toString(), 'x\r\n');
  });

  test('a proxy using line framing with stripDelimiter false is byte-exact', () => {
    const input = bytes('GET\r\nmixed\nends\r\n\r\n\n');
    const dec = make({ stripDelimiter: false })();
    const enc = make({ stripDelimiter: false })();
    const out = Buffer.concat(decodeChunks(dec, [input]).map((fr) => enc.encode(fr)));
    assert.equal(out.toString('latin1'), input.toString('latin1'));
  });

  test('maxBufferedBytes guard: SWY_BUFFER_OVERFLOW on push when the caller does not drain', () => {
    const f = make({ maxLength: 4, maxBufferedBytes: 10 })();
    f.push(bytes('a\nb\nc\n'));
    assert.equal(codeOf(() => f.push(bytes('d\ne\nf\n'))), ErrorCodes.BUFFER_OVERFLOW);
    assert.equal(codeOf(() => f.next()), ErrorCodes.BUFFER_OVERFLOW, 'sticky');
  });

  test('options: defaults, strictness, impossible combinations', () => {
    const o = lineOptionsSchema.parse({});
    assert.deepEqual(o, { delimiter: 'any', stripDelimiter: true, maxLength: 65536 });
    assert.throws(() => registry.build('line', { delimter: 'lf' }), /delimter|Unrecognized/);
    assert.throws(() => registry.build('line', { delimiter: 'crlf', encodeDelimiter: 'lf' }), /encodeDelimiter/);
    assert.throws(() => registry.build('line', { delimiter: 'lf', encodeDelimiter: 'crlf' }), /encodeDelimiter/);
    assert.throws(() => registry.build('line', { maxLength: 10, maxBufferedBytes: 11 }), /maxBufferedBytes/);
    assert.throws(() => registry.build('line', { maxLength: 0 }), /maxLength/);
    assert.ok(new LineFramer() instanceof LineFramer);
  });

  test('many 100-byte lines in large chunks stay linear', () => {
    const line = Buffer.alloc(100, 0x61);
    line[99] = LF;
    const chunk = Buffer.concat(Array.from({ length: 655 }, () => line));
    const f = make()();
    let frames = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) {
      f.push(chunk);
      for (let fr = f.next(); fr !== null; fr = f.next()) frames++;
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(frames, 655 * 200);
    assert.ok(ms < 2000, `decoding 13 MB took ${ms} ms`);
  });
});

describe('switching framers mid-stream (the SMTP DATA example from docs/framing.md)', () => {
  test('command lines, then a dot-terminated body, then lines again, all in one chunk', () => {
    const lines = registry.build('line', { delimiter: 'crlf' }).create();
    const body = registry.build('delimiter', { delimiters: ['\r\n.\r\n'] }).create();
    const wire = bytes('MAIL FROM:<a@x>\r\nDATA\r\nSubject: hi\r\n\r\nline 1\r\n.\r\nQUIT\r\n');
    const seen: string[] = [];
    lines.push(wire);
    for (let f = lines.next(); f !== null; f = lines.next()) {
      seen.push(f.toString());
      if (f.toString() === 'DATA') break; // switch point: the rest belongs to the body framer
    }
    body.push(lines.takeBuffered());
    const message = body.next();
    assert.ok(message);
    seen.push(`<body ${JSON.stringify(message.toString())}>`);
    lines.push(body.takeBuffered());
    lines.end();
    for (let f = lines.next(); f !== null; f = lines.next()) seen.push(f.toString());
    assert.deepEqual(seen, ['MAIL FROM:<a@x>', 'DATA', '<body "Subject: hi\\r\\n\\r\\nline 1">', 'QUIT']);
  });
});

test('line: maxLength and maxBufferedBytes accept size strings like "64KiB"', () => {
  assert.deepEqual(lineOptionsSchema.parse({ maxLength: '64KiB', maxBufferedBytes: '1MiB' }), {
    delimiter: 'any',
    stripDelimiter: true,
    maxLength: 65_536,
    maxBufferedBytes: 1_048_576,
  });
  const f = make({ maxLength: '1KiB' })();
  assert.deepEqual(decodeChunks(f, [Buffer.concat([Buffer.alloc(1024, 0x61), bytes('\n')])], false).map((l) => l.length), [1024]);
  assert.equal(codeOf(() => decodeChunks(f, [Buffer.concat([Buffer.alloc(1025, 0x61), bytes('\n')])], false)), ErrorCodes.FRAME_TOO_LARGE);
  assert.throws(() => registry.build('line', { maxLength: '64 KiBs' }), { message: `framer 'line'.maxLength: expected ${SIZE_FORMS}, got "64 KiBs"` });
  assert.throws(() => registry.build('line', { maxLength: '0B' }), { message: `framer 'line'.maxLength: expected a size of at least 1 byte, got "0B"` });
  assert.throws(() => registry.build('line', { maxLength: '1KiB', maxBufferedBytes: '1KiB' }), /maxBufferedBytes: must be at least maxLength \+ 2 \(1026\)/);
});

test('forwardRaw forwards complete lines as received when re-encoding would not change them', () => {
  const cases: Array<[Record<string, unknown>, string, string, number, string[]]> = [
    // options, input, forwarded bytes, forwarded count, frames left for next()
    [{}, 'one\ntwo\n\npartial', 'one\ntwo\n\n', 3, []],
    [{}, 'a\nb\r\nc\n', 'a\n', 1, ['b', 'c']], // CRLF would be re-encoded as LF: next() takes over
    [{ delimiter: 'crlf' }, 'x\ny\r\nz\r\n', 'x\ny\r\nz\r\n', 2, []], // a lone LF is data in crlf mode
    [{ stripDelimiter: false }, 'one\r\ntwo\n', 'one\r\ntwo\n', 2, []],
    [{ delimiter: 'lf' }, 'cr\r\n', 'cr\r\n', 1, []], // in lf mode the CR is content, re-encoded as is
    [{ maxLength: 3 }, 'ok\ntoolong\n', 'ok\n', 1, []],
  ];
  for (const [opts, input, forwarded, count, rest] of cases) {
    const f = new LineFramer(lineOptionsSchema.parse(opts));
    const chunk = Buffer.from(input);
    f.push(chunk);
    const out: Buffer[] = [];
    assert.equal(f.forwardRaw(out), count, `${JSON.stringify(opts)} ${JSON.stringify(input)}`);
    assert.equal(Buffer.concat(out).toString(), forwarded);
    if (out.length > 0) assert.equal(out[0]!.buffer, chunk.buffer, 'zero copy: a view of the received chunk');
    if ((opts as { maxLength?: number }).maxLength === 3) {
      assert.throws(() => f.next(), { code: ErrorCodes.FRAME_TOO_LARGE }); // the long line is next()'s to reject
      continue;
    }
    const left: string[] = [];
    for (let fr = f.next(); fr !== null; fr = f.next()) left.push(fr.toString());
    assert.deepEqual(left, rest);
  }
});

test('forwardRaw plus next() reproduces decode-then-encode for arbitrary line input', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('a', 'b', '\r', '\n', '\r\n'), { maxLength: 60 }), fc.constantFrom('lf', 'crlf', 'any'), fc.boolean(), (parts, delimiter, strip) => {
      const input = Buffer.from(parts.join(''));
      const opts = lineOptionsSchema.parse({ delimiter, stripDelimiter: strip });
      // both paths must give the same bytes, or fail with the same error code
      const outcome = (fast: boolean): Buffer | string => {
        const f = new LineFramer(opts);
        f.push(input);
        const out: Buffer[] = [];
        try {
          for (;;) {
            if (fast) f.forwardRaw(out);
            const fr = f.next();
            if (fr === null) break;
            out.push(f.encode(fr));
          }
        } catch (err) {
          return (err as { code: string }).code;
        }
        return Buffer.concat(out);
      };
      assert.deepEqual(outcome(true), outcome(false));
    }),
    { numRuns: 300 },
  );
});
