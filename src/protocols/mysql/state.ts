/** The per-connection MySQL state both framers read and update: capabilities, the pending responses, statements. */

/** Validated options the codec needs (see index.ts for the schema and defaults). */
export interface MysqlCodecOptions {
  maxPacketFrame: number;
  maxPacketLength: number;
  maxBufferedBytes: number;
  errorCode: number;
  sqlState: string;
  maxStatements: number;
}

/** What the statement behind a prepared-statement id was (reported again on COM_STMT_EXECUTE). */
export interface StatementMeta {
  readonly kind: string;
  readonly query: string;
}

/** Response sub-states. */
export const enum St {
  /** Before a result (or the next result of a multi-result response). */
  First,
  /** Column definitions left in `n`. */
  Cols,
  /** The EOF after the column definitions (no CLIENT_DEPRECATE_EOF). */
  ColsEof,
  /** Rows until EOF / OK(0xFE) / ERR. */
  Rows,
  /** After a LOCAL INFILE request: waiting for the OK/ERR that follows the client's file content. */
  Infile,
  /** Login / change-user exchange: AuthSwitchRequest, AuthMoreData… until OK / ERR. */
  Auth,
  /** COM_STMT_PREPARE: the prepare OK or ERR. */
  PrepFirst,
  PrepParams,
  PrepParamsEof,
  PrepCols,
  PrepColsEof,
  /** One packet of any content (COM_STATISTICS). */
  Single,
  /** Replication / clone stream: an ERR ends it, anything else switches to opaque. */
  Stream,
}

/** One pending response (FIFO: MySQL answers commands in order). */
export interface Expect {
  st: St;
  /** Column / parameter definitions left in the current block. */
  n: number;
  /** Columns announced by a prepare OK (read after the parameter definitions). */
  cols: number;
  started: boolean;
  readonly login: boolean;
  readonly cursor: boolean;
  readonly command: string;
  /** COM_STMT_PREPARE: remembered under the statement id of the prepare OK. */
  readonly meta: StatementMeta | undefined;
}

export function expect(st: St, command: string, extra: Partial<Pick<Expect, 'login' | 'cursor' | 'meta'>> = {}): Expect {
  return {
    st,
    n: 0,
    cols: 0,
    started: false,
    login: extra.login ?? false,
    cursor: extra.cursor ?? false,
    command,
    meta: extra.meta,
  };
}

/** The request whose start frame was returned last (errorReply answers it). */
export interface LastRequest {
  readonly seq: number;
  readonly login: boolean;
  readonly responses: number;
  readonly exp: Expect | undefined;
  readonly prevClientMode: ClientMode;
}

export const enum ClientMode {
  /** Each logical packet is a command. */
  Normal,
  /** Inside a login / change-user exchange: packets with sequence id ≠ 0 are auth data, 0 starts a command. */
  Auth,
  /** Sending LOCAL INFILE content: every packet is data; the empty packet ends it. */
  Infile,
}

/** Per-connection state shared by both framers. */
export class MysqlState {
  /** The server's Initial Handshake packet was seen. */
  greetingSeen = false;
  /** The client's HandshakeResponse / SSLRequest was seen: commands follow. */
  loginSent = false;
  opaque = false;
  /** Server capabilities (all set until the greeting says otherwise). */
  serverCaps = 0xffffffff | 0;
  serverExt = 0;
  clientCaps = 0;
  /** Negotiated: client ∩ server. */
  caps = 0;
  ext = 0;
  /** Negotiated once the login OK arrives (switch to opaque after it). */
  compressAfterLogin = false;
  clientMode = ClientMode.Normal;
  readonly pending: Expect[] = [];
  readonly statements = new Map<number, StatementMeta>();
  /** The last COM_STMT_PREPARE sent (MariaDB's statement id -1 means "the last prepared"). */
  lastPrepared: StatementMeta | undefined;
  last: LastRequest | undefined;

  constructor(readonly options: MysqlCodecOptions) {}

  has(cap: number): boolean {
    return (this.caps & cap) !== 0;
  }

  remember(id: number, meta: StatementMeta): void {
    if (this.options.maxStatements === 0) return;
    this.statements.delete(id);
    if (this.statements.size >= this.options.maxStatements) {
      const oldest = this.statements.keys().next();
      if (!oldest.done) this.statements.delete(oldest.value);
    }
    this.statements.set(id, meta);
  }
}
