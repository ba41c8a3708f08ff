import { errorOptions, injectError } from '../error-effect.js';
import type { FaultPlugin } from '../plugin.js';

interface Counter {
  calls: number;
}

/**
 * Vaurien `error`. With a protocol (upstream): the request is answered with the protocol's own error (HTTP 5xx,
 * RESP -ERR, PostgreSQL ErrorResponse, MySQL ERR, memcache SERVER_ERROR, SMTP 4xx) and never reaches the server;
 * the connection stays usable unless `close`. On raw TCP or downstream: the data is replaced by 1000 random bytes,
 * or with `inject` 100 random bytes are inserted in the middle. The first `warmup` requests (counted across all
 * connections of this fault) pass untouched.
 */
export const errorFault: FaultPlugin = {
  type: 'error',
  description: 'Answer requests with a protocol-correct error (raw TCP: corrupt the data).',
  defaultScope: 'request',
  defaultStream: 'upstream',
  options: errorOptions(),
  createShared: (): Counter => ({ calls: 0 }),
  create(options, ctx) {
    const counter = ctx.shared as Counter;
    const warmup = options.warmup as number;
    return {
      chunk(chunk, io) {
        const first = chunk.info === undefined || chunk.info.start;
        if (first && ++counter.calls <= warmup) return io.push(chunk);
        return injectError(chunk, io, options);
      },
    };
  },
};
