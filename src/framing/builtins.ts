import { cobsFramerPlugin } from './cobs.js';
import { delimiterFramerPlugin } from './delimiter.js';
import { fixedFramerPlugin } from './fixed.js';
import { lengthPrefixedFramerPlugin } from './length-prefixed.js';
import { lineFramerPlugin } from './line.js';
import { netstringFramerPlugin } from './netstring.js';
import { passthroughFramerPlugin } from './passthrough.js';
import { FramerRegistry } from './registry.js';

/** Register the built-in framers (passthrough, line, delimiter, length-prefixed, netstring, cobs, fixed). */
export function registerBuiltinFramers(registry: FramerRegistry): FramerRegistry {
  return registry
    .register(passthroughFramerPlugin)
    .register(lineFramerPlugin)
    .register(delimiterFramerPlugin)
    .register(lengthPrefixedFramerPlugin)
    .register(netstringFramerPlugin)
    .register(cobsFramerPlugin)
    .register(fixedFramerPlugin);
}

/** A new registry holding the built-in framers. */
export function createFramerRegistry(): FramerRegistry {
  return registerBuiltinFramers(new FramerRegistry());
}
