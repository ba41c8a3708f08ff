/**
 * The PostgreSQL codec: a request framer and a response framer over one shared state (startup, pending requests,
 * transaction status), and the protocol's error reply built from that state.
 */
import type { ErrorReply, ErrorReplyRequest, ProtocolCodec, ProtocolCodecFactory, RefusalReason } from '../protocol.js';
import { PgState, type PostgresCodecOptions } from './codec-state.js';
import { encodeErrorResponse, encodeReadyForQuery, type TransactionStatus } from './messages.js';
import { RequestFramer } from './request-framer.js';
import { ResponseFramer } from './response-framer.js';

/** SQLSTATE of the error reply when the request gives none: 58000 system_error. */
export const DEFAULT_SQLSTATE = '58000';

/** The SQLSTATE of a refusal by the proxy itself. */
export const REFUSAL_SQLSTATES: Readonly<Record<RefusalReason, string>> = {
  malformed: '08P01', // protocol_violation
  too_large: '08P01',
  upstream_refused: '08006', // connection_failure
  upstream_timeout: '08006',
  upstream_lost: '08006',
  header_timeout: '57014', // query_canceled (PostgreSQL's own authentication timeout uses it)
  request_timeout: '57014',
  too_slow: '57014',
  no_route: '08004', // sqlserver_rejected_establishment_of_sqlconnection
};

function sqlState(status: ErrorReplyRequest['status'], reason: RefusalReason | undefined): string {
  if (status === undefined && reason !== undefined) return REFUSAL_SQLSTATES[reason];
  const s = status === undefined ? '' : String(status);
  return /^[0-9A-Z]{5}$/.test(s) ? s : DEFAULT_SQLSTATE;
}

class PostgresCodec implements ProtocolCodec {
  readonly toUpstream: RequestFramer;
  readonly toDownstream: ResponseFramer;
  readonly #state = new PgState();

  constructor(options: PostgresCodecOptions) {
    this.toUpstream = new RequestFramer(this.#state, options);
    this.toDownstream = new ResponseFramer(this.#state, options);
  }

  errorReply(request: ErrorReplyRequest): ErrorReply | undefined {
    const st = this.#state;
    if (st.opaque) return undefined;
    const last = st.lastStart;
    st.lastStart = undefined;
    if (last?.entry) {
      // the request is dropped: the server never answers it
      const i = st.pending.lastIndexOf(last.entry);
      if (i >= 0) st.pending.splice(i, 1);
      if (st.batch?.entry === last.entry) {
        st.batch.entry = undefined;
        st.dropping = true;
      }
    }
    if (last?.phase === 'cancel' || last?.phase === 'terminate') return { frames: [], close: true };
    const code = sqlState(request.status, request.reason);
    if (!st.startupDone || request.close === true || last?.phase === 'ssl' || last?.phase === 'startup') {
      const frame = encodeErrorResponse([
        ['S', 'FATAL'],
        ['V', 'FATAL'],
        ['C', code],
        ['M', request.message],
      ]);
      return { frames: [frame], close: true };
    }
    const status: TransactionStatus = st.txStatus === 'I' ? 'I' : 'E';
    st.txStatus = status;
    const error = encodeErrorResponse([
      ['S', 'ERROR'],
      ['V', 'ERROR'],
      ['C', code],
      ['M', request.message],
    ]);
    return { frames: [error, encodeReadyForQuery(status)], close: false };
  }

  /** For tests and diagnostics. */
  get transactionStatus(): TransactionStatus {
    return this.#state.txStatus;
  }
}

export function createPostgresCodecFactory(options: PostgresCodecOptions): ProtocolCodecFactory {
  return {
    name: 'postgres',
    create: () => new PostgresCodec(options),
  };
}
