import { postgresStartupRouter } from './startup-router.js';
import { z } from 'zod';
import { sizeOption } from '../../core/units.js';
import type { ProtocolModule } from '../protocol.js';
import { createPostgresCodecFactory } from './codec.js';
import { postgresHealthProbe } from './health-probe.js';
import { postgresMergeStartup } from './merge-startup.js';
import { MAX_STARTUP_LENGTH } from './messages.js';
import { createPostgresLifter } from './normalize.js';
import { postgresAnswerSummary } from '../answer-summary.js';

export { DEFAULT_SQLSTATE, createPostgresCodecFactory } from './codec.js';
export type { PostgresCodecOptions } from './codec-state.js';
export * as pgMessages from './messages.js';

export const postgresOptionsSchema = z
  .strictObject({
    /** Messages up to this size (type byte and length included) are one frame; larger ones are cut into pieces of at most this size. */
    maxMessageFrame: sizeOption(256, 64 * 1024 * 1024).default(64 * 1024),
    /** Largest declared message length accepted; beyond it decoding fails with SWY_FRAME_TOO_LARGE. */
    maxMessageLength: sizeOption(4, 0x7fffffff).default(1024 * 1024 * 1024),
    /** Most bytes one direction holds while waiting for a frame. Default: max(maxMessageFrame, 10000) + 64 KiB. */
    maxBufferedBytes: sizeOption(1).optional(),
  })
  .superRefine((o, ctx) => {
    const need = Math.max(o.maxMessageFrame, MAX_STARTUP_LENGTH);
    if (o.maxBufferedBytes !== undefined && o.maxBufferedBytes < need) {
      ctx.addIssue({ code: 'custom', path: ['maxBufferedBytes'], message: `must be at least max(maxMessageFrame, ${MAX_STARTUP_LENGTH}) (${need})` });
    }
  });
export type PostgresOptions = z.output<typeof postgresOptionsSchema>;

export const postgresProtocol: ProtocolModule<PostgresOptions> = {
  answerSummary: postgresAnswerSummary,
  name: 'postgres',
  description: 'PostgreSQL frontend/backend protocol v3: startup, simple and extended queries, COPY, notifications; SSL/GSS encryption passes opaque',
  optionsSchema: postgresOptionsSchema,
  attributes: {
    phase: "what the request is: 'startup', 'query' (simple Query), 'extended' (Parse/Bind/.../Sync batch), 'function', 'terminate', 'cancel', 'ssl' (SSLRequest/GSSENCRequest)",
    kind: "first SQL keyword, lowercased ('select', 'insert', 'begin', 'with', ...), for Query and extended batches",
    query: 'first 256 characters of the SQL text (Query, Parse, or a batch starting with Bind of a known statement)',
    statement: 'prepared statement name of an extended batch (when named)',
    user: "startup: the 'user' parameter",
    database: "startup: the 'database' parameter (when sent)",
    application_name: "startup: the 'application_name' parameter (when sent)",
    encryption: "ssl phase: 'ssl' (SSLRequest) or 'gss' (GSSENCRequest)",
    pid: 'cancel phase: the backend process id to cancel',
  },
  setup: ['SSLRequest / GSSENCRequest', 'the StartupMessage and the authentication exchange it starts (password, SASL)'],
  mergeStartup: postgresMergeStartup,
  routing: { startupAttributes: ['database', 'user', 'application_name'] },
  startupRouter: postgresStartupRouter,
  factory: (options) =>
    createPostgresCodecFactory({
      maxMessageFrame: options.maxMessageFrame,
      maxMessageLength: options.maxMessageLength,
      maxBufferedBytes: options.maxBufferedBytes,
    }),
  lifter: createPostgresLifter,
  healthProbe: postgresHealthProbe,
};
