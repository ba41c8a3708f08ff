/** Server → client: the greeting, the login exchange and the result-set state machine of each response. */
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { Cap, ExtCap, MAX_PAYLOAD, Status } from './constants.js';
import { MysqlFramer, malformed } from './packet-framer.js';
import { lenenc, skipLenenc, type Cursor } from './parse.js';
import { ClientMode, St, type Expect, type MysqlState } from './state.js';

/** Server → client: the greeting, the login exchange, then one response per command (FIFO). */
export class ResponseFramer extends MysqlFramer {
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
      this.#unsolicited();
      if (len > 0 && p[0] !== 0xff) this.#greeting(p, len);
      return;
    }
    const exp = s.pending[0];
    if (!exp) {
      // e.g. an ERR the server sends before closing an idle connection
      this.#unsolicited();
      return;
    }
    this.pStart = !exp.started;
    exp.started = true;
    const end = this.#advance(exp, p, len);
    this.pEnd = end;
    if (end) {
      s.pending.shift();
      if (exp.st === St.Auth) {
        s.clientMode = ClientMode.Normal;
        if (exp.login && p[0] === 0x00 && s.compressAfterLogin) s.opaque = true; // compressed protocol follows
      }
    }
  }

  #unsolicited(): void {
    this.pStart = true;
    this.pEnd = true;
    this.pUnsolicited = true;
  }

  #greeting(p: Buffer, len: number): void {
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
  #advance(exp: Expect, p: Buffer, len: number): boolean {
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
        if (b === 0x00) return this.#afterResult(exp, this.#okStatus(p));
        if (b === 0xff) return !isProgress(p);
        if (b === 0xfe) return this.#afterResult(exp, this.#terminatorStatus(p, len));
        if (b === 0xfb && exp.st === St.First) {
          exp.st = St.Infile;
          s.clientMode = ClientMode.Infile;
          return false;
        }
        if (exp.st === St.Infile || b < 0) throw malformed(`unexpected packet 0x${hex(b)} (${len} bytes) in the response to ${exp.command}`);
        this.#columnCount(exp, p);
        return false;
      case St.Cols:
        if (b === 0xff && exp.n > 0 && !isProgress(p)) return true;
        if (--exp.n <= 0) exp.st = s.has(Cap.DEPRECATE_EOF) ? St.Rows : St.ColsEof;
        return false;
      case St.ColsEof: {
        if (b === 0xff) return !isProgress(p);
        if (b !== 0xfe) throw malformed(`expected EOF after column definitions in the response to ${exp.command}, got 0x${hex(b)}`);
        const status = this.#terminatorStatus(p, len);
        if (exp.cursor && (status & Status.CURSOR_EXISTS) !== 0) return true; // rows come with COM_STMT_FETCH
        exp.st = St.Rows;
        return false;
      }
      case St.Rows:
        if (b === 0xfe && len < MAX_PAYLOAD) return this.#afterResult(exp, this.#terminatorStatus(p, len));
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
        return this.#prepColumns(exp);
      }
      case St.PrepParams:
        if (--exp.n > 0) return false;
        if (!s.has(Cap.DEPRECATE_EOF)) {
          exp.st = St.PrepParamsEof;
          return false;
        }
        return this.#prepColumns(exp);
      case St.PrepParamsEof:
        return this.#prepColumns(exp);
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

  #prepColumns(exp: Expect): boolean {
    if (exp.cols === 0) return true;
    exp.st = St.PrepCols;
    exp.n = exp.cols;
    return false;
  }

  /**
   * A result set header: column count, then (MariaDB MARIADB_CLIENT_CACHE_METADATA, MySQL
   * CLIENT_OPTIONAL_RESULTSET_METADATA) a metadata-follows byte; the definitions follow unless it is 0.
   */
  #columnCount(exp: Expect, p: Buffer): void {
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
  #afterResult(exp: Expect, status: number): boolean {
    if ((status & Status.MORE_RESULTS_EXISTS) === 0) return true;
    exp.st = St.First;
    return false;
  }

  /** Status flags of an OK packet (0x00 or 0xFE header): after affected rows and last insert id. */
  #okStatus(p: Buffer): number {
    if (!this.s.has(Cap.PROTOCOL_41 | Cap.TRANSACTIONS)) return 0;
    const c: Cursor = { pos: 1 };
    if (!skipLenenc(p, c) || !skipLenenc(p, c) || c.pos + 2 > p.length) return 0;
    return p.readUInt16LE(c.pos);
  }

  /** Status flags of a 0xFE packet: an OK under CLIENT_DEPRECATE_EOF (7+ bytes), else an EOF. */
  #terminatorStatus(p: Buffer, len: number): number {
    if (this.s.has(Cap.DEPRECATE_EOF) && len >= 7) return this.#okStatus(p);
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
