import type { FaultPlugin } from '../plugin.js';

/**
 * Toxiproxy `reset_peer`: when the first frame (or the end of stream) arrives, wait `timeout` ms, then close both
 * sides with a TCP RST; that frame is not forwarded (unless the fault is removed or updated during the wait: the
 * frame then goes on, no byte in flight is lost by a reconfiguration). Unlike Toxiproxy, toxicity is honoured and the RST is real on
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
    /** True when the connection was reset; false when the fault was removed or changed during the wait. */
    const reset = async (io: import('../plugin.js').FaultIO): Promise<boolean> => {
      io.injected();
      await io.sleep(timeout);
      if (io.signal.aborted) return false;
      io.reset();
      return true;
    };
    // Removed (or updated) while waiting: the frame or FIN it held goes on, like any frame in flight.
    return {
      chunk: async (c, io) => {
        if (!(await reset(io))) await io.push(c);
      },
      end: async (io) => {
        if (!(await reset(io))) await io.end();
      },
    };
  },
};
