import { performance } from 'node:perf_hooks';
import { chunkPiece, type FaultPlugin } from '../plugin.js';

/**
 * Toxiproxy `bandwidth`: at most `rate` KB/s (KB = 1000 bytes) per connection and direction. Frames larger than
 * 100 ms worth of bytes are sent in 100 ms pieces; the schedule carries rounding so the average rate is exact.
 */
export const bandwidthFault: FaultPlugin = {
  type: 'bandwidth',
  description: 'Limit throughput to rate KB/s (1 KB = 1000 bytes); 0 or less = unlimited.',
  defaultScope: 'connection',
  defaultStream: 'downstream',
  options: {
    rate: { description: 'Rate in KB/s (1000 bytes per second each).', type: 'integer', default: 0, unit: 'KB/s' },
  },
  create(options) {
    const rate = options.rate as number;
    const bytesPerMs = rate; // rate KB/s = rate bytes per ms
    const piece = Math.max(1, rate * 100);
    let next = 0;
    return {
      async chunk(chunk, io) {
        if (rate <= 0) return io.push(chunk);
        io.injected();
        for (let off = 0; off < chunk.data.length; off += piece) {
          const part = chunkPiece(chunk, off, off + piece);
          const data = part.data;
          const now = performance.now();
          next = Math.max(next, now) + data.length / bytesPerMs;
          const wait = next - now;
          if (wait >= 1) await io.sleep(wait);
          await io.push(part);
        }
      },
    };
  },
};
