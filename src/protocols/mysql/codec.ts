import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { BufferedFramer } from '../../framing/buffered-framer.js';
import type { Frame } from '../../framing/framer.js';
import type { AttributeValue, ErrorReply, ErrorReplyRequest, MessageInfo, ProtocolCodec, ProtocolFramer } from '../protocol.js';
import { Cap, Com, ExtCap, MAX_PAYLOAD, Status, commandName } from './constants.js';
import { cstring, firstKeyword, lenenc, skipLenenc, skipQueryAttributes, type Cursor } from './parse.js';

/** Validated options the codec needs (see index.ts for the schema and defaults). */
export interface MysqlCodecOptions {
  maxPacketFrame: number;
  maxPacketLength: number;
  maxBufferedBytes: number;
  errorCode: number;
  sqlState: string;
  maxStatements: number;
}

/** Longest `query` attribute, in characters. */
const QUERY_CHARS = 256;
/** Bytes of SQL text decoded to find the first keyword and the `query` attribute. */
const SQL_PEEK = 4096;

/** What the statement behind a prepared-statement id was (reported again on COM_STMT_EXECUTE). */
interface StatementMeta {
  readonly kind: string;
  readonly query: string;
}

/** Response sub-states. */
const enum St {
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
interface Expect {
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

function expect(st: St, command: string, extra: Partial<Pick<Expect, 'login' | 'cursor' | 'meta'>> = {}): Expect {
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
interface LastRequest {
  readonly seq: number;
  readonly login: boolean;
  readonly responses: number;
  readonly exp: Expect | undefined;
  readonly prevClientMode: ClientMode;
}

const enum ClientMode {
  /** Each logical packet is a command. */
  Normal,
  /** Inside a login / change-user exchange: packets with sequence id ≠ 0 are auth data, 0 starts a command. */
  Auth,
  /** Sending LOCAL INFILE content: every packet is data; the empty packet ends it. */
  Infile,
}

/** Per-connection state shared by both framers. */
class MysqlState {
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

/** Frame infos without attributes, indexed by start(4) | end(2) | unsolicited(1); shared by every codec. */
const INFOS: readonly MessageInfo[] = Array.from({ length: 8 }, (_, i) =>
  Object.freeze({ start: (i & 4) !== 0, end: (i & 2) !== 0, ...((i & 1) !== 0 ? { unsolicited: true } : {}) }),
);
const OPAQUE: MessageInfo = Object.freeze({ start: true, end: true, opaque: true });

function malformed(message: string, details: Record<string, unknown> = {}): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `mysql: ${message}`, { details: { framer: 'mysql', ...details } });
}

/**
 * One direction of MySQL packets: 3-byte little-endian length + sequence id + payload. A packet of at most
 * `maxPacketFrame` bytes (header included) is one frame; a larger one is cut into a first frame of exactly
 * `maxPacketFrame` bytes (so what is parsed does not depend on chunking) and then pieces of whatever arrived, each at
 * most `maxPacketFrame`. A payload of 0xFFFFFF bytes continues the same logical packet in the next packet.
 *
 * The subclass classifies each logical packet from the payload prefix in its first frame: whether it starts / ends
 * a message, and the request's attributes.
 */
abstract class MysqlFramer extends BufferedFramer implements ProtocolFramer {
  readonly name = 'mysql';
  readonly passthrough = false;
  info: MessageInfo | undefined;
  protected readonly maxFrame: number;
  private readonly maxLogical: number;
  /** Bytes of the current physical packet not yet returned. */
  private left = 0;
  /** The last packet had a 0xFFFFFF payload: the next packet continues the same logical packet. */
  private contLogical = false;
  private logicalLen = 0;
  /** Classification of the current logical packet. */
  protected pStart = false;
  protected pEnd = false;
  protected pUnsolicited = false;
  /** Request start info (with attributes) for the current logical packet, when it starts a request. */
  protected pRequest: { responses: number; attributes: Record<string, AttributeValue> } | undefined;
  private pWholeInfo: MessageInfo | undefined;

  constructor(
    protected readonly s: MysqlState,
    private readonly direction: 'client' | 'server',
  ) {
    super(s.options.maxBufferedBytes);
    this.maxFrame = s.options.maxPacketFrame;
    this.maxLogical = s.options.maxPacketLength;
  }

  /** Classify a new logical packet; `p` is the payload prefix held in its first frame, `len` its first packet's length. */
  protected abstract classify(p: Buffer, len: number, seq: number): void;

  /** Called once all bytes were framed after end(): throw when the protocol state says a message was cut. */
  protected checkEndOfInput(): void {}

  encode(frame: Frame): Buffer {
    return frame;
  }

  encodeTo(frame: Frame, out: Buffer[]): void {
    out.push(frame);
  }

  protected override resetDecodeState(): void {
    this.left = 0;
    this.contLogical = false;
    this.logicalLen = 0;
  }

  protected decodeOne(): Frame | null {
    const buf = this.buf;
    if (this.s.opaque) {
      this.left = 0;
      this.contLogical = false;
      if (buf.length === 0) return null;
      this.info = OPAQUE;
      return buf.consumeAll();
    }
    if (this.left > 0) {
      const n = Math.min(buf.length, this.left, this.maxFrame);
      if (n === 0) {
        if (this.ended) throw this.truncated(`${this.left} bytes of a packet missing`);
        return null;
      }
      this.left -= n;
      const piece = buf.consume(n);
      this.info = this.frameInfo(false, this.left === 0 && !this.contLogical);
      return piece;
    }
    const held = buf.length;
    if (held < 4) {
      if (this.ended) {
        if (held > 0) throw this.truncated(`${held} bytes of a 4-byte packet header`);
        if (this.contLogical) throw this.truncated('the packet after a 0xFFFFFF-byte packet is missing');
        this.checkEndOfInput();
      }
      return null;
    }
    const len = buf.readUIntLE(0, 3);
    const continuing = this.contLogical;
    const logical = (continuing ? this.logicalLen : 0) + len;
    if (logical > this.maxLogical) {
      throw new SwitchyardError(
        ErrorCodes.FRAME_TOO_LARGE,
        `mysql: ${this.direction} packet of ${logical}+ bytes, maxPacketLength is ${this.maxLogical}`,
        { details: { framer: 'mysql', length: logical, limit: this.maxLogical } },
      );
    }
    const total = len + 4;
    const take = total <= this.maxFrame ? total : this.maxFrame;
    if (held < take) {
      if (this.ended) throw this.truncated(`packet of ${len} bytes, ${held - 4} received`);
      return null;
    }
    const seq = buf.byteAt(3);
    const frame = buf.consume(take);
    this.left = total - take;
    this.logicalLen = logical;
    this.contLogical = len === MAX_PAYLOAD;
    if (!continuing) {
      this.pRequest = undefined;
      this.pWholeInfo = undefined;
      this.pUnsolicited = false;
      this.classify(frame.subarray(4), len, seq);
    }
    this.info = this.frameInfo(!continuing, this.left === 0 && !this.contLogical);
    return frame;
  }

  private frameInfo(first: boolean, last: boolean): MessageInfo {
    const start = first && this.pStart;
    const end = last && this.pEnd;
    const req = this.pRequest;
    if (start && req) {
      if (end) return (this.pWholeInfo ??= { start: true, end: true, responses: req.responses, attributes: req.attributes });
      return { start: true, end: false, responses: req.responses, attributes: req.attributes };
    }
    return INFOS[(start ? 4 : 0) | (end ? 2 : 0) | (this.pUnsolicited ? 1 : 0)]!;
  }

  protected truncated(what: string): SwitchyardError {
    return new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `mysql: ${this.direction} input ended inside a packet (${what})`, {
      details: { framer: 'mysql', buffered: this.buf.length },
    });
  }
}

/** Client → server: HandshakeResponse / SSLRequest, then commands (plus auth data and LOCAL INFILE content). */
class RequestFramer extends MysqlFramer {
  constructor(s: MysqlState) {
    super(s, 'client');
  }

  protected classify(p: Buffer, len: number, seq: number): void {
    const s = this.s;
    if (!s.loginSent) {
      this.handshakeResponse(p, len, seq);
      return;
    }
    if (s.clientMode === ClientMode.Infile || (s.clientMode === ClientMode.Auth && seq !== 0)) {
      // LOCAL INFILE content or auth data: continues the current exchange; the empty packet ends the file
      if (s.clientMode === ClientMode.Infile && len === 0) s.clientMode = ClientMode.Normal;
      this.pStart = false;
      this.pEnd = false;
      return;
    }
    this.command(p, len, seq);
  }

  private startRequest(seq: number, attributes: Record<string, AttributeValue>, exp: Expect | undefined, responses: number, login = false, prevClientMode = this.s.clientMode): void {
    this.pStart = true;
    this.pEnd = true;
    this.pRequest = { responses, attributes };
    if (exp) this.s.pending.push(exp);
    this.s.last = { seq, login, responses, exp, prevClientMode };
  }

  private handshakeResponse(p: Buffer, len: number, seq: number): void {
    const s = this.s;
    if (p.length < 2) throw malformed(`HandshakeResponse of ${len} bytes is too short`, { length: len });
    let clientCaps = p.readUInt16LE(0);
    let ext = 0;
    const c: Cursor = { pos: 0 };
    const proto41 = (clientCaps & Cap.PROTOCOL_41) !== 0;
    if (proto41) {
      if (p.length < 32) throw malformed(`HandshakeResponse41 of ${len} bytes is too short (at least 32)`, { length: len });
      clientCaps = p.readUInt32LE(0);
      if ((clientCaps & Cap.MYSQL) === 0) ext = p.readUInt32LE(28);
      c.pos = 32;
    } else {
      if (p.length < 5) throw malformed(`HandshakeResponse320 of ${len} bytes is too short (at least 5)`, { length: len });
      c.pos = 5;
    }
    s.clientCaps = clientCaps;
    s.caps = clientCaps & s.serverCaps;
    s.ext = (s.serverCaps & Cap.MYSQL) === 0 ? ext & s.serverExt : 0;
    const prev = s.clientMode;
    s.loginSent = true;
    if (len === c.pos && (clientCaps & Cap.SSL) !== 0) {
      // SSLRequest: TLS follows in both directions; the codec stops parsing
      this.startRequest(seq, { phase: 'login', ssl: true }, undefined, 0, true, prev);
      s.opaque = true;
      return;
    }
    const attributes: Record<string, AttributeValue> = { phase: 'login' };
    const user = cstring(p, c, 256);
    if (user !== undefined) {
      attributes.user = user;
      let authLen: number | undefined;
      if ((clientCaps & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) !== 0) authLen = lenenc(p, c);
      else if ((clientCaps & Cap.SECURE_CONNECTION) !== 0 && proto41) authLen = c.pos < p.length ? p[c.pos++] : undefined;
      else authLen = cstring(p, c, 0) === undefined ? undefined : 0;
      if (authLen !== undefined && c.pos + authLen <= p.length && (clientCaps & Cap.CONNECT_WITH_DB) !== 0) {
        c.pos += authLen;
        const db = cstring(p, c, 256);
        if (db !== undefined && db !== '') attributes.database = db;
      }
    }
    s.compressAfterLogin = (s.caps & (Cap.COMPRESS | Cap.ZSTD_COMPRESSION)) !== 0;
    s.clientMode = ClientMode.Auth;
    this.startRequest(seq, attributes, expect(St.Auth, 'login', { login: true }), 1, true, prev);
  }

  private command(p: Buffer, len: number, seq: number): void {
    const s = this.s;
    if (len === 0) throw malformed('empty command packet', { seq });
    const cmd = p[0]!;
    const command = commandName(cmd);
    const attributes: Record<string, AttributeValue> = { command };
    const prev = s.clientMode;
    let exp: Expect | undefined = expect(St.First, command);
    let responses = 1;
    switch (cmd) {
      case Com.QUERY:
      case Com.STMT_PREPARE: {
        const c: Cursor = { pos: 1 };
        const sql = cmd === Com.QUERY && s.has(Cap.QUERY_ATTRIBUTES) && !skipQueryAttributes(p, c) ? undefined : sqlText(p, c.pos);
        const meta: StatementMeta = sql === undefined ? { kind: '', query: '' } : { kind: firstKeyword(sql), query: sql.slice(0, QUERY_CHARS) };
        attributes.kind = meta.kind;
        attributes.query = meta.query;
        if (cmd === Com.STMT_PREPARE) {
          s.lastPrepared = meta;
          exp = expect(St.PrepFirst, command, { meta });
        }
        break;
      }
      case Com.STMT_EXECUTE:
      case Com.STMT_FETCH:
      case Com.STMT_CLOSE:
      case Com.STMT_RESET:
      case Com.STMT_SEND_LONG_DATA:
      case Com.STMT_BULK_EXECUTE: {
        if (p.length < 5) throw malformed(`${command} of ${len} bytes has no statement id`, { command });
        const id = p.readUInt32LE(1);
        attributes.statement = id;
        const meta = id === 0xffffffff ? s.lastPrepared : s.statements.get(id);
        if (meta && cmd !== Com.STMT_CLOSE) {
          attributes.kind = meta.kind;
          attributes.query = meta.query;
        }
        if (cmd === Com.STMT_EXECUTE) {
          const cursor = p.length > 5 && (p[5]! & 0x07) !== 0;
          exp = expect(St.First, command, { cursor });
        } else if (cmd === Com.STMT_FETCH) exp = expect(St.Rows, command);
        else if (cmd === Com.STMT_CLOSE || cmd === Com.STMT_SEND_LONG_DATA) {
          if (cmd === Com.STMT_CLOSE) s.statements.delete(id);
          exp = undefined;
          responses = 0;
        }
        break;
      }
      case Com.QUIT:
        exp = undefined;
        responses = 0;
        break;
      case Com.INIT_DB:
        attributes.database = p.toString('utf8', 1, Math.min(p.length, 257));
        break;
      case Com.FIELD_LIST: {
        const table = cstring(p, { pos: 1 }, 256);
        if (table !== undefined) attributes.table = table;
        exp = expect(St.Rows, command);
        break;
      }
      case Com.STATISTICS:
        exp = expect(St.Single, command);
        break;
      case Com.RESET_CONNECTION:
        s.statements.clear();
        break;
      case Com.CHANGE_USER: {
        const c: Cursor = { pos: 1 };
        const user = cstring(p, c, 256);
        if (user !== undefined) {
          attributes.user = user;
          let authLen: number | undefined;
          if (s.has(Cap.SECURE_CONNECTION)) authLen = c.pos < p.length ? p[c.pos++] : undefined;
          else authLen = cstring(p, c, 0) === undefined ? undefined : 0;
          if (authLen !== undefined && c.pos + authLen <= p.length) {
            c.pos += authLen;
            const db = cstring(p, c, 256);
            if (db !== undefined && db !== '') attributes.database = db;
          }
        }
        s.statements.clear();
        s.clientMode = ClientMode.Auth;
        exp = expect(St.Auth, command);
        break;
      }
      case Com.BINLOG_DUMP:
      case Com.BINLOG_DUMP_GTID:
      case Com.CLONE:
      case Com.SUBSCRIBE_GROUP_REPLICATION_STREAM:
        exp = expect(St.Stream, command);
        break;
      default:
        break;
    }
    this.startRequest(seq, attributes, exp, responses, false, prev);
  }
}

/** The SQL text of a COM_QUERY / COM_STMT_PREPARE from `offset` (a bounded prefix, decoded as UTF-8). */
function sqlText(p: Buffer, offset: number): string {
  return p.toString('utf8', offset, Math.min(p.length, offset + SQL_PEEK));
}

/** Server → client: the greeting, the login exchange, then one response per command (FIFO). */
class ResponseFramer extends MysqlFramer {
  constructor(s: MysqlState) {
    super(s, 'server');
  }

  protected override checkEndOfInput(): void {
    const exp = this.s.pending[0];
    if (exp?.started) {
      throw new SwitchyardError(ErrorCodes.FRAME_TRUNCATED, `mysql: server input ended inside the response to ${exp.command}`, {
        details: { framer: 'mysql', command: exp.command },
      });
    }
  }

  protected classify(p: Buffer, len: number): void {
    const s = this.s;
    if (!s.greetingSeen) {
      this.unsolicited();
      if (len > 0 && p[0] !== 0xff) this.greeting(p, len);
      return;
    }
    const exp = s.pending[0];
    if (!exp) {
      // e.g. an ERR the server sends before closing an idle connection
      this.unsolicited();
      return;
    }
    this.pStart = !exp.started;
    exp.started = true;
    const end = this.advance(exp, p, len);
    this.pEnd = end;
    if (end) {
      s.pending.shift();
      if (exp.st === St.Auth) {
        s.clientMode = ClientMode.Normal;
        if (exp.login && p[0] === 0x00 && s.compressAfterLogin) s.opaque = true; // compressed protocol follows
      }
    }
  }

  private unsolicited(): void {
    this.pStart = true;
    this.pEnd = true;
    this.pUnsolicited = true;
  }

  private greeting(p: Buffer, len: number): void {
    const s = this.s;
    s.greetingSeen = true;
    if (p[0] !== 10) return; // protocol version 9: no capability flags we rely on
    const nul = p.indexOf(0, 1);
    if (nul < 0) throw malformed(`Initial Handshake of ${len} bytes: server version is not NUL-terminated`);
    let i = nul + 1 + 4 + 8 + 1; // connection id, auth-plugin-data-part-1, filler
    if (i + 2 > p.length) {
      s.serverCaps = 0;
      return;
    }
    let caps = p.readUInt16LE(i);
    i += 2;
    if (i + 3 + 2 <= p.length) {
      caps |= p.readUInt16LE(i + 3) << 16; // after character set (1) and status flags (2)
      i += 3 + 2 + 1; // + auth-plugin-data length
      if ((caps & Cap.MYSQL) === 0 && i + 10 <= p.length) s.serverExt = p.readUInt32LE(i + 6); // MariaDB
    }
    s.serverCaps = caps;
  }

  /** Feed one logical packet to the pending response; true when it ends the response. */
  private advance(exp: Expect, p: Buffer, len: number): boolean {
    const s = this.s;
    const b = len === 0 ? -1 : p[0]!;
    switch (exp.st) {
      case St.Auth:
        // 0x00 OK and 0xFF ERR end the exchange; 0xFE AuthSwitchRequest, 0x01 AuthMoreData, 0x02 next factor continue
        return b === 0x00 || b === 0xff;
      case St.Single:
        return true;
      case St.Stream:
        if (b !== 0xff) s.opaque = true; // replication events / clone data: not parsed
        return true;
      case St.First:
      case St.Infile:
        if (b === 0x00) return this.afterResult(exp, this.okStatus(p));
        if (b === 0xff) return !isProgress(p);
        if (b === 0xfe) return this.afterResult(exp, this.terminatorStatus(p, len));
        if (b === 0xfb && exp.st === St.First) {
          exp.st = St.Infile;
          s.clientMode = ClientMode.Infile;
          return false;
        }
        if (exp.st === St.Infile || b < 0) throw malformed(`unexpected packet 0x${hex(b)} (${len} bytes) in the response to ${exp.command}`);
        this.columnCount(exp, p);
        return false;
      case St.Cols:
        if (b === 0xff && exp.n > 0 && !isProgress(p)) return true;
        if (--exp.n <= 0) exp.st = s.has(Cap.DEPRECATE_EOF) ? St.Rows : St.ColsEof;
        return false;
      case St.ColsEof: {
        if (b === 0xff) return !isProgress(p);
        if (b !== 0xfe) throw malformed(`expected EOF after column definitions in the response to ${exp.command}, got 0x${hex(b)}`);
        const status = this.terminatorStatus(p, len);
        if (exp.cursor && (status & Status.CURSOR_EXISTS) !== 0) return true; // rows come with COM_STMT_FETCH
        exp.st = St.Rows;
        return false;
      }
      case St.Rows:
        if (b === 0xfe && len < MAX_PAYLOAD) return this.afterResult(exp, this.terminatorStatus(p, len));
        if (b === 0xff) return !isProgress(p);
        return false;
      case St.PrepFirst: {
        if (b === 0xff) return !isProgress(p);
        if (b !== 0x00 || p.length < 9) throw malformed(`expected a COM_STMT_PREPARE OK (12 bytes), got 0x${hex(b)} (${len} bytes)`);
        const id = p.readUInt32LE(1);
        let cols = p.readUInt16LE(5);
        let params = p.readUInt16LE(7);
        if (s.has(Cap.OPTIONAL_RESULTSET_METADATA) && p.length > 12 && p[12] === 0) cols = params = 0;
        if (exp.meta) s.remember(id, exp.meta);
        exp.cols = cols;
        if (params > 0) {
          exp.st = St.PrepParams;
          exp.n = params;
          return false;
        }
        return this.prepColumns(exp);
      }
      case St.PrepParams:
        if (--exp.n > 0) return false;
        if (!s.has(Cap.DEPRECATE_EOF)) {
          exp.st = St.PrepParamsEof;
          return false;
        }
        return this.prepColumns(exp);
      case St.PrepParamsEof:
        return this.prepColumns(exp);
      case St.PrepCols:
        if (--exp.n > 0) return false;
        if (!s.has(Cap.DEPRECATE_EOF)) {
          exp.st = St.PrepColsEof;
          return false;
        }
        return true;
      case St.PrepColsEof:
        return true;
    }
  }

  private prepColumns(exp: Expect): boolean {
    if (exp.cols === 0) return true;
    exp.st = St.PrepCols;
    exp.n = exp.cols;
    return false;
  }

  /**
   * A result set header: column count, then (MariaDB MARIADB_CLIENT_CACHE_METADATA, MySQL
   * CLIENT_OPTIONAL_RESULTSET_METADATA) a metadata-follows byte; the definitions follow unless it is 0.
   */
  private columnCount(exp: Expect, p: Buffer): void {
    const s = this.s;
    const c: Cursor = { pos: 0 };
    const n = lenenc(p, c);
    if (n === undefined || n === 0) throw malformed(`invalid column count in the response to ${exp.command}`);
    let metadata = true;
    if (s.has(Cap.OPTIONAL_RESULTSET_METADATA) || (s.ext & ExtCap.CACHE_METADATA) !== 0) {
      metadata = c.pos < p.length && p[c.pos] !== 0;
    }
    if (metadata) {
      exp.st = St.Cols;
      exp.n = n;
    } else exp.st = s.has(Cap.DEPRECATE_EOF) ? St.Rows : St.ColsEof;
  }

  /** After an OK / EOF that ends one result: more results follow when SERVER_MORE_RESULTS_EXISTS is set. */
  private afterResult(exp: Expect, status: number): boolean {
    if ((status & Status.MORE_RESULTS_EXISTS) === 0) return true;
    exp.st = St.First;
    return false;
  }

  /** Status flags of an OK packet (0x00 or 0xFE header): after affected rows and last insert id. */
  private okStatus(p: Buffer): number {
    if (!this.s.has(Cap.PROTOCOL_41 | Cap.TRANSACTIONS)) return 0;
    const c: Cursor = { pos: 1 };
    if (!skipLenenc(p, c) || !skipLenenc(p, c) || c.pos + 2 > p.length) return 0;
    return p.readUInt16LE(c.pos);
  }

  /** Status flags of a 0xFE packet: an OK under CLIENT_DEPRECATE_EOF (7+ bytes), else an EOF. */
  private terminatorStatus(p: Buffer, len: number): number {
    if (this.s.has(Cap.DEPRECATE_EOF) && len >= 7) return this.okStatus(p);
    return this.s.has(Cap.PROTOCOL_41) && p.length >= 5 ? p.readUInt16LE(3) : 0;
  }
}

/** MariaDB progress report: an ERR packet with error code 0xFFFF, sent mid-response. */
function isProgress(p: Buffer): boolean {
  return p.length >= 3 && p[1] === 0xff && p[2] === 0xff;
}

function hex(b: number): string {
  return b < 0 ? '(empty)' : b.toString(16).padStart(2, '0');
}

/** Error code and SQLSTATE of an error reply from the request's `status` and the options. */
function errorIdentity(status: ErrorReplyRequest['status'], options: MysqlCodecOptions): { code: number; sqlState: string } {
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
  private readonly s: MysqlState;

  constructor(options: MysqlCodecOptions) {
    this.s = new MysqlState(options);
    this.toUpstream = new RequestFramer(this.s);
    this.toDownstream = new ResponseFramer(this.s);
  }

  errorReply(request: ErrorReplyRequest): ErrorReply {
    const s = this.s;
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
    const { code, sqlState } = errorIdentity(request.status, s.options);
    const protocol41 = ((login ? s.clientCaps : s.caps) & Cap.PROTOCOL_41) !== 0 || (last === undefined && s.caps === 0);
    const seq = (last?.seq ?? 0) + 1;
    return { frames: [errPacket(seq, code, sqlState, request.message, protocol41)], close: login || request.close === true };
  }
}
