import { z } from 'zod';
import { FramerRegistry, type FramerPlugin } from '../../src/framing/registry.js';
import type { FramerFactory } from '../../src/framing/framer.js';

/** A registry of our own (no dependency on builtins): names and option shapes like the built-in framers. */
export function testRegistry(): FramerRegistry {
  const factory = (name: string): FramerFactory => ({
    name,
    create() {
      throw new Error('not used in config tests');
    },
  });
  const plugin = <O extends Record<string, unknown>>(name: string, optionsSchema: z.ZodType<O>): FramerPlugin<O> => ({
    name,
    description: name,
    optionsSchema,
    factory: () => factory(name),
  });
  return new FramerRegistry()
    .register(plugin('passthrough', z.strictObject({ maxBufferedBytes: z.number().int().positive().default(16 << 20) })))
    .register(
      plugin(
        'line',
        z.strictObject({
          delimiter: z.enum(['lf', 'crlf', 'any']).default('any'),
          stripDelimiter: z.boolean().default(true),
          maxLength: z.number().int().positive().default(65536),
        }),
      ),
    )
    .register(plugin('fixed', z.strictObject({ size: z.number().int().positive() })));
}
