import type { FaultPlugin } from '../plugin.js';

/** Vaurien `abort`: forward the request, then close the connection before the response comes back. */
export const abortFault: FaultPlugin = {
  type: 'abort',
  description: 'Forward the request, then close the connection before the answer (client aborted).',
  defaultScope: 'request',
  defaultStream: 'upstream',
  options: {},
  create() {
    return {
      async chunk(chunk, io) {
        await io.push(chunk);
        if (chunk.info === undefined || chunk.info.end) {
          io.injected();
          io.close('abort after the request');
        }
      },
    };
  },
};
