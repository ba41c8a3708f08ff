/** One connection's MySQL codec: the two framers over one shared state, and the ERR packet error reply. */
import type { ErrorReply, ErrorReplyRequest, ProtocolCodec, ProtocolFramer, RefusalReason } from '../protocol.js';
import { Cap } from './constants.js';
import { RequestFramer } from './request-framer.js';
import { ResponseFramer } from './response-framer.js';
import { ClientMode, MysqlState, type MysqlCodecOptions } from './state.js';

/** Error number and SQLSTATE of a refusal by the proxy itself. */
export const REFUSAL_ERRORS: Readonly<Record<RefusalReason, { code: number; sqlState: string }>> = {
  malformed: { code: 1835, sqlState: '08S01' }, // ER_MALFORMED_PACKET
  too_large: { code: 1153, sqlState: '08S01' }, // ER_NET_PACKET_TOO_LARGE
  upstream_refused: { code: 2003, sqlState: 'HY000' }, // CR_CONN_HOST_ERROR
  upstream_timeout: { code: 2003, sqlState: 'HY000' },
  upstream_lost: { code: 2013, sqlState: 'HY000' }, // CR_SERVER_LOST
  header_timeout: { code: 1159, sqlState: '08S01' }, // ER_NET_READ_INTERRUPTED
  request_timeout: { code: 1159, sqlState: '08S01' },
  too_slow: { code: 1159, sqlState: '08S01' },
  no_route: { code: 1045, sqlState: '28000' }, // ER_ACCESS_DENIED_ERROR: this server has no place for the login
};

/** Error code and SQLSTATE of an error reply from the request's `status` and the options. */
function errorIdentity(status: ErrorReplyRequest['status'], options: MysqlCodecOptions, reason?: RefusalReason): { code: number; sqlState: string } {
  if (status === undefined && reason !== undefined) return REFUSAL_ERRORS[reason];
  let code = options.errorCode;
  let sqlState = options.sqlState;
  if (typeof status === 'number') {
    if (Number.isInteger(status) && status >= 1 && status <= 0xfffe) code = status;
  } else if (typeof status === 'string') {
    if (/^\d{1,5}$/.test(status)) {
      const n = Number(status);
      if (n >= 1 && n <= 0xfffe) code = n;
    } else if (/^[0-9A-Z]{5}$/.test(status)) sqlState = status;
  }
  return { code, sqlState };
}

/** Most bytes of message text put in an ERR packet. */
const MAX_MESSAGE_BYTES = 16 * 1024;

/** An ERR packet: 0xFF, error code (LE16), with CLIENT_PROTOCOL_41 '#' + SQLSTATE, then the message. */
export function errPacket(seq: number, code: number, sqlState: string, message: string, protocol41: boolean): Buffer {
  let msg = Buffer.from(message, 'utf8');
  if (msg.length > MAX_MESSAGE_BYTES) msg = msg.subarray(0, MAX_MESSAGE_BYTES);
  const len = 3 + (protocol41 ? 6 : 0) + msg.length;
  const out = Buffer.allocUnsafe(4 + len);
  out.writeUIntLE(len, 0, 3);
  out[3] = seq & 0xff;
  out[4] = 0xff;
  out.writeUInt16LE(code, 5);
  let i = 7;
  if (protocol41) {
    out[7] = 0x23; // '#'
    out.write(sqlState, 8, 5, 'latin1');
    i = 13;
  }
  msg.copy(out, i);
  return out;
}

export class MysqlCodec implements ProtocolCodec {
  readonly toUpstream: ProtocolFramer;
  readonly toDownstream: ProtocolFramer;
  readonly #s: MysqlState;
  readonly serverSpeaksFirst = true;

  constructor(options: MysqlCodecOptions) {
    this.#s = new MysqlState(options);
    this.toUpstream = new RequestFramer(this.#s);
    this.toDownstream = new ResponseFramer(this.#s);
  }

  errorReply(request: ErrorReplyRequest): ErrorReply {
    const s = this.#s;
    const last = s.last;
    s.last = undefined;
    if (last?.exp) {
      // the request is dropped: the server will never answer it
      const at = s.pending.lastIndexOf(last.exp);
      if (at >= 0) s.pending.splice(at, 1);
    }
    if (last) s.clientMode = last.login ? ClientMode.Normal : last.prevClientMode;
    const login = last?.login ?? !s.loginSent;
    if (last && !login && last.responses === 0) {
      // the client expects no answer (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA, COM_QUIT): say nothing
      return { frames: [], close: request.close === true || s.opaque };
    }
    const { code, sqlState } = errorIdentity(request.status, s.options, request.reason);
    const protocol41 = ((login ? s.clientCaps : s.caps) & Cap.PROTOCOL_41) !== 0 || (last === undefined && s.caps === 0);
    // before the server's greeting the ERR packet is the greeting itself (sequence id 0, as a server refusing a
    // connection sends it)
    const seq = !s.greetingSeen && last === undefined ? 0 : (last?.seq ?? 0) + 1;
    return { frames: [errPacket(seq, code, sqlState, request.message, protocol41)], close: login || request.close === true };
  }
}
