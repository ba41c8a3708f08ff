import { z } from 'zod';
import { sizeOption } from '../../core/units.js';
import type { ProtocolCodecFactory, ProtocolModule } from '../protocol.js';
import { RedisCodec } from './codec.js';
import { redisHealthProbe } from './health-probe.js';
import { createRedisLifter } from './normalize.js';
import { REDIS_SETUP } from './request-framer.js';
import { redisRequestRouting } from './request-routing.js';
import { redisAnswerSummary } from '../answer-summary.js';

export { RedisCodec } from './codec.js';

export const redisOptionsSchema = z
  .strictObject({
    /** Largest frame emitted for pieces of a large bulk string or a long aggregate. */
    maxFrame: sizeOption(64).default(64 * 1024),
    /** Longest RESP line (simple string, error, header, inline command), excluding CRLF. */
    maxLine: sizeOption(16).default(64 * 1024),
    /** Deepest aggregate nesting accepted in a reply. */
    maxDepth: z.number().int().min(1).max(1024).default(64),
    /** Longest bulk string accepted (Redis' proto-max-bulk-len default). */
    maxBulkLength: sizeOption(0).default(512 * 1024 * 1024),
    /** Most bytes held per direction while waiting for a message part. Default: 2 × maxFrame + maxLine + 128 KiB. */
    maxBufferedBytes: sizeOption(1).optional(),
  });
export type RedisOptions = z.output<typeof redisOptionsSchema>;

export const redisProtocol: ProtocolModule<RedisOptions> = {
  answerSummary: redisAnswerSummary,
  name: 'redis',
  description: 'Redis RESP2/RESP3: multibulk and inline commands, every reply type, pub/sub, MONITOR, pipelining.',
  optionsSchema: redisOptionsSchema,
  attributes: {
    command: 'command name in upper case, e.g. GET; for container commands the first word (CLIENT, CONFIG, XINFO)',
    subcommand: 'second word of container commands in upper case, e.g. SETNAME for CLIENT SETNAME',
    key: 'first argument after the command (after the subcommand for container commands), latin1, at most 256 chars',
    args: 'number of arguments after the command name (a subcommand counts as one)',
    db: 'the database number the connection selected (SELECT n before this command; 0 by default)',
  },
  setup: REDIS_SETUP,
  routing: { perRequest: true },
  factory(options: RedisOptions): ProtocolCodecFactory {
    return { name: 'redis', create: () => new RedisCodec(options) };
  },
  lifter: createRedisLifter,
  healthProbe: redisHealthProbe,
  requestRouting: redisRequestRouting,
};
