import type { FaultPlugin } from '../plugin.js';

/** Drop whole frames (a lost message; on a protocol, the request or response part disappears). */
export const dropFault: FaultPlugin = {
  type: 'drop',
  description: 'Drop the frame.',
  defaultScope: 'request',
  defaultStream: 'upstream',
  options: {},
  create() {
    return {
      chunk(_chunk, io) {
        io.injected();
      },
    };
  },
};

/** Flip random bits in a copy of the frame. */
export const corruptFault: FaultPlugin = {
  type: 'corrupt',
  description: 'Flip random bits in the frame.',
  defaultScope: 'request',
  defaultStream: 'downstream',
  options: {
    bits: { description: 'Number of bits to flip per frame.', type: 'integer', default: 1, min: 1 },
  },
  create(options, ctx) {
    const bits = options.bits as number;
    return {
      chunk(chunk, io) {
        if (chunk.data.length === 0) return io.push(chunk);
        const data = Buffer.from(chunk.data);
        for (let i = 0; i < bits; i++) {
          const bit = ctx.random.int(data.length * 8);
          data[bit >> 3]! ^= 1 << (bit & 7);
        }
        io.injected();
        return io.push({ ...chunk, data });
      },
    };
  },
};

/** Send the frame twice (a retransmitted/duplicated message). */
export const duplicateFault: FaultPlugin = {
  type: 'duplicate',
  description: 'Send the frame twice.',
  defaultScope: 'request',
  defaultStream: 'upstream',
  options: {},
  create() {
    return {
      async chunk(chunk, io) {
        io.injected();
        await io.push(chunk);
        await io.push({ ...chunk });
      },
    };
  },
};
