/** Client → server, the handshake/auth phase and the command phase: what each packet starts, and its attributes. */
import type { AttributeValue } from '../protocol.js';
import { Cap, Com, commandName } from './constants.js';
import { MysqlFramer, malformed } from './packet-framer.js';
import { cstring, firstKeyword, lenenc, skipQueryAttributes, type Cursor } from './parse.js';
import { ClientMode, St, expect, type Expect, type MysqlState, type StatementMeta } from './state.js';

/** Longest `query` attribute, in characters. */
const QUERY_CHARS = 256;
/** Bytes of SQL text decoded to find the first keyword and the `query` attribute. */
const SQL_PEEK = 4096;

/** Client → server: HandshakeResponse / SSLRequest, then commands (plus auth data and LOCAL INFILE content). */
export class RequestFramer extends MysqlFramer {
  constructor(s: MysqlState) {
    super(s, 'client');
  }

  protected classify(p: Buffer, len: number, seq: number): void {
    const s = this.s;
    if (!s.loginSent) {
      this.#handshakeResponse(p, len, seq);
      return;
    }
    if (s.clientMode === ClientMode.Infile || (s.clientMode === ClientMode.Auth && seq !== 0)) {
      // LOCAL INFILE content or auth data: continues the current exchange; the empty packet ends the file
      if (s.clientMode === ClientMode.Infile && len === 0) s.clientMode = ClientMode.Normal;
      this.pStart = false;
      this.pEnd = false;
      return;
    }
    this.#command(p, len, seq);
  }

  #startRequest(seq: number, attributes: Record<string, AttributeValue>, exp: Expect | undefined, responses: number, login = false, prevClientMode = this.s.clientMode): void {
    this.pStart = true;
    this.pEnd = true;
    this.pRequest = login ? { responses, attributes, setup: true } : { responses, attributes };
    if (exp) this.s.pending.push(exp);
    this.s.last = { seq, login, responses, exp, prevClientMode };
  }

  #handshakeResponse(p: Buffer, len: number, seq: number): void {
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
      this.#startRequest(seq, { phase: 'login', ssl: true }, undefined, 0, true, prev);
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
    this.#startRequest(seq, attributes, expect(St.Auth, 'login', { login: true }), 1, true, prev);
  }

  #command(p: Buffer, len: number, seq: number): void {
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
    this.#startRequest(seq, attributes, exp, responses, false, prev);
  }
}

/** The SQL text of a COM_QUERY / COM_STMT_PREPARE from `offset` (a bounded prefix, decoded as UTF-8). */
function sqlText(p: Buffer, offset: number): string {
  return p.toString('utf8', offset, Math.min(p.length, offset + SQL_PEEK));
}
