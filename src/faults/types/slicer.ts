import { performance } from 'node:perf_hooks';
import { chunkPiece, type FaultPlugin } from '../plugin.js';
import type { Random } from '../random.js';

/**
 * Toxiproxy `slicer`: each frame is cut into pieces of about `average_size` bytes (± `size_variation`, by recursive
 * halving around a random midpoint), sent `delay` microseconds apart.
 */
export const slicerFault: FaultPlugin = {
  type: 'slicer',
  description: 'Slice data into pieces of average_size ± size_variation bytes, delay microseconds apart.',
  defaultScope: 'connection',
  defaultStream: 'downstream',
  options: {
    average_size: { description: 'Average piece size in bytes.', type: 'integer', default: 1, min: 1, unit: 'bytes' },
    size_variation: { description: 'Variation of the piece size in bytes (must be smaller than average_size).', type: 'integer', default: 0, min: 0, unit: 'bytes' },
    delay: { description: 'Pause between pieces in microseconds.', type: 'integer', default: 0, min: 0, unit: 'µs' },
  },
  create(options, ctx) {
    const avg = options.average_size as number;
    const variation = Math.min(options.size_variation as number, Math.max(0, avg - 1));
    const delayMs = (options.delay as number) / 1000;
    let next = 0;
    return {
      async chunk(chunk, io) {
        io.injected();
        const cuts = slice(0, chunk.data.length, avg, variation, ctx.random);
        for (let i = 0; i + 1 < cuts.length; i++) {
          await io.push(chunkPiece(chunk, cuts[i]!, cuts[i + 1]!));
          if (delayMs > 0) {
            const now = performance.now();
            next = Math.max(next, now) + delayMs;
            if (next - now >= 1) await io.sleep(next - now);
          }
        }
      },
    };
  },
};

/** Cut points [start, …, end] (Toxiproxy's recursive chunking). */
export function slice(start: number, end: number, avg: number, variation: number, random: Random): number[] {
  if (end - start - avg <= variation) return [start, end];
  let mid = start + Math.floor((end - start) / 2);
  if (variation > 0) mid += random.int(variation * 2) - variation;
  mid = Math.min(end - 1, Math.max(start + 1, mid));
  const left = slice(start, mid, avg, variation, random);
  const right = slice(mid, end, avg, variation, random);
  return [...left, ...right.slice(1)];
}
