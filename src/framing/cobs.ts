import { z } from 'zod';
import { sizeOption } from '../core/units.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from './buffered-framer.js';
import type { Frame, FramerFactory } from './framer.js';
import type { FramerPlugin } from './registry.js';

/** Longest COBS encoding (without the 0x00 terminator) of a payload of `n` bytes. */
export function cobsMaxEncodedLength(n: number): number {
  return n + 1 + Math.floor(n / 254);
}

export const cobsOptionsSchema = z
  .strictObject({
    /** Longest decoded payload. */
    maxLength: sizeOption(1).default(64 * 1024),
    /** Most bytes held while waiting for a frame to complete. Default: longest encoding + 1 + 64 KiB. */
    maxBufferedBytes: sizeOption(1).optional(),
  })
  .superRefine((o, ctx) => {
    const least = cobsMaxEncodedLength(o.maxLength) + 1;
    if (o.maxBufferedBytes !== undefined && o.maxBufferedBytes < least) {
      ctx.addIssue({ code: 'custom', path: ['maxBufferedBytes'], message: `must hold the longest encoded frame (${least} bytes)` });
    }
  });
export type CobsOptions = z.output<typeof cobsOptionsSchema>;

/** COBS-encode `frame` and append the 0x00 terminator (no trailing 0x01 after a final 0xFF block). */
export function cobsEncode(frame: Buffer): Buffer {
  const n = frame.length;
  const out = Buffer.allocUnsafe(cobsMaxEncodedLength(n) + 1);
  let codeAt = 0;
  let o = 1;
  let code = 1;
  for (let i = 0; i < n; i++) {
    const b = frame[i]!;
    if (b === 0) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
    } else {
      out[o++] = b;
      if (++code === 0xff && i + 1 < n) {
        out[codeAt] = code;
        codeAt = o++;
        code = 1;
      }
    }
  }
  out[codeAt] = code;
  out[o++] = 0;
  return out.subarray(0, o);
}

/** Decode one COBS block (without its terminator). Throws SWY_FRAME_MALFORMED on an invalid block. */
export function cobsDecode(block: Buffer): Buffer {
  const n = block.length;
  if (n === 0) throw malformed('cobs: empty block (0x00 without a code byte; an empty frame is encoded 01 00)');
  const out = Buffer.allocUnsafe(n);
  let i = 0;
  let o = 0;
  while (i < n) {
    const code = block[i]!;
    if (code === 0) throw malformed(`cobs: zero byte inside a block at offset ${i}`);
    const end = i + code;
    if (end > n) throw malformed(`cobs: code byte 0x${code.toString(16).padStart(2, '0')} at offset ${i} overruns the ${n}-byte block`);
    block.copy(out, o, i + 1, end);
    o += code - 1;
    i = end;
    if (code !== 0xff && i < n) out[o++] = 0;
  }
  return out.subarray(0, o);
}

/**
 * Consistent Overhead Byte Stuffing with a 0x00 frame terminator (standard COBS, no zero-pair elimination).
 * Unlike Tendril it validates: a code byte that overruns its block, or an empty block, is SWY_FRAME_MALFORMED.
 */
export class CobsFramer extends BufferedFramer {
  readonly name = 'cobs';
  readonly passthrough = false;
  readonly #maxLength: number;
  readonly #maxEncoded: number;
  /** Bytes from the head already known to hold no terminator. */
  #scanned = 0;

  constructor(options: CobsOptions = cobsOptionsSchema.parse({})) {
    const maxEncoded = cobsMaxEncodedLength(options.maxLength);
    super(options.maxBufferedBytes ?? maxEncoded + 1 + READ_HEADROOM);
    this.#maxLength = options.maxLength;
    this.#maxEncoded = maxEncoded;
  }

  protected override resetDecodeState(): void {
    this.#scanned = 0;
  }

  encode(frame: Frame): Buffer {
    if (frame.length > this.#maxLength) throw this.#tooLarge(frame.length, 'encode');
    return cobsEncode(frame);
  }

  protected decodeOne(): Frame | null {
    const buf = this.buf;
    const zero = buf.indexOf(0, this.#scanned);
    if (zero < 0) {
      const held = buf.length;
      this.#scanned = held;
      if (held > this.#maxEncoded) throw this.#tooLarge(held, 'encoded');
      if (this.ended && held > 0) {
        throw new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `cobs: input ended inside a frame (${held} bytes without a 0x00 terminator)`, {
          details: { framer: 'cobs', buffered: held },
        });
      }
      return null;
    }
    this.#scanned = 0;
    if (zero > this.#maxEncoded) throw this.#tooLarge(zero, 'encoded');
    const block = buf.consume(zero);
    buf.skip(1);
    const frame = cobsDecode(block);
    if (frame.length > this.#maxLength) throw this.#tooLarge(frame.length, 'decoded');
    return frame;
  }

  #tooLarge(length: number, what: 'encode' | 'encoded' | 'decoded'): SwitchyardError {
    const text =
      what === 'encode'
        ? `cannot encode a frame of ${length} bytes`
        : what === 'encoded'
          ? `received ${length}+ encoded bytes in one frame (more than the ${this.#maxEncoded} a maxLength frame needs)`
          : `received a frame of ${length} bytes`;
    return new SwitchyardError(ErrorCodes.FRAME_TOO_LARGE, `cobs: ${text}, maxLength is ${this.#maxLength}`, {
      details: { framer: 'cobs', length, limit: this.#maxLength },
    });
  }
}

function malformed(message: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, message, { details: { framer: 'cobs' } });
}

export const cobsFramerPlugin: FramerPlugin<CobsOptions> = {
  name: 'cobs',
  description: 'Consistent Overhead Byte Stuffing frames terminated by 0x00, with validation and a maximum payload size.',
  optionsSchema: cobsOptionsSchema,
  factory(options: CobsOptions): FramerFactory {
    return { name: 'cobs', create: () => new CobsFramer(options) };
  },
};
