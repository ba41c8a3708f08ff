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
      end(io) {
        // Hold the close too: a hung peer never answers. Removed or updated, the fault lets the FIN go on (no byte
        // in flight is lost by a reconfiguration; the data it swallowed stays swallowed).
        return new Promise<void>((resolve) => {
          if (io.signal.aborted) resolve();
          else io.signal.addEventListener('abort', () => resolve(), { once: true });
        }).then(() => io.end());
      },
    };
  },
};
