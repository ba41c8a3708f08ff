import { errorOptions, injectError } from '../error-effect.js';
import type { FaultPlugin } from '../plugin.js';

interface Counter {
  calls: number;
}

/** Vaurien `transient`: the first `agitate` requests (after `warmup`) behave like `error`, later ones pass. */
export const transientFault: FaultPlugin = {
  type: 'transient',
  description: 'Error on the first agitate requests, then pass everything (a transient outage).',
  defaultScope: 'request',
  defaultStream: 'upstream',
  options: {
    agitate: { description: 'Number of requests that fail before the fault goes quiet (counted across connections).', type: 'integer', default: 1, min: 0 },
    ...errorOptions(),
  },
  createShared: (): Counter => ({ calls: 0 }),
  create(options, ctx) {
    const counter = ctx.shared as Counter;
    const warmup = options.warmup as number;
    const agitate = options.agitate as number;
    let failing = false;
    return {
      chunk(chunk, io) {
        if (chunk.info === undefined || chunk.info.start) {
          const n = ++counter.calls;
          failing = n > warmup && n <= warmup + agitate;
        }
        return failing ? injectError(chunk, io, options) : io.push(chunk);
      },
    };
  },
};
