import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferedFramer, READ_HEADROOM } from '../../src/framing/buffered-framer.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { ErrorCodes, SwitchyardError } from '../../src/core/errors.js';
import type { Frame } from '../../src/framing/framer.js';
import { bytes, codeOf, drain, hexAll } from '../conformance/framer-suite.js';

/** Two-byte frames; 'X' at a frame start is malformed. Counts resetDecodeState() calls. */
class PairFramer extends BufferedFramer {
  readonly name = 'pair';
  readonly passthrough = false;
  resets = 0;

  constructor(limit = 8) {
    super(limit);
  }

  protected decodeOne(): Frame | null {
    if (this.buf.length > 0 && this.buf.byteAt(0) === 0x58) {
      throw new SwitchyardError(ErrorCodes.FRAME_MALFORMED, 'pair: X');
    }
    if (this.buf.length >= 2) return this.buf.consume(2);
    if (this.ended && this.buf.length > 0) throw new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, 'pair: truncated');
    return null;
  }

  protected override resetDecodeState(): void {
    this.resets++;
  }

  encode(frame: Frame): Buffer {
    return frame;
  }
}

describe('BufferedFramer (the shared push/next/end/takeBuffered logic)', () => {
  test('push, next, bufferedBytes, end and truncation', () => {
    const f = new PairFramer();
    f.push(bytes('abc'));
    assert.equal(f.bufferedBytes, 3);
    assert.deepEqual(hexAll(drain(f)), hexAll([bytes('ab')]));
    assert.equal(f.bufferedBytes, 1);
    f.end();
    assert.equal(codeOf(() => f.next()), ErrorCodes.FRAME_TRUNCATED);
    assert.equal(codeOf(() => f.next()), ErrorCodes.FRAME_TRUNCATED, 'latched');
  });

  test('a decode error is latched: every later push() and next() throws the same error', () => {
    const f = new PairFramer();
    f.push(bytes('abX'));
    assert.deepEqual(hexAll([f.next()!]), hexAll([bytes('ab')]));
    let first: unknown;
    try {
      f.next();
    } catch (err) {
      first = err;
    }
    assert.equal((first as { code?: string }).code, ErrorCodes.FRAME_MALFORMED);
    assert.throws(() => f.next(), (err) => err === first);
    assert.throws(() => f.push(bytes('cd')), (err) => err === first);
  });

  test('overflow on push is latched; the chunk is not appended', () => {
    const f = new PairFramer(4);
    f.push(bytes('abc'));
    assert.equal(codeOf(() => f.push(bytes('de'))), ErrorCodes.BUFFER_OVERFLOW);
    assert.equal(f.bufferedBytes, 3);
    assert.equal(codeOf(() => f.next()), ErrorCodes.BUFFER_OVERFLOW);
    assert.equal(codeOf(() => f.push(bytes(''))), ErrorCodes.BUFFER_OVERFLOW);
  });

  test('takeBuffered() resets the decode state, then hands over every held byte', () => {
    const f = new PairFramer();
    f.push(bytes('abcde'));
    assert.equal(f.next()?.toString(), 'ab');
    assert.equal(f.takeBuffered().toString(), 'cde');
    assert.equal(f.resets, 1);
    assert.equal(f.bufferedBytes, 0);
    assert.equal(f.next(), null);
  });

  test('every built-in framer: push() after end() is SWY_INTERNAL naming the framer, and is not latched', () => {
    const registry = createFramerRegistry();
    const minimal: Record<string, Record<string, unknown>> = { delimiter: { delimiters: [';'] }, fixed: { size: 4 } };
    for (const name of registry.names()) {
      const f = registry.build(name, minimal[name] ?? {}).create();
      assert.ok(f instanceof BufferedFramer, `${name} extends BufferedFramer`);
      f.end();
      let message = '';
      const code = codeOf(() => {
        try {
          f.push(bytes('x'));
        } catch (err) {
          message = (err as Error).message;
          throw err;
        }
      });
      assert.equal(code, ErrorCodes.INTERNAL, name);
      assert.equal(message, `${name}: push() after end()`);
      assert.equal(f.next(), null, `${name}: a caller bug, not a decode error`);
      assert.equal(f.bufferedBytes, 0);
    }
  });

  test('READ_HEADROOM is 64 KiB', () => {
    assert.equal(READ_HEADROOM, 64 * 1024);
  });
});
