import { performance } from 'node:perf_hooks';
import type { FaultPlugin } from '../plugin.js';

/**
 * Toxiproxy `latency`: every frame is held until `latency ± jitter` ms after it *arrived*, so a burst is not delayed
 * once per frame, while two latency faults in a row add up (each advances the frame's timestamp).
 */
export const latencyFault: FaultPlugin = {
  type: 'latency',
  description: 'Delay every frame by latency ± jitter milliseconds, measured from its arrival.',
  defaultScope: 'connection',
  defaultStream: 'downstream',
  options: {
    latency: { description: 'Delay in milliseconds.', type: 'integer', default: 0, unit: 'ms' },
    jitter: { description: 'Uniform random variation of the delay, ± milliseconds.', type: 'integer', default: 0, min: 0, unit: 'ms' },
  },
  create(options, ctx) {
    const latency = options.latency as number;
    const jitter = options.jitter as number;
    return {
      chunk(chunk, io) {
        const delay = jitter > 0 ? latency + ctx.random.int(2 * jitter) - jitter : latency;
        if (delay <= 0) return io.push(chunk);
        const due = chunk.time + delay;
        chunk.time = due;
        const wait = due - performance.now();
        io.injected();
        if (wait < 1) return io.push(chunk);
        return io.sleep(wait).then(() => io.push(chunk));
      },
    };
  },
};
