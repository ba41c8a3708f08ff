import type { FaultPlugin } from '../plugin.js';

/** Toxiproxy `slow_close`: data passes; the end of stream (FIN) is held back for `delay` ms. */
export const slowCloseFault: FaultPlugin = {
  type: 'slow_close',
  description: 'Delay the close (FIN) of the stream by delay milliseconds.',
  defaultScope: 'connection',
  defaultStream: 'downstream',
  options: {
    delay: { description: 'Delay before the close is forwarded, in milliseconds.', type: 'integer', default: 0, min: 0, unit: 'ms' },
  },
  create(options) {
    const delay = options.delay as number;
    return {
      async end(io) {
        io.injected();
        await io.sleep(delay);
        await io.end();
      },
    };
  },
};
