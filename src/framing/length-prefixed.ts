import { z } from 'zod';
import { sizeOption } from '../core/units.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from './buffered-framer.js';
import type { Frame, FramerFactory } from './framer.js';
import type { FramerPlugin } from './registry.js';
const INT64_SIGN = 1n << 63n;

/** Largest raw value a length field of `len` bytes can carry (8 bytes: a signed long, as in Netty). */
function maxRawValue(len: number): number {
  return len === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * len) - 1;
}

export const lengthPrefixedOptionsSchema = z
  .strictObject({
    /** Bytes before the length field. */
    lengthFieldOffset: z.number().int().min(0).default(0),
    /** Size of the length field: 1, 2, 3, 4 (unsigned) or 8 (signed, as Netty). */
    lengthFieldLength: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4), z.literal(8)]).default(4),
    byteOrder: z.enum(['big', 'little']).default('big'),
    /** Added to the field value to get the bytes that follow the length field (negative when it counts the header). */
    lengthAdjustment: z.number().int().default(0),
    /** Bytes removed from the start of each decoded frame (lengthFieldOffset + lengthFieldLength drops the header). */
    initialBytesToStrip: z.number().int().min(0).default(0),
    /** Largest whole frame on the wire, header included (Netty semantics). */
    maxFrameLength: sizeOption(1).default(16 * 1024 * 1024),
    /** Most bytes held while waiting for a frame to complete. Default: maxFrameLength + 64 KiB. */
    maxBufferedBytes: sizeOption(1).optional(),
  })
  .superRefine((o, ctx) => {
    for (const p of lengthPrefixedProblems(o)) ctx.addIssue({ code: 'custom', path: [p.path], message: p.message });
  });
export type LengthPrefixedOptions = z.output<typeof lengthPrefixedOptionsSchema>;

/** Combinations of options under which no frame could ever be decoded (Netty's constructor checks, and more). */
export function lengthPrefixedProblems(o: LengthPrefixedOptions): { path: keyof LengthPrefixedOptions; message: string }[] {
  const out: { path: keyof LengthPrefixedOptions; message: string }[] = [];
  const end = o.lengthFieldOffset + o.lengthFieldLength;
  if (end > o.maxFrameLength) {
    out.push({ path: 'lengthFieldOffset', message: `the length field (ending at byte ${end}) must fit in maxFrameLength (${o.maxFrameLength})` });
  }
  if (o.initialBytesToStrip > o.maxFrameLength) {
    out.push({ path: 'initialBytesToStrip', message: `must not exceed maxFrameLength (${o.maxFrameLength}): no frame could be decoded` });
  }
  if (-o.lengthAdjustment > maxRawValue(o.lengthFieldLength)) {
    out.push({ path: 'lengthAdjustment', message: 'so negative that every length field value would be malformed' });
  }
  if (end + o.lengthAdjustment > o.maxFrameLength) {
    out.push({ path: 'lengthAdjustment', message: `even an empty frame would exceed maxFrameLength (${o.maxFrameLength})` });
  }
  if (o.maxBufferedBytes !== undefined && o.maxBufferedBytes < o.maxFrameLength) {
    out.push({ path: 'maxBufferedBytes', message: `must be at least maxFrameLength (${o.maxFrameLength})` });
  }
  return out;
}

/**
 * Length-field framing with Netty LengthFieldBasedFrameDecoder semantics:
 * `frameLength = fieldValue + lengthAdjustment + lengthFieldOffset + lengthFieldLength` (the whole frame), and the
 * decoded frame is that frame minus its first `initialBytesToStrip` bytes. Sizes are checked as soon as the header
 * arrives, so an oversized frame is never buffered.
 *
 * Encoding: with `initialBytesToStrip = lengthFieldOffset + lengthFieldLength` (header stripped) encode prepends a
 * header (zero bytes before the length field, then the length); with `initialBytesToStrip = 0` the frame carries
 * its header and encode sets its length field (returning the frame itself when it is already right). Other strip
 * values lose bytes on decode that encode cannot restore: encode throws SWY_CONFIG_INVALID.
 */
export class LengthPrefixedFramer extends BufferedFramer {
  readonly name = 'length-prefixed';
  readonly passthrough = false;
  readonly #fieldOffset: number;
  readonly #fieldLength: 1 | 2 | 3 | 4 | 8;
  readonly #little: boolean;
  readonly #adjustment: number;
  readonly #strip: number;
  readonly #maxFrameLength: number;
  readonly #endOffset: number;
  readonly #encodeMode: 'prepend' | 'rewrite' | 'none';
  /** Whole length of the frame whose header was read, or -1. */
  #pending = -1;

  constructor(options: LengthPrefixedOptions = lengthPrefixedOptionsSchema.parse({})) {
    const problem = lengthPrefixedProblems(options)[0];
    if (problem) throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `length-prefixed: ${problem.path}: ${problem.message}`);
    super(options.maxBufferedBytes ?? options.maxFrameLength + READ_HEADROOM);
    this.#fieldOffset = options.lengthFieldOffset;
    this.#fieldLength = options.lengthFieldLength;
    this.#little = options.byteOrder === 'little';
    this.#adjustment = options.lengthAdjustment;
    this.#strip = options.initialBytesToStrip;
    this.#maxFrameLength = options.maxFrameLength;
    this.#endOffset = this.#fieldOffset + this.#fieldLength;
    this.#encodeMode = this.#strip === this.#endOffset ? 'prepend' : this.#strip === 0 ? 'rewrite' : 'none';
  }

  protected override resetDecodeState(): void {
    this.#pending = -1;
  }

  encode(frame: Frame): Buffer {
    if (this.#encodeMode === 'prepend') {
      const frameLength = this.#endOffset + frame.length;
      const raw = this.#rawFor(frameLength);
      const out = Buffer.alloc(frameLength);
      this.#writeField(out, raw);
      frame.copy(out, this.#endOffset);
      return out;
    }
    if (this.#encodeMode === 'rewrite') {
      const raw = this.#rawForKept(frame);
      if (this.#readField(frame) === raw) return frame;
      const out = Buffer.from(frame);
      this.#writeField(out, raw);
      return out;
    }
    throw this.#cannotEncode();
  }

  /**
   * Header stripped: a new header, then the frame itself. Header kept: the frame itself when its length field is
   * right, else a copy of just the header with the field rewritten, then the rest of the frame (never modified).
   */
  encodeTo(frame: Frame, out: Buffer[]): void {
    if (this.#encodeMode === 'prepend') {
      const raw = this.#rawFor(this.#endOffset + frame.length);
      const header = Buffer.allocUnsafe(this.#endOffset).fill(0, 0, this.#fieldOffset);
      this.#writeField(header, raw);
      out.push(header, frame);
      return;
    }
    if (this.#encodeMode === 'rewrite') {
      const raw = this.#rawForKept(frame);
      if (this.#readField(frame) === raw) {
        out.push(frame);
        return;
      }
      const header = Buffer.from(frame.subarray(0, this.#endOffset));
      this.#writeField(header, raw);
      out.push(header, frame.subarray(this.#endOffset));
      return;
    }
    throw this.#cannotEncode();
  }

  protected decodeOne(): Frame | null {
    const buf = this.buf;
    let frameLength = this.#pending;
    if (frameLength < 0) {
      if (buf.length < this.#endOffset) return this.#waitForMore();
      frameLength = this.#readFrameLength();
      this.#pending = frameLength;
    }
    if (buf.length < frameLength) return this.#waitForMore();
    this.#pending = -1;
    if (this.#strip > 0) buf.skip(this.#strip);
    return buf.consume(frameLength - this.#strip);
  }

  /** The whole frame length from the header at the head of the buffer, with Netty's checks in Netty's order. */
  #readFrameLength(): number {
    const fixed = this.#adjustment + this.#endOffset;
    let frameLength: number;
    if (this.#fieldLength === 8) {
      const raw = this.#little ? this.buf.readUIntLE(this.#fieldOffset, 8) : this.buf.readUIntBE(this.#fieldOffset, 8);
      if (raw >= INT64_SIGN) throw malformed(`length-prefixed: negative length field (${raw - (INT64_SIGN << 1n)})`);
      const total = raw + BigInt(fixed);
      if (total < BigInt(this.#endOffset)) throw this.#tooSmall(total);
      if (total > BigInt(this.#maxFrameLength)) throw this.#tooLarge(total, 'decode');
      frameLength = Number(total);
    } else {
      const raw = this.#little ? this.buf.readUIntLE(this.#fieldOffset, this.#fieldLength) : this.buf.readUIntBE(this.#fieldOffset, this.#fieldLength);
      frameLength = raw + fixed;
      if (frameLength < this.#endOffset) throw this.#tooSmall(frameLength);
      if (frameLength > this.#maxFrameLength) throw this.#tooLarge(frameLength, 'decode');
    }
    if (this.#strip > frameLength) {
      throw malformed(`length-prefixed: initialBytesToStrip (${this.#strip}) exceeds the frame length (${frameLength})`);
    }
    return frameLength;
  }

  #waitForMore(): null {
    if (this.ended && this.buf.length > 0) {
      throw new SwitchyardError(
        ErrorCodes.FRAME_TRUNCATED,
        `length-prefixed: input ended inside a frame (${this.buf.length} of ${this.#pending < 0 ? 'a header of ' + this.#endOffset : this.#pending} bytes)`,
        { details: { framer: this.name, buffered: this.buf.length, expected: this.#pending < 0 ? this.#endOffset : this.#pending } },
      );
    }
    return null;
  }

  /** The length field value for a frame that carries its header (encode mode 'rewrite'). */
  #rawForKept(frame: Buffer): number {
    if (frame.length < this.#endOffset) {
      throw malformed(`length-prefixed: a frame must hold its ${this.#endOffset}-byte header, got ${frame.length} bytes`);
    }
    return this.#rawFor(frame.length);
  }

  #cannotEncode(): SwitchyardError {
    return new SwitchyardError(
      ErrorCodes.CONFIG_INVALID,
      `length-prefixed: cannot encode with initialBytesToStrip=${this.#strip}; encoding needs 0 (frames keep their header) ` +
        `or ${this.#endOffset} (lengthFieldOffset + lengthFieldLength: header stripped)`,
    );
  }

  /** The length field value for a whole frame of `frameLength` bytes; throws when it cannot be represented. */
  #rawFor(frameLength: number): number {
    if (frameLength > this.#maxFrameLength) throw this.#tooLarge(frameLength, 'encode');
    const raw = frameLength - this.#endOffset - this.#adjustment;
    if (raw < 0) throw malformed(`length-prefixed: a frame of ${frameLength} bytes is too short for lengthAdjustment ${this.#adjustment}`);
    if (raw > maxRawValue(this.#fieldLength)) throw this.#tooLarge(frameLength, 'encode');
    return raw;
  }

  #readField(frame: Buffer): number {
    const at = this.#fieldOffset;
    if (this.#fieldLength === 8) {
      const v = this.#little ? frame.readBigUInt64LE(at) : frame.readBigUInt64BE(at);
      return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
    }
    return this.#little ? frame.readUIntLE(at, this.#fieldLength) : frame.readUIntBE(at, this.#fieldLength);
  }

  #writeField(out: Buffer, raw: number): void {
    const at = this.#fieldOffset;
    if (this.#fieldLength === 8) {
      if (this.#little) out.writeBigUInt64LE(BigInt(raw), at);
      else out.writeBigUInt64BE(BigInt(raw), at);
    } else if (this.#little) out.writeUIntLE(raw, at, this.#fieldLength);
    else out.writeUIntBE(raw, at, this.#fieldLength);
  }

  #tooSmall(frameLength: number | bigint): SwitchyardError {
    return malformed(`length-prefixed: adjusted frame length (${frameLength}) is less than the header length (${this.#endOffset})`);
  }

  #tooLarge(length: number | bigint, op: 'decode' | 'encode'): SwitchyardError {
    return new SwitchyardError(
      ErrorCodes.FRAME_TOO_LARGE,
      `length-prefixed: ${op === 'decode' ? 'announced' : 'cannot encode'} a frame of ${length} bytes, maxFrameLength is ${this.#maxFrameLength}`,
      { details: { framer: 'length-prefixed', length: Number(length), limit: this.#maxFrameLength } },
    );
  }
}

function malformed(message: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, message, { details: { framer: 'length-prefixed' } });
}

export const lengthPrefixedFramerPlugin: FramerPlugin<LengthPrefixedOptions> = {
  name: 'length-prefixed',
  description: 'Frames with a binary length field (Netty LengthFieldBasedFrameDecoder semantics) and the matching encoder.',
  optionsSchema: lengthPrefixedOptionsSchema,
  factory(options: LengthPrefixedOptions): FramerFactory {
    return { name: 'length-prefixed', create: () => new LengthPrefixedFramer(options) };
  },
};
