import type { FaultPlugin } from '../plugin.js';

/**
 * Vaurien `delay`: sleep `sleep` seconds per request — before it is forwarded (`before: true`), or after it was
 * forwarded (`before: false`, holding back what follows it in that direction).
 */
export const delayFault: FaultPlugin = {
  type: 'delay',
  description: 'Sleep before (or after) forwarding each request.',
  defaultScope: 'request',
  defaultStream: 'upstream',
  options: {
    sleep: { description: 'Seconds to sleep.', type: 'number', default: 1, min: 0, unit: 's' },
    before: { description: 'Sleep before forwarding the request (false: after).', type: 'boolean', default: true },
  },
  create(options) {
    const ms = (options.sleep as number) * 1000;
    const before = options.before as boolean;
    return {
      async chunk(chunk, io) {
        const first = chunk.info === undefined || chunk.info.start;
        if (!first) return io.push(chunk);
        io.injected();
        if (before) {
          await io.sleep(ms);
          await io.push(chunk);
        } else {
          await io.push(chunk);
          await io.sleep(ms);
        }
      },
    };
  },
};
