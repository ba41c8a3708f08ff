/**
 * The effect shared by the `error` and `transient` faults: answer a request with the protocol's own error, or
 * corrupt the data where there is no protocol (raw TCP) or no request to answer (downstream).
 */
import type { FaultOptions } from '../config/fault-options.js';
import type { FaultChunk, FaultIO, FaultPlugin } from './plugin.js';

/** The options of the error effect (both faults accept them). */
export function errorOptions(): FaultPlugin['options'] {
  return {
    inject: { description: 'Raw TCP: insert 100 random bytes instead of replacing the data with 1000 random bytes.', type: 'boolean', default: false },
    warmup: { description: 'Number of requests to let through before erroring (counted across connections).', type: 'integer', default: 0, min: 0 },
    status: { description: "Protocol status for the error: HTTP status, SMTP code, PostgreSQL SQLSTATE, MySQL errno, RESP error prefix (null: the protocol's default; HTTP then picks 500-503 at random, like Vaurien).", type: 'string', default: null },
    message: { description: 'Error text placed where the protocol carries one.', type: 'string', default: 'error injected by switchyard' },
    close: { description: 'Close the connection after the error reply.', type: 'boolean', default: false },
  };
}

/** The error effect on one frame. */
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

function parseStatus(raw: FaultOptions[string] | undefined, chunk: FaultChunk, io: FaultIO): string | number | undefined {
  if (raw === null || raw === undefined || raw === '') {
    // No status configured: the protocol may offer several to pick from at random (Vaurien's HTTP 500-503).
    const choices = io.errorStatuses(chunk.request);
    return choices === undefined || choices.length === 0 ? undefined : choices[io.random.int(choices.length)];
  }
  const s = String(raw);
  return /^\d+$/.test(s) && s.length !== 5 ? Number(s) : s;
}
