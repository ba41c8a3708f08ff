import { z } from 'zod';
import { sizeOption } from '../../core/units.js';
import { READ_HEADROOM } from '../../framing/buffered-framer.js';
import type { ProtocolCodecFactory, ProtocolModule } from '../protocol.js';
import { MysqlCodec } from './codec.js';
import { mysqlHealthProbe } from './health-probe.js';
import { mysqlStartupRouter } from './startup-router.js';
import type { MysqlCodecOptions } from './state.js';
import { mysqlAnswerSummary } from '../answer-summary.js';

export { MysqlCodec, errPacket } from './codec.js';
export { firstKeyword } from './parse.js';

export const mysqlOptionsSchema = z
  .strictObject({
    /** Largest frame: a packet up to this size (header included) is one frame, a larger one is cut into pieces. */
    maxPacketFrame: sizeOption(1024, 16 * 1024 * 1024).default(64 * 1024),
    /** Largest logical packet payload (packets of 0xFFFFFF bytes continue in the next one): SWY_FRAME_TOO_LARGE beyond. */
    maxPacketLength: sizeOption(1).default(1024 * 1024 * 1024),
    /** Most bytes held while waiting for a frame to complete. Default: maxPacketFrame + 64 KiB. */
    maxBufferedBytes: sizeOption(1).optional(),
    /** Error code of error replies when the request gives no `status` (1105 = ER_UNKNOWN_ERROR). */
    errorCode: z.number().int().min(1).max(0xfffe).default(1105),
    /** SQLSTATE of error replies (5 characters). */
    sqlState: z.string().regex(/^[0-9A-Z]{5}$/, 'expected a 5-character SQLSTATE like "HY000"').default('HY000'),
    /** Prepared statements remembered per connection to report `kind`/`query` on COM_STMT_EXECUTE (0 = none). */
    maxStatements: z.number().int().min(0).default(4096),
  })
  .superRefine((o, ctx) => {
    if (o.maxBufferedBytes !== undefined && o.maxBufferedBytes < o.maxPacketFrame) {
      ctx.addIssue({ code: 'custom', path: ['maxBufferedBytes'], message: `must be at least maxPacketFrame (${o.maxPacketFrame})` });
    }
  });

export type MysqlOptions = z.output<typeof mysqlOptionsSchema>;

export const mysqlProtocol: ProtocolModule<MysqlOptions> = {
  answerSummary: mysqlAnswerSummary,
  name: 'mysql',
  description:
    'MySQL / MariaDB client/server protocol: packets, login exchange, commands and their responses (result sets, multi-results, prepared statements, LOCAL INFILE); TLS after SSLRequest is opaque.',
  optionsSchema: mysqlOptionsSchema,
  attributes: {
    phase: "'login' on the HandshakeResponse / SSLRequest (absent on commands)",
    user: 'user name (HandshakeResponse, COM_CHANGE_USER)',
    database: 'initial / new default database (HandshakeResponse, COM_CHANGE_USER, COM_INIT_DB), when given',
    ssl: 'true on an SSLRequest (TLS follows; the connection is opaque afterwards)',
    command: "command name: 'COM_QUERY', 'COM_STMT_PREPARE', 'COM_STMT_EXECUTE', 'COM_PING', … ('COM_0xNN' when unknown)",
    kind: "first SQL keyword, lowercased ('select', 'insert', 'call', …): COM_QUERY, COM_STMT_PREPARE, and statement commands of a known prepared statement",
    query: 'SQL text, first 256 characters (same commands as kind)',
    statement: 'prepared statement id (COM_STMT_EXECUTE / FETCH / CLOSE / RESET / SEND_LONG_DATA / BULK_EXECUTE)',
    table: 'table name (COM_FIELD_LIST)',
  },
  routing: { startupAttributes: ['database', 'user'] },
  startupRouter: mysqlStartupRouter,
  setup: ['the login: HandshakeResponse (or SSLRequest) and the authentication exchange it starts'],
  factory(options: MysqlOptions): ProtocolCodecFactory {
    const codecOptions: MysqlCodecOptions = {
      maxPacketFrame: options.maxPacketFrame,
      maxPacketLength: options.maxPacketLength,
      maxBufferedBytes: options.maxBufferedBytes ?? options.maxPacketFrame + READ_HEADROOM,
      errorCode: options.errorCode,
      sqlState: options.sqlState,
      maxStatements: options.maxStatements,
    };
    return { name: 'mysql', create: () => new MysqlCodec(codecOptions) };
  },
  healthProbe: mysqlHealthProbe,
};
