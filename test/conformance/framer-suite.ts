/**
 * The shared framer conformance suite. Every framer runs it:
 *
 *   framerConformance({ name: 'line', create: () => new LineFramer(...), frame: fc.uint8Array(...)..., vectors, ... });
 *
 * It checks whole input, every 2-piece split and byte-by-byte input, many frames per chunk, encode∘decode = identity
 * (property-based, across random chunk splits), oversize → SWY_FRAME_TOO_LARGE before end of input (fail fast),
 * malformed → the expected code, truncated at EOF → SWY_FRAME_TRUNCATED, errors are sticky, garbage input only raises
 * typed framing errors, takeBuffered() hands exactly the unconsumed rest to another framer mid-stream (and back), and
 * (when the framer has the optional encodeTo) encodeTo appends exactly encode's bytes, and agrees with encode on
 * which frames it rejects.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Framer } from '../../src/framing/framer.js';
import { ErrorCodes, type ErrorCode } from '../../src/core/errors.js';
import { LengthPrefixedFramer, lengthPrefixedOptionsSchema } from '../../src/framing/length-prefixed.js';

export interface FramerVector {
  name: string;
  input: Buffer;
  frames: Buffer[];
}

export interface FramerErrorVector {
  name: string;
  input: Buffer;
  /** Expected error code (default: the one implied by the list the vector is in). */
  code?: ErrorCode;
  /** Frames expected before the error (default: none checked). */
  frames?: Buffer[];
}

export interface FramerSuiteSpec {
  name: string;
  /** A fresh framer (one connection direction). */
  create: () => Framer;
  /** Valid frames, as decode returns them (encode must accept every one). */
  frame: fc.Arbitrary<Buffer>;
  /** Literal wire bytes and the frames they decode to. */
  vectors?: FramerVector[];
  /** Inputs holding a frame over the limit: SWY_FRAME_TOO_LARGE must be thrown before end(). */
  oversize?: FramerErrorVector[];
  /** Invalid inputs: the code (default SWY_FRAME_MALFORMED) must be thrown, at the latest after end(). */
  malformed?: FramerErrorVector[];
  /** Inputs ending inside a frame: no error before end(), then SWY_FRAME_TRUNCATED. */
  truncated?: FramerErrorVector[];
  /** Frames follow chunk boundaries (passthrough): compare bytes, not frame lists, across splits. */
  chunkFrames?: boolean;
  /** Another framer to switch to mid-stream (default: length-prefixed, 4-byte header stripped). */
  partner?: { create: () => Framer; frame: fc.Arbitrary<Buffer> };
  numRuns?: number;
}

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const hexAll = (frames: readonly Uint8Array[]): string[] => frames.map(hex);
export const bytes = (...parts: (string | number[] | Buffer)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

/** Drain every complete frame. */
export function drain(framer: Framer): Buffer[] {
  const out: Buffer[] = [];
  for (let f = framer.next(); f !== null; f = framer.next()) {
    assert.ok(Buffer.isBuffer(f), 'frames are Buffers');
    out.push(f);
  }
  return out;
}

/** Push each chunk (draining after each), then end() and drain. Returns all frames. */
export function decodeChunks(framer: Framer, chunks: readonly Buffer[], end = true): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    framer.push(c);
    out.push(...drain(framer));
  }
  if (end) {
    framer.end();
    out.push(...drain(framer));
  }
  return out;
}

/** Split `buf` at the given offsets (taken modulo length+1, sorted, deduplicated). */
export function splitAt(buf: Buffer, points: readonly number[]): Buffer[] {
  const cuts = [...new Set(points.map((p) => p % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  out.push(buf.subarray(prev));
  return out;
}

export const byteByByte = (buf: Buffer): Buffer[] => [...buf].map((b) => Buffer.from([b]));

/** The code thrown by `fn`, or undefined. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? `non-switchyard error: ${String(err)}`;
  }
  return undefined;
}

const splitsArb = fc.array(fc.nat({ max: 1 << 16 }), { maxLength: 8 });
/** Any bytes, often framing bytes (NUL, LF, CR, ',', ':', digits, 0xff), for frames encode may reject. */
const anyFrameArb = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  fc.array(fc.constantFrom(0x00, 0x0a, 0x0d, 0x2c, 0x3a, 0x30, 0x31, 0x3b, 0x61, 0xff), { maxLength: 20 }).map((a) => Buffer.from(a)),
);

/** What encode and encodeTo did with one frame: the bytes, or the error code (and for encodeTo, its Buffers). */
function outcomes(framer: Framer, frame: Buffer): { encode: string; encodeTo: string; parts: Buffer[] } {
  let encode: string;
  try {
    encode = hex(framer.encode(frame));
  } catch (err) {
    encode = `error ${(err as { code?: string }).code ?? String(err)}`;
  }
  const sentinel = Buffer.from('sentinel');
  const out: Buffer[] = [sentinel];
  let encodeTo: string;
  try {
    framer.encodeTo!(frame, out);
    encodeTo = hex(Buffer.concat(out.slice(1)));
  } catch (err) {
    encodeTo = `error ${(err as { code?: string }).code ?? String(err)}`;
    assert.equal(out.length, 1, 'encodeTo appends nothing when it throws');
  }
  assert.equal(out[0], sentinel, 'encodeTo only appends');
  return { encode, encodeTo, parts: out.slice(1) };
}

export function framerConformance(spec: FramerSuiteSpec): void {
  const numRuns = spec.numRuns ?? 150;
  const encodeAll = (framer: Framer, frames: readonly Buffer[]): Buffer => Buffer.concat(frames.map((f) => framer.encode(f)));
  const framesArb = fc.array(spec.frame, { minLength: 0, maxLength: 12 });
  const partner = spec.partner ?? {
    create: () => new LengthPrefixedFramer(lengthPrefixedOptionsSchema.parse({ initialBytesToStrip: 4 })),
    frame: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  };

  describe(`framer conformance: ${spec.name}`, () => {
    test('basic contract: name, passthrough flag, empty push, end on empty input', () => {
      const f = spec.create();
      assert.equal(typeof f.name, 'string');
      assert.equal(typeof f.passthrough, 'boolean');
      f.push(Buffer.alloc(0));
      assert.equal(f.next(), null);
      assert.equal(f.bufferedBytes, 0);
      f.end();
      assert.equal(f.next(), null);
      assert.equal(f.takeBuffered().length, 0);
    });

    for (const v of spec.vectors ?? []) {
      test(`vector ${v.name}: whole, every 2-piece split, byte by byte`, () => {
        const expected = hexAll(v.frames);
        const whole = spec.create();
        assert.deepEqual(hexAll(decodeChunks(whole, [v.input])), expected, 'whole input');
        assert.equal(whole.bufferedBytes, 0);
        for (let i = 0; i <= v.input.length; i++) {
          const got = decodeChunks(spec.create(), [v.input.subarray(0, i), v.input.subarray(i)]);
          if (spec.chunkFrames) assert.equal(hex(Buffer.concat(got)), hex(v.input), `split at ${i}`);
          else assert.deepEqual(hexAll(got), expected, `split at ${i}`);
        }
        const got = decodeChunks(spec.create(), byteByByte(v.input));
        if (spec.chunkFrames) assert.equal(hex(Buffer.concat(got)), hex(v.input), 'byte by byte');
        else assert.deepEqual(hexAll(got), expected, 'byte by byte');
      });
    }

    test('many frames in one chunk (property)', () => {
      fc.assert(
        fc.property(framesArb, (frames) => {
          const f = spec.create();
          if (spec.chunkFrames) {
            const wire = encodeAll(f, frames);
            const got = decodeChunks(f, [wire]);
            assert.deepEqual(hexAll(got), wire.length > 0 ? [hex(wire)] : []);
            return;
          }
          assert.deepEqual(hexAll(decodeChunks(f, [encodeAll(f, frames)])), hexAll(frames));
          assert.equal(f.bufferedBytes, 0);
        }),
        { numRuns },
      );
    });

    test('decode(encode(frames)) = frames across random chunk splits (property)', () => {
      fc.assert(
        fc.property(framesArb, splitsArb, (frames, points) => {
          const f = spec.create();
          if (spec.chunkFrames) {
            const chunks = frames.map((fr) => f.encode(fr));
            assert.deepEqual(hexAll(decodeChunks(f, chunks)), hexAll(frames.filter((fr) => fr.length > 0)));
            const g = spec.create();
            const wire = Buffer.concat(chunks);
            const got = decodeChunks(g, splitAt(wire, points));
            assert.equal(hex(Buffer.concat(got)), hex(wire));
            assert.ok(got.every((fr) => fr.length > 0), 'no empty frames');
            return;
          }
          const wire = encodeAll(f, frames);
          assert.deepEqual(hexAll(decodeChunks(f, splitAt(wire, points))), hexAll(frames));
        }),
        { numRuns },
      );
    });

    test('byte-by-byte decode of encoded frames (property)', () => {
      if (spec.chunkFrames) return;
      fc.assert(
        fc.property(fc.array(spec.frame, { maxLength: 4 }), (frames) => {
          const f = spec.create();
          assert.deepEqual(hexAll(decodeChunks(f, byteByByte(encodeAll(f, frames)))), hexAll(frames));
        }),
        { numRuns: Math.ceil(numRuns / 3) },
      );
    });

    test('encodeTo: Buffer.concat of what it appends = encode(frame), for valid frames (property)', () => {
      const f = spec.create();
      if (typeof f.encodeTo !== 'function') return; // optional: callers fall back to encode
      fc.assert(
        fc.property(framesArb, (frames) => {
          const out: Buffer[] = [];
          for (const fr of frames) {
            const before = hex(fr);
            const { encode, encodeTo, parts } = outcomes(f, fr);
            assert.ok(!encode.startsWith('error'), `encode accepts a valid frame: ${encode}`);
            assert.equal(encodeTo, encode);
            assert.ok(parts.length >= 1 && parts.every((p) => Buffer.isBuffer(p)), 'one or more Buffers');
            assert.equal(hex(fr), before, 'the frame is not modified');
            f.encodeTo!(fr, out);
          }
          // a batch gathered by encodeTo decodes back to the frames, like encode's output
          assert.equal(hex(Buffer.concat(out)), hex(encodeAll(f, frames)));
        }),
        { numRuns },
      );
    });

    test('encodeTo accepts and rejects exactly what encode does, with the same code (property)', () => {
      const f = spec.create();
      if (typeof f.encodeTo !== 'function') return;
      fc.assert(
        fc.property(fc.oneof(spec.frame, anyFrameArb), (fr) => {
          const before = hex(fr);
          const { encode, encodeTo } = outcomes(f, fr);
          assert.equal(encodeTo, encode);
          assert.equal(hex(fr), before, 'the frame is not modified');
        }),
        { numRuns },
      );
    });

    test('arbitrary bytes only ever raise typed framing errors (property)', () => {
      const allowed: string[] = [ErrorCodes.FRAME_TOO_LARGE, ErrorCodes.FRAME_MALFORMED, ErrorCodes.FRAME_TRUNCATED, ErrorCodes.BUFFER_OVERFLOW];
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), splitsArb, (input, points) => {
          const code = codeOf(() => decodeChunks(spec.create(), splitAt(Buffer.from(input), points)));
          if (code !== undefined) assert.ok(allowed.includes(code), `unexpected error ${code}`);
        }),
        { numRuns },
      );
    });

    test('takeBuffered() after any frame returns exactly the unconsumed rest (property)', () => {
      fc.assert(
        fc.property(framesArb, fc.nat(), fc.uint8Array({ maxLength: 16 }), splitsArb, (frames, kSeed, tailArr, points) => {
          const f = spec.create();
          const k = kSeed % (frames.length + 1);
          const encoded = frames.map((fr) => f.encode(fr));
          const tail = Buffer.from(tailArr);
          const chunks = spec.chunkFrames ? [...encoded, tail] : splitAt(Buffer.concat([...encoded, tail]), points);
          for (const c of chunks) f.push(c);
          for (let i = 0; i < k; i++) {
            if (spec.chunkFrames && encoded[i]!.length === 0) continue;
            const got = f.next();
            assert.ok(got !== null, `frame ${i} available`);
            assert.equal(hex(got), hex(frames[i]!));
          }
          const rest = Buffer.concat([...encoded.slice(k), tail]);
          assert.equal(f.bufferedBytes, rest.length);
          assert.equal(hex(f.takeBuffered()), hex(rest));
          assert.equal(f.bufferedBytes, 0);
          assert.equal(f.next(), null);
        }),
        { numRuns },
      );
    });

    test('switching framers mid-stream in ONE chunk: A frames, a partner frame, A frames again (property)', () => {
      if (spec.chunkFrames) {
        const f = spec.create();
        f.push(Buffer.from('abc'));
        assert.equal(hex(f.takeBuffered()), hex(Buffer.from('abc')));
        assert.equal(f.next(), null);
        return;
      }
      fc.assert(
        fc.property(framesArb, partner.frame, framesArb, (before, middle, after) => {
          const a = spec.create();
          const p = partner.create();
          const chunk = Buffer.concat([encodeAll(a, before), p.encode(middle), encodeAll(a, after)]);
          a.push(chunk);
          for (const fr of before) assert.equal(hex(a.next() ?? Buffer.from('<null>')), hex(fr));
          p.push(a.takeBuffered());
          assert.equal(a.bufferedBytes, 0);
          const m = p.next();
          assert.ok(m !== null, 'partner frame');
          assert.equal(hex(m), hex(middle));
          a.push(p.takeBuffered()); // back to the same A instance
          a.end();
          assert.deepEqual(hexAll(drain(a)), hexAll(after));
        }),
        { numRuns },
      );
    });

    for (const v of spec.oversize ?? []) {
      test(`oversize ${v.name}: SWY_FRAME_TOO_LARGE before end of input (whole and byte by byte), sticky`, () => {
        for (const chunks of [[v.input], byteByByte(v.input)]) {
          const f = spec.create();
          const code = codeOf(() => decodeChunks(f, chunks, false));
          assert.equal(code, v.code ?? ErrorCodes.FRAME_TOO_LARGE);
          assert.equal(codeOf(() => f.next()), code, 'errors are sticky');
        }
      });
    }

    for (const v of spec.malformed ?? []) {
      test(`malformed ${v.name}: ${v.code ?? ErrorCodes.FRAME_MALFORMED} (whole and byte by byte), sticky`, () => {
        for (const chunks of [[v.input], byteByByte(v.input)]) {
          const f = spec.create();
          const frames: Buffer[] = [];
          const pull = (): void => {
            for (let fr = f.next(); fr !== null; fr = f.next()) frames.push(fr);
          };
          const code = codeOf(() => {
            for (const c of chunks) {
              f.push(c);
              pull();
            }
            f.end();
            pull();
          });
          assert.equal(code, v.code ?? ErrorCodes.FRAME_MALFORMED);
          if (v.frames) assert.deepEqual(hexAll(frames), hexAll(v.frames));
          assert.equal(codeOf(() => f.next()), code, 'errors are sticky');
        }
      });
    }

    for (const v of spec.truncated ?? []) {
      test(`truncated ${v.name}: no error before end(), then SWY_FRAME_TRUNCATED`, () => {
        for (const chunks of [[v.input], byteByByte(v.input)]) {
          const f = spec.create();
          const frames = decodeChunks(f, chunks, false);
          if (v.frames) assert.deepEqual(hexAll(frames), hexAll(v.frames));
          f.end();
          assert.equal(codeOf(() => f.next()), v.code ?? ErrorCodes.FRAME_TRUNCATED);
        }
      });
    }
  });
}
