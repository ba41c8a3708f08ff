import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFramerRegistry, registerBuiltinFramers } from '../../src/framing/builtins.js';
import { FramerRegistry } from '../../src/framing/registry.js';
import { ErrorCodes, SwitchyardError } from '../../src/core/errors.js';
import { ByteList } from '../../src/core/byte-list.js';
import type { Frame, Framer } from '../../src/framing/framer.js';
import type { FramerPlugin } from '../../src/framing/registry.js';
import { z } from 'zod';
import fc from 'fast-check';
import { codeOf, framerConformance } from '../conformance/framer-suite.js';

describe('built-in framer registry', () => {
  test('registers the seven built-ins, each a fresh registry', () => {
    const r = createFramerRegistry();
    assert.deepEqual(r.names().sort(), ['cobs', 'delimiter', 'fixed', 'length-prefixed', 'line', 'netstring', 'passthrough']);
    assert.notEqual(createFramerRegistry(), r);
    const own = registerBuiltinFramers(new FramerRegistry());
    assert.equal(own.names().length, 7);
    assert.throws(() => registerBuiltinFramers(own), /already registered/);
  });

  test('every plugin has a description, a strict schema, and creates fresh framers named like the plugin', () => {
    const r = createFramerRegistry();
    const minimal: Record<string, Record<string, unknown>> = { delimiter: { delimiters: [';'] }, fixed: { size: 4 } };
    for (const p of r.plugins()) {
      assert.ok(p.description.length > 10, p.name);
      const opts = minimal[p.name] ?? {};
      assert.equal(p.optionsSchema.safeParse({ ...opts, unknownOption: 1 }).success, false, `${p.name} rejects unknown keys`);
      const factory = r.build(p.name, opts);
      assert.equal(factory.name, p.name);
      const a = factory.create();
      const b = factory.create();
      assert.notEqual(a, b);
      assert.equal(a.name, p.name);
      assert.equal(a.passthrough, p.name === 'passthrough');
    }
  });

  test('bad options are SWY_CONFIG_INVALID naming framer and option', () => {
    const r = createFramerRegistry();
    let message = '';
    const code = codeOf(() => {
      try {
        r.build('line', { maxLength: -1 });
      } catch (err) {
        message = (err as Error).message;
        throw err;
      }
    });
    assert.equal(code, ErrorCodes.CONFIG_INVALID);
    assert.match(message, /framer 'line'\.maxLength/);
    assert.equal(codeOf(() => r.build('nope')), ErrorCodes.CONFIG_INVALID);
  });
});

// ---- the custom-plugin example of docs/framing.md, kept compiling and conformant ----
const tlvOptions = z.strictObject({
  maxLength: z.number().int().positive().max(0xffff).default(0xffff),
  maxBufferedBytes: z.number().int().positive().optional(),
});
type TlvOptions = z.output<typeof tlvOptions>;

class TlvFramer implements Framer {
  readonly name = 'tlv';
  readonly passthrough = false;
  readonly #o: TlvOptions;
  readonly #buf: ByteList;
  #ended = false;
  #failure: Error | undefined;

  constructor(o: TlvOptions) {
    this.#o = o;
    this.#buf = new ByteList({ limit: o.maxBufferedBytes ?? o.maxLength + 3 + 64 * 1024 });
  }
  get bufferedBytes(): number { return this.#buf.length; }
  push(chunk: Buffer): void {
    if (this.#failure !== undefined) throw this.#failure;
    try { this.#buf.append(chunk); } catch (err) { this.#failure = err as Error; throw err; }
  }
  next(): Frame | null {
    if (this.#failure !== undefined) throw this.#failure;
    const held = this.#buf.length;
    if (held >= 3) {
      const len = this.#buf.readUIntBE(1, 2);
      if (len > this.#o.maxLength) {
        this.#failure = new SwitchyardError(ErrorCodes.FRAME_TOO_LARGE, `tlv: value of ${len} bytes > ${this.#o.maxLength}`);
        throw this.#failure;
      }
      if (held >= 3 + len) return this.#buf.consume(3 + len);
    }
    if (this.#ended && held > 0) {
      this.#failure = new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `tlv: input ended inside a frame`);
      throw this.#failure;
    }
    return null;
  }
  end(): void { this.#ended = true; }
  takeBuffered(): Buffer { return this.#buf.consumeAll(); }
  encode(frame: Frame): Buffer {
    if (frame.length < 3 || frame.readUInt16BE(1) !== frame.length - 3) {
      throw new SwitchyardError(ErrorCodes.FRAME_MALFORMED, 'tlv: frame length does not match its length field');
    }
    return frame;
  }
}

const tlvFramerPlugin: FramerPlugin<TlvOptions> = {
  name: 'tlv',
  description: 'Type-length-value records: 1-byte type, 2-byte big-endian length, value.',
  optionsSchema: tlvOptions,
  factory: (options) => ({ name: 'tlv', create: () => new TlvFramer(options) }),
};

const framers = createFramerRegistry().register(tlvFramerPlugin);
const tlvFrame = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 50 })).map(([t, v]) => {
  const f = Buffer.alloc(3 + v.length);
  f[0] = t;
  f.writeUInt16BE(v.length, 1);
  f.set(v, 3);
  return f;
});

framerConformance({
  name: 'tlv (docs example plugin)',
  create: () => framers.build('tlv', { maxLength: 100 }).create(),
  frame: tlvFrame,
  vectors: [{ name: 'two records', input: Buffer.from('0100016102000162', 'hex'), frames: [Buffer.from('01000161', 'hex'), Buffer.from('02000162', 'hex')] }],
  oversize: [{ name: 'length 101', input: Buffer.from('010065', 'hex') }],
  truncated: [{ name: 'value missing', input: Buffer.from('010002', 'hex') }],
});
