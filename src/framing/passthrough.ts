import { z } from 'zod';
import { sizeOption } from '../core/units.js';
import { BufferedFramer } from './buffered-framer.js';
import type { Frame, FramerFactory } from './framer.js';
import type { FramerPlugin } from './registry.js';

export const passthroughOptionsSchema = z.strictObject({
  /** Most bytes held in chunks pushed but not yet taken with next(). */
  maxBufferedBytes: sizeOption(1).default(16 * 1024 * 1024),
});
export type PassthroughOptions = z.output<typeof passthroughOptionsSchema>;

/** The defaults, parsed once: a framed session without configured framing makes two framers per connection. */
const PASSTHROUGH_DEFAULTS: PassthroughOptions = Object.freeze(passthroughOptionsSchema.parse({}));

/**
 * Raw bytes: each pushed chunk is one frame (empty chunks produce none); encode is the identity.
 * Frame boundaries follow the transport's reads, so they carry no meaning.
 */
export class PassthroughFramer extends BufferedFramer {
  readonly name = 'passthrough';
  readonly passthrough = true;

  constructor(options: PassthroughOptions = PASSTHROUGH_DEFAULTS) {
    super(options.maxBufferedBytes);
  }

  protected decodeOne(): Frame | null {
    return this.buf.length === 0 ? null : this.buf.consumeChunk();
  }

  encode(frame: Frame): Buffer {
    return frame;
  }

  encodeTo(frame: Frame, out: Buffer[]): void {
    out.push(frame);
  }
}

/** A factory of option-less passthrough framers (raw bytes, one frame per chunk), for owners with no framing configured. */
export const PASSTHROUGH_FACTORY: FramerFactory = { name: 'passthrough', create: () => new PassthroughFramer() };

export const passthroughFramerPlugin: FramerPlugin<PassthroughOptions> = {
  name: 'passthrough',
  description: 'Raw bytes: every received chunk is one frame and encoding is the identity (zero framing cost).',
  optionsSchema: passthroughOptionsSchema,
  factory(options: PassthroughOptions): FramerFactory {
    return { name: 'passthrough', create: () => new PassthroughFramer(options) };
  },
};
