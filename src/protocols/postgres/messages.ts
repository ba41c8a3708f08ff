/**
 * PostgreSQL wire protocol v3: message constants and small parsing/building helpers, shared by the codec and by
 * later features (SCRAM termination, query merging). Everything here is pure and works on Buffers.
 *
 * A typed message is `type (1 byte) | length (int32, counts itself and the payload) | payload`. The first message
 * of a connection (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest) has no type byte: `length | code |
 * payload`. Parsers take the *payload* (the bytes after the 5-byte header) and tolerate truncation (a first piece
 * of a large message): a field cut off is reported as `undefined` or left out.
 */

const c = (ch: string): number => ch.charCodeAt(0);

/** Frontend (client → server) message types. */
export const FE = {
  Bind: c('B'),
  Close: c('C'),
  CopyData: c('d'),
  CopyDone: c('c'),
  CopyFail: c('f'),
  Describe: c('D'),
  Execute: c('E'),
  Flush: c('H'),
  FunctionCall: c('F'),
  /** PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse all use 'p'. */
  Password: c('p'),
  Parse: c('P'),
  Query: c('Q'),
  Sync: c('S'),
  Terminate: c('X'),
} as const;

/** Backend (server → client) message types. */
export const BE = {
  Authentication: c('R'),
  BackendKeyData: c('K'),
  BindComplete: c('2'),
  CloseComplete: c('3'),
  CommandComplete: c('C'),
  CopyData: c('d'),
  CopyDone: c('c'),
  CopyInResponse: c('G'),
  CopyOutResponse: c('H'),
  CopyBothResponse: c('W'),
  DataRow: c('D'),
  EmptyQueryResponse: c('I'),
  ErrorResponse: c('E'),
  FunctionCallResponse: c('V'),
  NegotiateProtocolVersion: c('v'),
  NoData: c('n'),
  NoticeResponse: c('N'),
  NotificationResponse: c('A'),
  ParameterDescription: c('t'),
  ParameterStatus: c('S'),
  ParseComplete: c('1'),
  PortalSuspended: c('s'),
  ReadyForQuery: c('Z'),
  RowDescription: c('T'),
} as const;

/** Request codes of the untyped first messages. */
export const PROTOCOL_3_0 = 196608; // 3 << 16
export const CANCEL_REQUEST_CODE = 80877102;
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
/** The server rejects longer startup packets (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_LENGTH = 10000;
/** Bytes in a typed message header: type byte + int32 length. */
export const HEADER_LENGTH = 5;

const FE_NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(FE)) FE_NAMES[v] = k === 'Password' ? 'PasswordMessage' : k;
const BE_NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(BE)) BE_NAMES[v] = k;

/** True for a valid frontend message type byte. */
export function isFrontendType(type: number): boolean {
  return FE_NAMES[type] !== undefined;
}

/** True for a valid backend message type byte. */
export function isBackendType(type: number): boolean {
  return BE_NAMES[type] !== undefined;
}

/** `Query ('Q')`, `DataRow ('D')`, `unknown type 0x07` — for error messages. */
export function typeName(type: number, from: 'client' | 'server'): string {
  const name = (from === 'client' ? FE_NAMES : BE_NAMES)[type];
  const shown = type >= 0x20 && type < 0x7f ? `'${String.fromCharCode(type)}'` : `0x${type.toString(16).padStart(2, '0')}`;
  return name === undefined ? `unknown message type ${shown}` : `${name} (${shown})`;
}

/** A NUL-terminated string at `offset`: its value and the offset after the NUL; undefined when no NUL follows. */
export function readCString(buf: Buffer, offset: number, encoding: BufferEncoding = 'utf8'): { value: string; next: number } | undefined {
  if (offset > buf.length) return undefined;
  const nul = buf.indexOf(0, offset);
  if (nul < 0) return undefined;
  return { value: buf.toString(encoding, offset, nul), next: nul + 1 };
}

/** Parameters of a StartupMessage (the bytes after `length | protocol`): `key\0value\0 ... \0`. */
export function parseStartupParameters(params: Buffer): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  let off = 0;
  for (;;) {
    if (off >= params.length) return undefined; // missing final terminator
    if (params[off] === 0) return off === params.length - 1 ? out : undefined;
    const key = readCString(params, off);
    if (!key) return undefined;
    const value = readCString(params, key.next);
    if (!value) return undefined;
    out[key.value] = value.value;
    off = value.next;
  }
}

/** Fields of an ErrorResponse / NoticeResponse payload: code letter → value (S, V, C, M, D, H, P, ...). */
export function parseErrorFields(payload: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < payload.length && payload[off] !== 0) {
    const code = String.fromCharCode(payload[off]!);
    const v = readCString(payload, off + 1);
    if (!v) break;
    out[code] = v.value;
    off = v.next;
  }
  return out;
}

/** Severity of an ErrorResponse payload (the non-localised V field when present, else S). */
export function errorSeverity(payload: Buffer): string | undefined {
  const f = parseErrorFields(payload);
  return f['V'] ?? f['S'];
}

export interface RowDescriptionField {
  name: string;
  tableOid: number;
  column: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  format: number;
}

/** Columns of a RowDescription payload (as many as fit when truncated). */
export function parseRowDescription(payload: Buffer): RowDescriptionField[] {
  const out: RowDescriptionField[] = [];
  if (payload.length < 2) return out;
  const n = payload.readUInt16BE(0);
  let off = 2;
  for (let i = 0; i < n; i++) {
    const name = readCString(payload, off);
    if (!name || name.next + 18 > payload.length) break;
    const p = name.next;
    out.push({
      name: name.value,
      tableOid: payload.readUInt32BE(p),
      column: payload.readInt16BE(p + 4),
      typeOid: payload.readUInt32BE(p + 6),
      typeSize: payload.readInt16BE(p + 10),
      typeModifier: payload.readInt32BE(p + 12),
      format: payload.readInt16BE(p + 16),
    });
    off = p + 18;
  }
  return out;
}

export type TransactionStatus = 'I' | 'T' | 'E';

/** Transaction status of a ReadyForQuery payload ('I' idle, 'T' in a transaction block, 'E' failed block). */
export function readyForQueryStatus(payload: Buffer): TransactionStatus | undefined {
  if (payload.length !== 1) return undefined;
  const s = String.fromCharCode(payload[0]!);
  return s === 'I' || s === 'T' || s === 'E' ? s : undefined;
}

/** SQL text of a Query payload (up to its NUL, or all of a truncated payload). */
export function querySqlBytes(payload: Buffer): Buffer {
  const nul = payload.indexOf(0);
  return nul < 0 ? payload : payload.subarray(0, nul);
}

export interface ParseMessage {
  /** Prepared statement name ('' = the unnamed statement). */
  statement: string;
  /** SQL bytes (possibly truncated when the message was). */
  sql: Buffer;
  /** Parameter type OIDs, when the payload holds them. */
  paramTypes?: number[];
}

/** A Parse payload: `statement\0 query\0 int16 n, n × int32 oid`. Undefined when the statement name is cut off. */
export function parseParseMessage(payload: Buffer): ParseMessage | undefined {
  const name = readCString(payload, 0);
  if (!name) return undefined;
  const nul = payload.indexOf(0, name.next);
  const sqlEnd = nul < 0 ? payload.length : nul;
  const out: ParseMessage = { statement: name.value, sql: payload.subarray(name.next, sqlEnd) };
  if (nul >= 0 && nul + 3 <= payload.length) {
    const n = payload.readUInt16BE(nul + 1);
    if (nul + 3 + 4 * n <= payload.length) {
      out.paramTypes = [];
      for (let i = 0; i < n; i++) out.paramTypes.push(payload.readUInt32BE(nul + 3 + 4 * i));
    }
  }
  return out;
}

export interface BindMessage {
  portal: string;
  statement: string;
  /** Parameter format codes (0 text, 1 binary), when present in the payload. */
  paramFormats?: number[];
  /** Parameter values (null = SQL NULL), when the whole payload is present. */
  params?: (Buffer | null)[];
  resultFormats?: number[];
}

/** A Bind payload. Undefined when even the names are cut off; later parts are left out when truncated. */
export function parseBindMessage(payload: Buffer): BindMessage | undefined {
  const portal = readCString(payload, 0);
  if (!portal) return undefined;
  const stmt = readCString(payload, portal.next);
  if (!stmt) return undefined;
  const out: BindMessage = { portal: portal.value, statement: stmt.value };
  let off = stmt.next;
  const int16s = (): number[] | undefined => {
    if (off + 2 > payload.length) return undefined;
    const n = payload.readUInt16BE(off);
    if (off + 2 + 2 * n > payload.length) return undefined;
    const list: number[] = [];
    for (let i = 0; i < n; i++) list.push(payload.readInt16BE(off + 2 + 2 * i));
    off += 2 + 2 * n;
    return list;
  };
  const formats = int16s();
  if (!formats) return out;
  out.paramFormats = formats;
  if (off + 2 > payload.length) return out;
  const n = payload.readUInt16BE(off);
  off += 2;
  const params: (Buffer | null)[] = [];
  for (let i = 0; i < n; i++) {
    if (off + 4 > payload.length) return out;
    const len = payload.readInt32BE(off);
    off += 4;
    if (len < 0) params.push(null);
    else {
      if (off + len > payload.length) return out;
      params.push(payload.subarray(off, off + len));
      off += len;
    }
  }
  out.params = params;
  const results = int16s();
  if (results) out.resultFormats = results;
  return out;
}

/** Describe / Close payload: target 'S' (statement) or 'P' (portal) and its name. */
export function parseTargetMessage(payload: Buffer): { target: 'S' | 'P'; name: string } | undefined {
  if (payload.length < 2) return undefined;
  const t = String.fromCharCode(payload[0]!);
  if (t !== 'S' && t !== 'P') return undefined;
  const name = readCString(payload, 1);
  return name ? { target: t, name: name.value } : undefined;
}

function isSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}

function isWordByte(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f;
}

/**
 * The first SQL keyword of `sql`, lowercased ('select', 'insert', 'with', ...), skipping whitespace, `--` and
 * nested block comments, and leading '(' and ';'. Undefined when there is none (empty query, comment cut off).
 */
export function sqlKind(sql: Buffer): string | undefined {
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const b = sql[i]!;
    if (isSpace(b) || b === 0x28 || b === 0x3b) {
      i++;
    } else if (b === 0x2d && sql[i + 1] === 0x2d) {
      const nl = sql.indexOf(0x0a, i + 2);
      if (nl < 0) return undefined;
      i = nl + 1;
    } else if (b === 0x2f && sql[i + 1] === 0x2a) {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === 0x2a && sql[i + 1] === 0x2f) {
          depth--;
          i += 2;
        } else if (sql[i] === 0x2f && sql[i + 1] === 0x2a) {
          depth++;
          i += 2;
        } else i++;
      }
      if (depth > 0) return undefined;
    } else break;
  }
  let j = i;
  while (j < n && j - i < 64 && isWordByte(sql[j]!)) j++;
  if (j === i) return undefined;
  return sql.toString('latin1', i, j).toLowerCase();
}

/** The first `max` characters (code points) of UTF-8 `sql`. */
export function sqlPreview(sql: Buffer, max = 256): string {
  const s = sql.toString('utf8', 0, Math.min(sql.length, max * 4));
  if (s.length <= max) return s;
  let out = '';
  let count = 0;
  for (const ch of s) {
    if (count++ === max) break;
    out += ch;
  }
  return out;
}

/** A typed message: header + payload. */
export function encodeMessage(type: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  out[0] = type;
  out.writeUInt32BE(4 + payload.length, 1);
  payload.copy(out, HEADER_LENGTH);
  return out;
}

/** An ErrorResponse (or NoticeResponse with `type = BE.NoticeResponse`) from `[code letter, value]` pairs. */
export function encodeErrorResponse(fields: ReadonlyArray<readonly [string, string]>, type: number = BE.ErrorResponse): Buffer {
  const parts: Buffer[] = [];
  for (const [code, value] of fields) {
    parts.push(Buffer.from(code, 'latin1').subarray(0, 1), Buffer.from(value.replace(/\0/g, ''), 'utf8'), Buffer.alloc(1));
  }
  parts.push(Buffer.alloc(1));
  return encodeMessage(type, Buffer.concat(parts));
}

/** ReadyForQuery with the given transaction status. */
export function encodeReadyForQuery(status: TransactionStatus): Buffer {
  return Buffer.from([BE.ReadyForQuery, 0, 0, 0, 5, status.charCodeAt(0)]);
}
