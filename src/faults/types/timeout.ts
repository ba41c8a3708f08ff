import type { FaultPlugin } from '../plugin.js';

/**
 * Toxiproxy `timeout`: every frame is dropped. With `timeout` > 0 the connection is closed after that many ms
 * without a frame (re-armed on each frame); 0 = never closed. Removing the fault closes the connection (the
 * dropped bytes make it unusable), as Toxiproxy does since its hang fix. Updating it closes the connection too once
 * it dropped a frame of it (the rebuilt fault might let later data through, answered out of turn).
 */
export const timeoutFault: FaultPlugin = {
  type: 'timeout',
  description: 'Stop all data; close the connection after timeout ms of silence (0 = never). Removing it closes the connection.',
  defaultScope: 'connection',
  defaultStream: 'downstream',
  options: {
    timeout: { description: 'Milliseconds without data before the connection is closed; 0 = keep it open.', type: 'integer', default: 0, min: 0, unit: 'ms' },
  },
  create(options) {
    const timeout = options.timeout as number;
    let timer: NodeJS.Timeout | undefined;
    /** A frame of this connection was dropped. */
    let swallowed = false;
    const arm = (io: Parameters<NonNullable<import('../plugin.js').FaultInstance['start']>>[0]): void => {
      if (timeout <= 0 || io.signal.aborted) return;
      if (timer) timer.refresh();
      else {
        timer = setTimeout(() => io.close(`no data for ${timeout} ms`), timeout);
        timer.unref();
        io.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
      }
    };
    return {
      start(io) {
        io.injected();
        arm(io);
      },
      chunk(_chunk, io) {
        if (!swallowed) {
          swallowed = true;
          // Updated (not removed: removed() closes) after dropping data: the stream is unusable, end it.
          io.signal.addEventListener('abort', () => io.close('timeout fault changed after it dropped data'), { once: true });
        }
        arm(io);
      },
      end(io) {
        clearTimeout(timer);
        io.close('end of stream while timed out');
      },
      removed(io) {
        clearTimeout(timer);
        io.close('timeout fault removed');
      },
    };
  },
};
