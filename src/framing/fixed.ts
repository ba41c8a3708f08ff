import { z } from 'zod';
import { sizeOption } from '../core/units.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { BufferedFramer, READ_HEADROOM } from './buffered-framer.js';
import type { Frame, FramerFactory } from './framer.js';
import type { FramerPlugin } from './registry.js';

export const fixedOptionsSchema = z
  .strictObject({
    /** Bytes per frame. */
    size: sizeOption(1),
    /** Most bytes held while waiting for a frame to complete. Default: size + 64 KiB. */
    maxBufferedBytes: sizeOption(1).optional(),
  })
  .superRefine((o, ctx) => {
    if (o.maxBufferedBytes !== undefined && o.maxBufferedBytes < o.size) {
      ctx.addIssue({ code: 'custom', path: ['maxBufferedBytes'], message: `must be at least size (${o.size})` });
    }
  });
export type FixedOptions = z.output<typeof fixedOptionsSchema>;

/** Frames of exactly `size` bytes. Bytes left at end of input are SWY_FRAME_TRUNCATED. */
export class FixedFramer extends BufferedFramer {
  readonly name = 'fixed';
  readonly passthrough = false;
  readonly #size: number;

  constructor(options: FixedOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `fixed: size must be a positive integer, got ${options.size}`);
    }
    super(options.maxBufferedBytes ?? options.size + READ_HEADROOM);
    this.#size = options.size;
  }

  protected decodeOne(): Frame | null {
    const held = this.buf.length;
    if (held >= this.#size) return this.buf.consume(this.#size);
    if (this.ended && held > 0) {
      throw new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `fixed: input ended inside a frame (${held} of ${this.#size} bytes)`, {
        details: { framer: 'fixed', buffered: held, expected: this.#size },
      });
    }
    return null;
  }

  encode(frame: Frame): Buffer {
    if (frame.length === this.#size) return frame;
    const code = frame.length > this.#size ? ErrorCodes.FRAME_TOO_LARGE : ErrorCodes.FRAME_MALFORMED;
    throw new SwitchyardError(code, `fixed: a frame must be exactly ${this.#size} bytes, got ${frame.length}`, {
      details: { framer: 'fixed', length: frame.length, size: this.#size },
    });
  }
}

export const fixedFramerPlugin: FramerPlugin<FixedOptions> = {
  name: 'fixed',
  description: 'Frames of a fixed number of bytes.',
  optionsSchema: fixedOptionsSchema,
  factory(options: FixedOptions): FramerFactory {
    return { name: 'fixed', create: () => new FixedFramer(options) };
  },
};
