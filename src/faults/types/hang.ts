import type { FaultPlugin } from '../plugin.js';

/** Vaurien `hang`: read what the peer sends, forward nothing, keep the connection open. */
export const hangFault: FaultPlugin = {
  type: 'hang',
  description: 'Swallow the data and hold the connection open without answering.',
  defaultScope: 'request',
  defaultStream: 'upstream',
  options: {},
  create() {
    return {
      chunk(chunk, io) {
        if (chunk.info === undefined || chunk.info.start) io.injected();
      },
      end() {
        // Hold the close too: a hung peer never answers.
      },
    };
  },
};
