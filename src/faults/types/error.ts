import type { FaultIO, FaultChunk, FaultPlugin } from '../plugin.js';
import type { FaultOptions } from '../../config/fault-options.js';

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

export function errorOptions(): FaultPlugin['options'] {
  return {
    inject: { description: 'Raw TCP: insert 100 random bytes instead of replacing the data with 1000 random bytes.', type: 'boolean', default: false },
    warmup: { description: 'Number of requests to let through before erroring (counted across connections).', type: 'integer', default: 0, min: 0 },
    status: { description: "Protocol status for the error: HTTP status, SMTP code, PostgreSQL SQLSTATE, MySQL errno, RESP error prefix (null: the protocol's default; HTTP then picks 500-503 at random, like Vaurien).", type: 'string', default: null },
    message: { description: 'Error text placed where the protocol carries one.', type: 'string', default: 'error injected by switchyard' },
    close: { description: 'Close the connection after the error reply.', type: 'boolean', default: false },
  };
}

/** The error effect on one frame (shared with `transient`). */
export function injectError(chunk: FaultChunk, io: FaultIO, options: FaultOptions): void | Promise<void> {
  const info = chunk.info;
  const status = parseStatus(options.status, chunk, io);
  if (info !== undefined && info.start && !info.opaque) {
    if (io.replyError({ message: options.message as string, status, close: options.close as boolean })) {
      io.injected();
      return;
    }
  }
  if (info !== undefined && !info.start && !info.opaque) return io.push(chunk); // the rest of a request we did not answer
  io.injected();
  const data = options.inject ? insertRandom(chunk.data, io) : io.random.bytes(1000);
  const r = io.push({ ...chunk, data });
  if (options.close) return Promise.resolve(r).then(() => io.close('error behavior'));
  return r;
}

function insertRandom(data: Buffer, io: FaultIO): Buffer {
  const mid = data.length >> 1;
  return Buffer.concat([data.subarray(0, mid), io.random.bytes(100), data.subarray(mid)]);
}

function parseStatus(raw: unknown, chunk: FaultChunk, io: FaultIO): string | number | undefined {
  if (raw === null || raw === undefined || raw === '') {
    // Vaurien answers HTTP requests with a random 500, 501, 502 or 503.
    if (chunk.request?.['method'] !== undefined && chunk.request?.['version'] !== undefined) return 500 + io.random.int(4);
    return undefined;
  }
  const s = String(raw);
  return /^\d+$/.test(s) && s.length !== 5 ? Number(s) : s;
}
