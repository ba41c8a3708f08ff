import type { FaultPlugin } from '../plugin.js';

/** Toxiproxy `limit_data`: forward at most `bytes` bytes in this direction (the last frame truncated), then close. */
export const limitDataFault: FaultPlugin = {
  type: 'limit_data',
  description: 'Close the connection once bytes bytes have been transmitted in this direction.',
  defaultScope: 'connection',
  defaultStream: 'downstream',
  options: {
    bytes: { description: 'Bytes to let through before closing.', type: 'integer', default: 0, min: 0, unit: 'bytes' },
  },
  create(options) {
    const limit = options.bytes as number;
    let sent = 0;
    return {
      start(io) {
        if (limit === 0) {
          io.injected();
          io.close('limit_data of 0 bytes');
        }
      },
      async chunk(chunk, io) {
        const room = limit - sent;
        if (chunk.data.length < room) {
          sent += chunk.data.length;
          return io.push(chunk);
        }
        sent = limit;
        io.injected();
        if (room > 0) await io.push({ ...chunk, data: chunk.data.subarray(0, room) });
        io.close(`limit of ${limit} bytes reached`);
      },
    };
  },
};
