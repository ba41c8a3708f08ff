import type { FaultPlugin } from '../plugin.js';

/**
 * Toxiproxy `reset_peer`: when the first frame (or the end of stream) arrives, wait `timeout` ms, then close both
 * sides with a TCP RST; that frame is not forwarded. Unlike Toxiproxy, toxicity is honoured and the RST is real on
 * connections that were already open when the fault was added.
 */
export const resetPeerFault: FaultPlugin = {
  type: 'reset_peer',
  description: 'Reset the connection (TCP RST) timeout ms after data or the close arrives.',
  defaultScope: 'connection',
  defaultStream: 'downstream',
  options: {
    timeout: { description: 'Milliseconds to wait before resetting.', type: 'integer', default: 0, min: 0, unit: 'ms' },
  },
  create(options) {
    const timeout = options.timeout as number;
    const reset = async (io: import('../plugin.js').FaultIO): Promise<void> => {
      io.injected();
      await io.sleep(timeout);
      if (!io.signal.aborted) io.reset();
    };
    return {
      chunk: (_c, io) => reset(io),
      end: (io) => reset(io),
    };
  },
};
