import type { FaultPlugin } from '../plugin.js';

/** Vaurien `blackout`: close the connection at once; nothing is forwarded. */
export const blackoutFault: FaultPlugin = {
  type: 'blackout',
  description: 'Close the connection immediately, forwarding nothing.',
  defaultScope: 'request',
  defaultStream: 'upstream',
  options: {},
  create() {
    return {
      chunk(_chunk, io) {
        io.injected();
        io.close('blackout');
      },
    };
  },
};
