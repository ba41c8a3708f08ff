import { z } from 'zod';
import { ByteList } from '../core/byte-list.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { Frame, Framer, FramerFactory } from './framer.js';
import type { FramerPlugin } from './registry.js';

export const passthroughOptionsSchema = z.strictObject({
  /** Most bytes held in chunks pushed but not yet taken with next(). */
  maxBufferedBytes: z.number().int().positive().default(16 * 1024 * 1024),
});
export type PassthroughOptions = z.output<typeof passthroughOptionsSchema>;

/**
 * Raw bytes: each pushed chunk is one frame (empty chunks produce none); encode is the identity.
 * Frame boundaries follow the transport's reads, so they carry no meaning.
 */
export class PassthroughFramer implements Framer {
  readonly name = 'passthrough';
  readonly passthrough = true;
  private readonly buf: ByteList;
  private ended = false;
  private failure: unknown;

  constructor(options: PassthroughOptions = passthroughOptionsSchema.parse({})) {
    this.buf = new ByteList({ limit: options.maxBufferedBytes });
  }

  get bufferedBytes(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.ended) throw new SwitchyardError(ErrorCodes.INTERNAL, 'passthrough: push() after end()');
    try {
      this.buf.append(chunk);
    } catch (err) {
      this.failure = err;
      throw err;
    }
  }

  next(): Frame | null {
    if (this.failure !== undefined) throw this.failure;
    return this.buf.length === 0 ? null : this.buf.consumeChunk();
  }

  end(): void {
    this.ended = true;
  }

  takeBuffered(): Buffer {
    return this.buf.consumeAll();
  }

  encode(frame: Frame): Buffer {
    return frame;
  }
}

export const passthroughFramerPlugin: FramerPlugin<PassthroughOptions> = {
  name: 'passthrough',
  description: 'Raw bytes: every received chunk is one frame and encoding is the identity (zero framing cost).',
  optionsSchema: passthroughOptionsSchema,
  factory(options: PassthroughOptions): FramerFactory {
    return { name: 'passthrough', create: () => new PassthroughFramer(options) };
  },
};
