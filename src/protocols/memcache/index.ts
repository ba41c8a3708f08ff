import { z } from 'zod';
import { sizeOption } from '../../core/units.js';
import type { ProtocolCodecFactory, ProtocolModule } from '../protocol.js';
import { MemcacheCodec } from './codec.js';
import { memcacheRequestRouting } from './request-routing.js';
import { memcacheAnswerSummary } from '../answer-summary.js';

export { MemcacheCodec } from './codec.js';

export const memcacheOptionsSchema = z.strictObject({
  /** Largest frame emitted for pieces of a large data block or a long multi-line reply. */
  maxFrame: sizeOption(64).default(64 * 1024),
  /** Longest command or reply line, excluding its line end. */
  maxLine: sizeOption(16).default(64 * 1024),
  /** Largest data block accepted (memcached's item size limit can be raised to 1 GiB with -I). */
  maxValueLength: sizeOption(0).default(1024 * 1024 * 1024),
  /** Most bytes held per direction while waiting for a message part. Default: 2 × maxFrame + maxLine + 128 KiB. */
  maxBufferedBytes: sizeOption(1).optional(),
});
export type MemcacheOptions = z.output<typeof memcacheOptionsSchema>;

export const memcacheProtocol: ProtocolModule<MemcacheOptions> = {
  answerSummary: memcacheAnswerSummary,
  name: 'memcache',
  description: 'memcached text protocol: storage, retrieval, arithmetic, stats and meta commands, noreply, pipelining.',
  optionsSchema: memcacheOptionsSchema,
  attributes: {
    command: 'command as sent (lower case on the wire), e.g. get, set, incr, mg',
    key: 'first key of the command (for gat/gats the first key after the expiry time)',
    keys: 'number of keys of a retrieval command (get, gets, gat, gats)',
  },
  routing: { perRequest: true },
  factory(options: MemcacheOptions): ProtocolCodecFactory {
    return { name: 'memcache', create: () => new MemcacheCodec(options) };
  },
  requestRouting: memcacheRequestRouting,
};
