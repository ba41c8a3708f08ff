/**
 * Lifters: the complete wire bytes of ONE message (request or response) of one variant → a JSON-like {@link Tree}
 * that the comparator normalises, digests and diffs. Lifters never throw: input they cannot read becomes
 * `{ invalid: "<reason>", raw: "<base64 of the first 4 KiB>" }` (plus `length` and `sha256` of the whole input when
 * it is longer than 4 KiB, so two different long garbage inputs do not compare equal).
 *
 * Byte leaves (bodies, values) that are not text become `{ base64: "..." }`, or `{ sha256, length }` over 64 KiB.
 *
 * http (HTTP/1.x; head + body, the body possibly chunked):
 *   response `{ status: 200, headers: { "content-type": "application/json", ... }, body: <body> }`
 *   request  `{ method: "GET", target: "/users/1?x=2", headers: {...}, body: <body> }`
 *   - header names are lower-cased, repeated headers joined with ", " (order of fields never matters: it is an
 *     object); {@link DEFAULT_IGNORED_HEADERS} plus `ignoreHeaders` are dropped; `compareHeaders: false` drops the
 *     `headers` key altogether. Obsolete folded lines are joined to the previous value. Trailers are not compared.
 *   - the body is framed by chunked transfer-encoding, else Content-Length, else the rest of the bytes (1xx, 204 and
 *     304 responses have none, nor has a response that ends with its head: an answer to HEAD); interim 1xx
 *     responses before the final one are skipped. gzip / x-gzip / deflate / br content-encodings are decoded
 *     (bounded: over 64 MiB, or when decoding fails, the encoded bytes are compared and the tree gets
 *     `undecoded: "<coding>: <reason>"`).
 *   - body: parsed JSON when the content-type contains "json" or the bytes parse as a JSON object/array; a string
 *     when the content-type is text/*, xml, html, javascript or form-urlencoded (and the bytes are valid UTF-8, or a
 *     latin1 charset is declared), or when the bytes are valid UTF-8 without NULs; else `{ base64 }` / `{ sha256,
 *     length }`. An empty body is "".
 *   - a Content-Length that promises more bytes than there are, or broken chunked framing, is `invalid`.
 * redis (one RESP2/RESP3 value):
 *   simple string `{ "+": "OK" }`; error and bulk error `{ "-": "ERR ..." }`; integer → number (`{ ":": "..." }`
 *   beyond 2^53); bulk / verbatim string → string (UTF-8) or `{ base64 }`; null bulk / null array / `_` → null;
 *   `#t` → true; double → number (`{ ",": "inf" }` for inf / -inf / nan); big number → number or `{ "(": "..." }`;
 *   array → array; map → object (non-string keys as their canonical JSON); set → array sorted by canonical JSON
 *   (sets are unordered); push → `{ ">": [...] }`; attributes are dropped. Request: the command as an array of
 *   argument strings (inline commands are split on whitespace). Bytes after the value make it `invalid`.
 * postgres (response: backend messages up to and including ReadyForQuery; request: the frontend messages of one
 *   Query or one Parse/Bind/Describe/Execute/Sync batch, or a startup packet) → an ARRAY, one element per message:
 *   DataRow `{ type, values: [string | {base64} | null] }`; RowDescription `{ type, fields: [{ name, typeOid }] }`
 *   (table oid, attnum, type size/modifier and format dropped); CommandComplete `{ type, tag }`; ErrorResponse /
 *   NoticeResponse `{ type, severity, code, message }` plus detail, hint, where, schema, table, column, dataType,
 *   constraint when present (file F, line L, routine R, positions P/p and internal query q dropped);
 *   ReadyForQuery `{ type, status }`; ParameterStatus `{ type, name, value }` except the per-connection noise in
 *   {@link IGNORED_PG_PARAMETERS} (dropped); Authentication `{ type, code }` (salts / SASL data dropped);
 *   BackendKeyData dropped entirely; NotificationResponse `{ type, channel, payload }` (pid dropped);
 *   ParameterDescription `{ type, typeOids }`; Copy(In|Out|Both)Response `{ type, format, columnFormats }`;
 *   CopyData `{ type, data }`; FunctionCallResponse `{ type, value }`; anything else `{ type }`.
 *   Requests: Query `{ type, sql }`; Parse `{ type, name, sql, paramTypes }`; Bind `{ type, portal, statement,
 *   formats, params, resultFormats }` (text params as strings, binary as `{ base64 }`, NULL as null); Describe /
 *   Close `{ type, target, name }`; Execute `{ type, portal, maxRows }`; CopyData `{ type, data }`; CopyFail
 *   `{ type, message }`; StartupMessage `{ startup: { user, database } }` (other parameters dropped);
 *   SSLRequest / GSSENCRequest / CancelRequest / PasswordMessage (and SASL responses) / Sync / Flush / ... `{ type }`.
 * raw (line, tcp and anything unknown): the frames concatenated; UTF-8 text without NULs → string, else `{ base64 }`
 *   (or `{ sha256, length }` over 64 KiB).
 */
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import zlib from 'node:zlib';
import type { Tree } from './compare.js';
import {
  BE,
  CANCEL_REQUEST_CODE,
  FE,
  GSSENC_REQUEST_CODE,
  HEADER_LENGTH,
  MAX_STARTUP_LENGTH,
  PROTOCOL_3_0,
  SSL_REQUEST_CODE,
  parseBindMessage,
  parseErrorFields,
  parseParseMessage,
  parseRowDescription,
  parseStartupParameters,
  parseTargetMessage,
  readCString,
  typeName,
} from '../protocols/postgres/messages.js';

export interface Lifter {
  lift(frames: readonly Buffer[], kind: 'request' | 'response'): Tree;
}

/** A lifter as the comparator uses it: the tree plus a short summary, and the endpoint key of a request. */
export interface ProtocolLifter extends Lifter {
  readonly protocol: 'http' | 'redis' | 'postgres' | 'raw';
  liftWithSummary(frames: readonly Buffer[], kind: 'request' | 'response'): LiftResult;
  endpoint(requestFrames: readonly Buffer[]): string;
}

export interface LiftResult {
  tree: Tree;
  summary: string;
}

export interface LifterOptions {
  /** HTTP: extra header names (case-insensitive) to drop, added to {@link DEFAULT_IGNORED_HEADERS}. */
  ignoreHeaders?: readonly string[];
  /** HTTP: keep the `headers` key at all (default true). */
  compareHeaders?: boolean;
}

/** Headers dropped from HTTP trees by default (volatile, hop-by-hop, or framing: bodies are compared decoded). */
export const DEFAULT_IGNORED_HEADERS: readonly string[] = Object.freeze([
  'date',
  'age',
  'expires',
  'last-modified',
  'etag',
  'server',
  'x-powered-by',
  'via',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'content-encoding',
  'x-request-id',
  'x-trace-id',
  'traceparent',
  'tracestate',
  'x-amzn-trace-id',
  'x-runtime',
  'x-response-time',
  'server-timing',
  'report-to',
  'nel',
]);

/** ParameterStatus names that differ per connection, not per server behaviour (TimeZone is kept). */
export const IGNORED_PG_PARAMETERS: readonly string[] = Object.freeze(['application_name', 'session_authorization', 'is_superuser', 'in_hot_standby']);

/** Bodies / values above this many bytes are compared by `{ sha256, length }` when they are not text. */
export const MAX_INLINE_BINARY = 64 * 1024;
/** Decompressed HTTP bodies above this are not decoded (the encoded bytes are compared). */
export const MAX_DECODED_BODY = 64 * 1024 * 1024;
/** Bytes of garbage kept (base64) in an `invalid` tree. */
export const MAX_INVALID_RAW = 4 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// shared helpers

type MTree = null | boolean | number | string | MTree[] | { [k: string]: MTree };

/** A parse failure inside a lifter: becomes an `invalid` tree. */
class LiftError extends Error {}

function fail(reason: string): never {
  throw new LiftError(reason);
}

/** `obj[key] = value` that also works for the key "__proto__" (an own property, never the prototype). */
export function setKey(obj: { [k: string]: MTree }, key: string, value: MTree): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function concat(frames: readonly Buffer[]): Buffer {
  if (frames.length === 1) return frames[0]!;
  return Buffer.concat(frames as Buffer[]);
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Non-text bytes as a leaf: `{ base64 }`, or `{ sha256, length }` over {@link MAX_INLINE_BINARY}. */
export function binaryLeaf(buf: Buffer): MTree {
  if (buf.length > MAX_INLINE_BINARY) return { sha256: sha256(buf), length: buf.length };
  return { base64: buf.toString('base64') };
}

/** Bytes as a leaf: a string when valid UTF-8 without NULs, else {@link binaryLeaf}. */
export function bytesLeaf(buf: Buffer): MTree {
  if (isText(buf)) return buf.toString('utf8');
  return binaryLeaf(buf);
}

function isText(buf: Buffer): boolean {
  return buf.indexOf(0) < 0 && isUtf8(buf);
}

/** The tree of input that could not be read. */
export function invalidTree(reason: string, bytes: Buffer): MTree {
  const out: { [k: string]: MTree } = { invalid: reason, raw: bytes.subarray(0, MAX_INVALID_RAW).toString('base64') };
  if (bytes.length > MAX_INVALID_RAW) {
    out['length'] = bytes.length;
    out['sha256'] = sha256(bytes);
  }
  return out;
}

/** Sorted-key JSON (keys by UTF-16 code units), for set ordering and non-string map keys. */
function stable(t: MTree): string {
  if (t === null || typeof t !== 'object') return JSON.stringify(t) ?? 'null';
  if (Array.isArray(t)) return `[${t.map(stable).join(',')}]`;
  const keys = Object.keys(t).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stable(t[k]!)}`).join(',')}}`;
}

function shorten(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function guarded(protocol: string, bytes: Buffer, fn: () => LiftResult): LiftResult {
  try {
    return fn();
  } catch (err) {
    const reason = err instanceof LiftError ? err.message : `${protocol}: ${err instanceof Error ? err.message : String(err)}`;
    return { tree: invalidTree(reason, bytes), summary: `invalid: ${shorten(reason, 80)}` };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// http

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE_RE = /^HTTP\/\d(?:\.\d)? (\d{3})(?:[ \t].*)?$/;
const REQUEST_LINE_RE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/\d(?:\.\d)?$/;
const LATIN1_CHARSET_RE = /charset\s*=\s*"?(iso-8859-1|latin1|latin-1|windows-1252|us-ascii|ascii)"?/i;
const TEXTUAL_TYPE_RE = /^text\/|xml|html|javascript|ecmascript|x-www-form-urlencoded|\+json|json/;

interface HttpHead {
  startLine: string;
  headers: Map<string, string>;
  bodyStart: number;
}

/** End of the head (index after the blank line), accepting CRLFCRLF or bare LFLF; -1 when there is none. */
function headEnd(buf: Buffer, from: number): number {
  const crlf = buf.indexOf('\r\n\r\n', from, 'latin1');
  const lflf = buf.indexOf('\n\n', from, 'latin1');
  if (crlf < 0 && lflf < 0) return -1;
  if (crlf >= 0 && (lflf < 0 || crlf < lflf)) return crlf + 4;
  return lflf + 2;
}

function parseHttpHead(buf: Buffer, from: number): HttpHead {
  const end = headEnd(buf, from);
  if (end < 0) fail(`http: no complete message head (no blank line) in ${buf.length - from} bytes`);
  const text = buf.toString('latin1', from, end);
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const startLine = lines[0] ?? '';
  const headers = new Map<string, string>();
  let last: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (last === undefined) fail('http: folded header line before any header');
      headers.set(last, `${headers.get(last)!} ${line.trim()}`.trim());
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon);
    if (colon <= 0 || !TOKEN_RE.test(name)) fail(`http: invalid header line ${JSON.stringify(shorten(line, 60))}`);
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers.get(key);
    headers.set(key, prev === undefined ? value : `${prev}, ${value}`);
    last = key;
  }
  return { startLine, headers, bodyStart: end };
}

/** Decode a chunked body starting at `pos`; returns the data and the index after the last chunk / trailers. */
function dechunk(buf: Buffer, pos: number): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  for (;;) {
    const lf = buf.indexOf(0x0a, pos);
    if (lf < 0) fail('http: chunked body ends inside a chunk-size line');
    const line = buf.toString('latin1', pos, lf).replace(/\r$/, '');
    const sizeText = (line.split(';', 1)[0] ?? '').trim();
    if (!/^[0-9a-fA-F]{1,15}$/.test(sizeText)) fail(`http: invalid chunk size line ${JSON.stringify(shorten(line, 40))}`);
    const size = parseInt(sizeText, 16);
    pos = lf + 1;
    if (size === 0) break; // trailers (if any) are not compared
    if (pos + size > buf.length) fail(`http: chunked body truncated (chunk of ${size} bytes, ${buf.length - pos} present)`);
    total += size;
    if (total > MAX_DECODED_BODY) fail(`http: chunked body over ${MAX_DECODED_BODY} bytes`);
    parts.push(buf.subarray(pos, pos + size));
    pos += size;
    if (buf[pos] === 0x0d) pos++;
    if (buf[pos] === 0x0a) pos++;
    else fail('http: chunk data not followed by CRLF');
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

function decodeContent(body: Buffer, codingHeader: string | undefined): { body: Buffer; undecoded?: string } {
  if (codingHeader === undefined || body.length === 0) return { body };
  const codings = codingHeader
    .toLowerCase()
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0 && s !== 'identity');
  let out = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!;
    const opts = { maxOutputLength: MAX_DECODED_BODY };
    try {
      if (coding === 'gzip' || coding === 'x-gzip') out = zlib.gunzipSync(out, opts);
      else if (coding === 'br') out = zlib.brotliDecompressSync(out, opts);
      else if (coding === 'deflate') {
        try {
          out = zlib.inflateSync(out, opts);
        } catch (err) {
          if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw err;
          out = zlib.inflateRawSync(out, opts); // servers that send raw deflate
        }
      } else return { body: out, undecoded: `${coding}: unsupported content-coding` };
    } catch (err) {
      const code = (err as { code?: string }).code;
      const why = code === 'ERR_BUFFER_TOO_LARGE' ? `decoded body over ${MAX_DECODED_BODY} bytes` : err instanceof Error ? err.message : String(err);
      return { body: out, undecoded: `${coding}: ${why}` };
    }
  }
  return { body: out };
}

function bodyTree(body: Buffer, contentType: string): MTree {
  if (body.length === 0) return '';
  const ct = contentType.toLowerCase();
  const first = firstNonSpace(body);
  const looksJson = first === 0x7b /* { */ || first === 0x5b; /* [ */
  if (ct.includes('json') || looksJson) {
    if (isUtf8(body)) {
      try {
        let s = body.toString('utf8');
        if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
        return JSON.parse(s) as MTree;
      } catch {
        // not JSON after all: text or bytes below
      }
    }
  }
  if (TEXTUAL_TYPE_RE.test(ct)) {
    if (isUtf8(body)) return body.toString('utf8');
    if (LATIN1_CHARSET_RE.test(ct)) return body.toString('latin1');
  }
  return bytesLeaf(body);
}

function firstNonSpace(buf: Buffer): number | undefined {
  for (let i = 0; i < buf.length && i < 1024; i++) {
    const b = buf[i]!;
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0xef && b !== 0xbb && b !== 0xbf) return b;
  }
  return undefined;
}

function createHttpLifter(options: LifterOptions): ProtocolLifter {
  const ignored = new Set<string>([...DEFAULT_IGNORED_HEADERS, ...(options.ignoreHeaders ?? []).map((h) => h.toLowerCase())]);
  const compareHeaders = options.compareHeaders ?? true;

  const liftOne = (buf: Buffer, kind: 'request' | 'response'): LiftResult => {
    let from = 0;
    let head = parseHttpHead(buf, from);
    let status = 0;
    let method = '';
    let target = '';
    if (kind === 'response') {
      for (;;) {
        const m = STATUS_LINE_RE.exec(head.startLine);
        if (!m) fail(`http: invalid status line ${JSON.stringify(shorten(head.startLine, 80))}`);
        status = Number(m[1]);
        // interim responses (100 Continue, 103 Early Hints) before the final one
        if (status >= 100 && status < 200 && status !== 101 && head.bodyStart < buf.length) {
          from = head.bodyStart;
          head = parseHttpHead(buf, from);
          continue;
        }
        break;
      }
    } else {
      const m = REQUEST_LINE_RE.exec(head.startLine);
      if (!m) fail(`http: invalid request line ${JSON.stringify(shorten(head.startLine, 80))}`);
      method = m[1]!;
      target = m[2]!;
    }
    const h = head.headers;
    let raw: Buffer;
    const te = h.get('transfer-encoding');
    const cl = h.get('content-length');
    const noBody = kind === 'response' && ((status >= 100 && status < 200) || status === 204 || status === 304);
    // 1xx/204/304 have no body; nor has an answer to HEAD, which the lifter recognises by nothing after the head
    if (noBody || (kind === 'response' && head.bodyStart === buf.length)) raw = Buffer.alloc(0);
    else if (te !== undefined && /(^|,)\s*chunked\s*$/i.test(te)) raw = dechunk(buf, head.bodyStart);
    else if (cl !== undefined) {
      const values = new Set(cl.split(',').map((s) => s.trim()));
      const v = [...values][0] ?? '';
      if (values.size !== 1 || !/^\d{1,15}$/.test(v)) fail(`http: invalid Content-Length ${JSON.stringify(shorten(cl, 40))}`);
      const n = Number(v);
      const have = buf.length - head.bodyStart;
      if (n > have) fail(`http: body truncated (Content-Length ${n}, ${have} bytes present)`);
      raw = buf.subarray(head.bodyStart, head.bodyStart + n);
    } else if (kind === 'request') raw = buf.subarray(head.bodyStart); // requests without length have no body, but keep what came
    else raw = buf.subarray(head.bodyStart);
    const decoded = decodeContent(raw, h.get('content-encoding'));
    const contentType = h.get('content-type') ?? '';
    const body = bodyTree(decoded.body, contentType);

    const headers: { [k: string]: MTree } = {};
    for (const [k, v] of [...h.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
      if (!ignored.has(k)) setKey(headers, k, v);
    }
    const tree: { [k: string]: MTree } = kind === 'response' ? { status } : { method, target };
    if (compareHeaders) tree['headers'] = headers;
    tree['body'] = body;
    if (decoded.undecoded !== undefined) tree['undecoded'] = decoded.undecoded;
    const ctShort = contentType.split(';', 1)[0]!.trim() || '-';
    const size = decoded.body.length;
    const summary = kind === 'response' ? `${status} ${ctShort} ${size} B` : `${method} ${shorten(target, 80)} ${size} B`;
    return { tree, summary };
  };

  return {
    protocol: 'http',
    liftWithSummary(frames, kind) {
      const buf = concat(frames);
      return guarded('http', buf, () => liftOne(buf, kind));
    },
    lift(frames, kind) {
      return this.liftWithSummary(frames, kind).tree;
    },
    endpoint(requestFrames) {
      const buf = concat(requestFrames);
      const lf = buf.indexOf(0x0a);
      const line = buf.toString('latin1', 0, lf < 0 ? Math.min(buf.length, 8192) : Math.min(lf, 8192)).replace(/\r$/, '');
      const m = /^(\S+) (\S+)/.exec(line);
      if (!m || !TOKEN_RE.test(m[1]!)) return '*';
      return `${m[1]!} ${httpPathKey(m[2]!)}`;
    },
  };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMERIC_RE = /^\d+$/;
const HEXISH_RE = /^[0-9a-f]{16,}$/i;

/** "/users/42/posts?x=1" → "/users/:id/posts": numeric, uuid and long hex segments become ":id"; query dropped. */
export function httpPathKey(target: string): string {
  let path = target;
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(path);
  if (abs) path = path.slice(abs[0].length) || '/';
  const cut = path.search(/[?#]/);
  if (cut >= 0) path = path.slice(0, cut);
  const key = path
    .split('/')
    .map((seg) => (NUMERIC_RE.test(seg) || UUID_RE.test(seg) || HEXISH_RE.test(seg) ? ':id' : seg))
    .join('/');
  return shorten(key, 200);
}

// ---------------------------------------------------------------------------------------------------------------
// redis

const MAX_RESP_DEPTH = 128;

interface RespReader {
  buf: Buffer;
  pos: number;
}

function respLine(r: RespReader): string {
  const lf = r.buf.indexOf(0x0a, r.pos);
  if (lf < 0 || lf === r.pos || r.buf[lf - 1] !== 0x0d) fail(lf < 0 ? 'redis: reply truncated (no CRLF)' : 'redis: line does not end in CRLF');
  const s = r.buf.toString('utf8', r.pos, lf - 1);
  r.pos = lf + 1;
  return s;
}

function respLength(s: string, what: string): number {
  if (!/^-?\d{1,15}$/.test(s)) fail(`redis: invalid ${what} length ${JSON.stringify(shorten(s, 30))}`);
  return Number(s);
}

function respBulk(r: RespReader, n: number): Buffer {
  if (r.pos + n + 2 > r.buf.length) fail(`redis: bulk string truncated (${n} bytes declared, ${Math.max(0, r.buf.length - r.pos - 2)} present)`);
  const data = r.buf.subarray(r.pos, r.pos + n);
  if (r.buf[r.pos + n] !== 0x0d || r.buf[r.pos + n + 1] !== 0x0a) fail('redis: bulk string not followed by CRLF');
  r.pos += n + 2;
  return data;
}

function respCount(r: RespReader, s: string, what: string, per: number): number {
  const n = respLength(s, what);
  if (n > (r.buf.length - r.pos) / per + 1) fail(`redis: ${what} of ${n} elements truncated`);
  return n;
}

function respInteger(s: string, tag: ':' | '('): MTree {
  if (!/^[-+]?\d+$/.test(s)) fail(`redis: invalid ${tag === ':' ? 'integer' : 'big number'} ${JSON.stringify(shorten(s, 30))}`);
  const n = Number(s);
  if (Number.isSafeInteger(n)) return n;
  return { [tag]: s.replace(/^\+/, '') };
}

function readResp(r: RespReader, depth: number): MTree {
  if (depth > MAX_RESP_DEPTH) fail(`redis: nesting deeper than ${MAX_RESP_DEPTH}`);
  if (r.pos >= r.buf.length) fail('redis: reply truncated');
  const type = r.buf[r.pos]!;
  r.pos++;
  const line = respLine(r);
  switch (type) {
    case 0x2b: // +
      return { '+': line };
    case 0x2d: // -
      return { '-': line };
    case 0x3a: // :
      return respInteger(line, ':');
    case 0x28: // (
      return respInteger(line, '(');
    case 0x24: {
      // $
      const n = respLength(line, 'bulk');
      if (n < 0) return null;
      return bytesLeaf(respBulk(r, n));
    }
    case 0x21: {
      // ! bulk error
      const n = respLength(line, 'bulk error');
      if (n < 0) fail('redis: negative bulk error length');
      return { '-': respBulk(r, n).toString('utf8') };
    }
    case 0x3d: {
      // = verbatim string: "txt:" prefix
      const n = respLength(line, 'verbatim');
      if (n < 0) fail('redis: negative verbatim string length');
      const data = respBulk(r, n);
      return bytesLeaf(data.length >= 4 && data[3] === 0x3a ? data.subarray(4) : data);
    }
    case 0x5f: // _
      return null;
    case 0x23: // #
      if (line === 't') return true;
      if (line === 'f') return false;
      return fail(`redis: invalid boolean ${JSON.stringify(shorten(line, 10))}`);
    case 0x2c: {
      // , double
      const l = line.toLowerCase();
      if (l === 'inf' || l === '+inf' || l === '-inf' || l === 'nan' || l === '-nan') return { ',': l.replace(/^\+/, '').replace('-nan', 'nan') };
      const n = Number(line);
      if (line.trim() === '' || !Number.isFinite(n)) fail(`redis: invalid double ${JSON.stringify(shorten(line, 30))}`);
      return n;
    }
    case 0x2a: // *
    case 0x7e: // ~
    case 0x3e: {
      // >
      const n = respCount(r, line, 'array', 3);
      if (n < 0) return null;
      const items: MTree[] = [];
      for (let i = 0; i < n; i++) items.push(readResp(r, depth + 1));
      if (type === 0x7e) {
        const keyed = items.map((v) => [stable(v), v] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        return keyed.map((k) => k[1]);
      }
      return type === 0x3e ? { '>': items } : items;
    }
    case 0x25: // %
    case 0x7c: {
      // | attribute: a map that decorates the next value
      const n = respCount(r, line, 'map', 6);
      if (n < 0) fail('redis: negative map length');
      const out: { [k: string]: MTree } = {};
      for (let i = 0; i < n; i++) {
        const k = readResp(r, depth + 1);
        const v = readResp(r, depth + 1);
        setKey(out, typeof k === 'string' ? k : stable(k), v);
      }
      if (type === 0x7c) return readResp(r, depth);
      return out;
    }
    default:
      return fail(`redis: unknown reply type byte 0x${type.toString(16).padStart(2, '0')}`);
  }
}

function respSummary(t: MTree, bytes: Buffer): string {
  if (t === null) return 'nil';
  if (typeof t === 'number' || typeof t === 'boolean') return `:${String(t)}`;
  if (typeof t === 'string') return `$${Buffer.byteLength(t)}`;
  if (Array.isArray(t)) return `*${t.length}`;
  const o = t as { [k: string]: MTree };
  if (typeof o['+'] === 'string') return `+${shorten(o['+'], 60)}`;
  if (typeof o['-'] === 'string') return `-${shorten(o['-'], 60)}`;
  if ('base64' in o || 'sha256' in o) return `$${bytes.length}`;
  return `%${Object.keys(o).length}`;
}

function readRedisCommand(buf: Buffer): MTree {
  if (buf[0] === 0x2a) {
    const r: RespReader = { buf, pos: 1 };
    const n = respCount(r, respLine(r), 'command', 4);
    const args: MTree[] = [];
    for (let i = 0; i < n; i++) {
      if (r.buf[r.pos] !== 0x24) fail('redis: command argument is not a bulk string');
      r.pos++;
      const len = respLength(respLine(r), 'bulk');
      if (len < 0) fail('redis: null command argument');
      args.push(bytesLeaf(respBulk(r, len)));
    }
    if (r.pos !== buf.length) fail(`redis: ${buf.length - r.pos} bytes after the command`);
    return args;
  }
  // inline command
  const text = buf.toString('utf8').replace(/\r?\n$/, '');
  if (text.includes('\n') || text.includes('\0')) fail('redis: not a RESP command');
  return text.split(/[ \t]+/).filter((s) => s.length > 0);
}

function createRedisLifter(): ProtocolLifter {
  return {
    protocol: 'redis',
    liftWithSummary(frames, kind) {
      const buf = concat(frames);
      return guarded('redis', buf, () => {
        if (kind === 'request') {
          const tree = readRedisCommand(buf);
          const args = tree as MTree[];
          return { tree, summary: `${typeof args[0] === 'string' ? args[0].toUpperCase() : '?'} (${args.length} args)` };
        }
        const r: RespReader = { buf, pos: 0 };
        const tree = readResp(r, 0);
        if (r.pos !== buf.length) fail(`redis: ${buf.length - r.pos} bytes after the reply`);
        return { tree, summary: respSummary(tree, buf) };
      });
    },
    lift(frames, kind) {
      return this.liftWithSummary(frames, kind).tree;
    },
    endpoint(requestFrames) {
      const buf = concat(requestFrames);
      try {
        const args = readRedisCommand(buf) as MTree[];
        const first = args[0];
        return typeof first === 'string' && first.length > 0 ? shorten(first.toUpperCase(), 64) : '*';
      } catch {
        // a truncated or odd command: the name is still usually readable
        const m = /^\*\d+\r\n\$\d+\r\n([^\r\n]{1,64})\r\n/.exec(buf.toString('latin1', 0, 256));
        return m ? m[1]!.toUpperCase() : '*';
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// postgres

const PG_IGNORED = new Set(IGNORED_PG_PARAMETERS);
const ERROR_FIELD_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['D', 'detail'],
  ['H', 'hint'],
  ['W', 'where'],
  ['s', 'schema'],
  ['t', 'table'],
  ['c', 'column'],
  ['d', 'dataType'],
  ['n', 'constraint'],
];

function pgName(type: number, from: 'client' | 'server'): string {
  const n = typeName(type, from);
  const paren = n.indexOf(' (');
  return paren > 0 && !n.startsWith('unknown') ? n.slice(0, paren) : n;
}

function cstr(p: Buffer, off: number, what: string): { value: string; next: number } {
  const v = readCString(p, off);
  if (!v) fail(`postgres: ${what}: string not terminated`);
  return v;
}

function need(p: Buffer, n: number, what: string): void {
  if (p.length < n) fail(`postgres: ${what} payload too short (${p.length} bytes)`);
}

/** Split typed messages: `type | int32 length | payload`. */
function* pgMessages(buf: Buffer, start: number, from: 'client' | 'server'): Generator<{ type: number; payload: Buffer }> {
  let pos = start;
  while (pos < buf.length) {
    if (pos + HEADER_LENGTH > buf.length) fail(`postgres: message header truncated (${buf.length - pos} bytes)`);
    const type = buf[pos]!;
    const len = buf.readUInt32BE(pos + 1);
    if (len < 4) fail(`postgres: ${typeName(type, from)} declares length ${len}`);
    if (pos + 1 + len > buf.length) fail(`postgres: ${pgName(type, from)} truncated (${len - 4} payload bytes declared, ${buf.length - pos - HEADER_LENGTH} present)`);
    yield { type, payload: buf.subarray(pos + HEADER_LENGTH, pos + 1 + len) };
    pos += 1 + len;
  }
}

function backendMessage(type: number, p: Buffer): MTree | undefined {
  const name = pgName(type, 'server');
  switch (type) {
    case BE.BackendKeyData:
      return undefined;
    case BE.DataRow: {
      need(p, 2, name);
      const n = p.readUInt16BE(0);
      let off = 2;
      const values: MTree[] = [];
      for (let i = 0; i < n; i++) {
        need(p, off + 4, name);
        const len = p.readInt32BE(off);
        off += 4;
        if (len < 0) values.push(null);
        else {
          need(p, off + len, name);
          values.push(bytesLeaf(p.subarray(off, off + len)));
          off += len;
        }
      }
      return { type: name, values };
    }
    case BE.RowDescription: {
      need(p, 2, name);
      const fields = parseRowDescription(p);
      if (fields.length !== p.readUInt16BE(0)) fail('postgres: RowDescription truncated');
      return { type: name, fields: fields.map((f) => ({ name: f.name, typeOid: f.typeOid })) };
    }
    case BE.CommandComplete:
      return { type: name, tag: cstr(p, 0, name).value };
    case BE.ErrorResponse:
    case BE.NoticeResponse: {
      const f = parseErrorFields(p);
      const out: { [k: string]: MTree } = { type: name, severity: f['V'] ?? f['S'] ?? '', code: f['C'] ?? '', message: f['M'] ?? '' };
      for (const [code, key] of ERROR_FIELD_NAMES) if (f[code] !== undefined) out[key] = f[code];
      return out;
    }
    case BE.ReadyForQuery:
      need(p, 1, name);
      return { type: name, status: String.fromCharCode(p[0]!) };
    case BE.ParameterStatus: {
      const k = cstr(p, 0, name);
      const v = cstr(p, k.next, name);
      if (PG_IGNORED.has(k.value)) return undefined;
      return { type: name, name: k.value, value: v.value };
    }
    case BE.Authentication:
      need(p, 4, name);
      return { type: name, code: p.readInt32BE(0) };
    case BE.NotificationResponse: {
      need(p, 4, name);
      const ch = cstr(p, 4, name);
      const payload = cstr(p, ch.next, name);
      return { type: name, channel: ch.value, payload: payload.value };
    }
    case BE.ParameterDescription: {
      need(p, 2, name);
      const n = p.readUInt16BE(0);
      need(p, 2 + 4 * n, name);
      const typeOids: MTree[] = [];
      for (let i = 0; i < n; i++) typeOids.push(p.readUInt32BE(2 + 4 * i));
      return { type: name, typeOids };
    }
    case BE.CopyInResponse:
    case BE.CopyOutResponse:
    case BE.CopyBothResponse: {
      need(p, 3, name);
      const n = p.readUInt16BE(1);
      need(p, 3 + 2 * n, name);
      const columnFormats: MTree[] = [];
      for (let i = 0; i < n; i++) columnFormats.push(p.readInt16BE(3 + 2 * i));
      return { type: name, format: p[0]!, columnFormats };
    }
    case BE.CopyData:
      return { type: name, data: bytesLeaf(p) };
    case BE.FunctionCallResponse: {
      need(p, 4, name);
      const len = p.readInt32BE(0);
      if (len >= 0) need(p, 4 + len, name);
      return { type: name, value: len < 0 ? null : bytesLeaf(p.subarray(4, 4 + len)) };
    }
    default:
      if (name.startsWith('unknown')) fail(`postgres: ${name}`);
      return { type: name };
  }
}

function frontendMessage(type: number, p: Buffer): MTree {
  const name = pgName(type, 'client');
  switch (type) {
    case FE.Query:
      return { type: name, sql: cstr(p, 0, name).value };
    case FE.Parse: {
      const m = parseParseMessage(p);
      if (!m || m.paramTypes === undefined) fail('postgres: Parse truncated');
      return { type: name, name: m.statement, sql: m.sql.toString('utf8'), paramTypes: m.paramTypes };
    }
    case FE.Bind: {
      const m = parseBindMessage(p);
      if (!m || m.params === undefined || m.paramFormats === undefined) fail('postgres: Bind truncated');
      const formats = m.paramFormats;
      const params: MTree[] = m.params.map((v, i) => {
        if (v === null) return null;
        const fmt = formats.length === 0 ? 0 : formats.length === 1 ? formats[0]! : (formats[i] ?? 0);
        return fmt === 1 ? { base64: v.toString('base64') } : v.toString('utf8');
      });
      return { type: name, portal: m.portal, statement: m.statement, formats, params, resultFormats: m.resultFormats ?? [] };
    }
    case FE.Describe:
    case FE.Close: {
      const t = parseTargetMessage(p);
      if (!t) fail(`postgres: ${name} truncated`);
      return { type: name, target: t.target, name: t.name };
    }
    case FE.Execute: {
      const portal = cstr(p, 0, name);
      need(p, portal.next + 4, name);
      return { type: name, portal: portal.value, maxRows: p.readInt32BE(portal.next) };
    }
    case FE.CopyData:
      return { type: name, data: bytesLeaf(p) };
    case FE.CopyFail:
      return { type: name, message: cstr(p, 0, name).value };
    default:
      if (name.startsWith('unknown')) fail(`postgres: ${name}`);
      return { type: name }; // Sync, Flush, Terminate, CopyDone, FunctionCall, PasswordMessage (secrets never kept)
  }
}

/** The untyped first message of a connection (StartupMessage, SSLRequest, ...), when `buf` starts with one. */
function untypedMessage(buf: Buffer): { tree: MTree; length: number } | undefined {
  if (buf.length < 8) return undefined;
  const len = buf.readUInt32BE(0);
  const code = buf.readUInt32BE(4);
  if (len < 8 || len > MAX_STARTUP_LENGTH || len > buf.length) return undefined;
  if (code === SSL_REQUEST_CODE) return { tree: { type: 'SSLRequest' }, length: len };
  if (code === GSSENC_REQUEST_CODE) return { tree: { type: 'GSSENCRequest' }, length: len };
  if (code === CANCEL_REQUEST_CODE) return { tree: { type: 'CancelRequest' }, length: len };
  if (code === PROTOCOL_3_0 || code >> 16 === 3) {
    const params = parseStartupParameters(buf.subarray(8, len));
    if (!params) fail('postgres: malformed StartupMessage parameters');
    const startup: { [k: string]: MTree } = { user: params['user'] ?? null, database: params['database'] ?? params['user'] ?? null };
    return { tree: { startup }, length: len };
  }
  return undefined;
}

function pgSummary(messages: MTree[]): string {
  const parts: string[] = [];
  let rows = 0;
  for (const m of messages) {
    const o = m as { [k: string]: MTree };
    if (o['type'] === 'DataRow') rows++;
    else if (o['type'] === 'CommandComplete') parts.push(`CommandComplete ${String(o['tag'])}`);
    else if (o['type'] === 'ErrorResponse') parts.push(`ErrorResponse ${String(o['code'])} ${shorten(String(o['message']), 60)}`);
    else if (o['type'] === 'Query') parts.push(`Query ${shorten(String(o['sql']), 60)}`);
    else if (o['type'] === 'Parse') parts.push(`Parse ${shorten(String(o['sql']), 60)}`);
    else if (o['startup'] !== undefined) parts.push('StartupMessage');
  }
  if (parts.length === 0) {
    const types = messages.map((m) => String((m as { [k: string]: MTree })['type'] ?? '?'));
    return shorten(types.join(' ') || 'empty', 100);
  }
  if (rows > 0 && parts.length === 1 && parts[0]!.startsWith('CommandComplete')) return parts[0]!;
  return shorten(parts.join('; '), 160);
}

/** Normalised SQL for endpoint keys: literals and numbers → '?', whitespace collapsed, first 60 characters. */
export function sqlShape(sql: string): string {
  const s = sql
    .replace(/[Ee]?'(?:[^']|'')*'/g, '?')
    .replace(/(?<![\w$.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])/g, '?')
    .replace(/\s+/g, ' ')
    .trim();
  return s.slice(0, 60);
}

function createPostgresLifter(): ProtocolLifter {
  const liftPg = (buf: Buffer, kind: 'request' | 'response'): LiftResult => {
    const out: MTree[] = [];
    let start = 0;
    if (kind === 'request') {
      const first = untypedMessage(buf);
      if (first) {
        out.push(first.tree);
        start = first.length;
      }
      for (const m of pgMessages(buf, start, 'client')) out.push(frontendMessage(m.type, m.payload));
    } else {
      if (buf.length === 1 && (buf[0] === 0x53 || buf[0] === 0x4e)) {
        const tree = [{ type: 'SSLResponse', accept: String.fromCharCode(buf[0]) }];
        return { tree, summary: `SSLResponse ${String.fromCharCode(buf[0])}` };
      }
      for (const m of pgMessages(buf, 0, 'server')) {
        const t = backendMessage(m.type, m.payload);
        if (t !== undefined) out.push(t);
      }
    }
    if (buf.length === 0) fail('postgres: empty message');
    return { tree: out, summary: pgSummary(out) };
  };
  return {
    protocol: 'postgres',
    liftWithSummary(frames, kind) {
      const buf = concat(frames);
      return guarded('postgres', buf, () => liftPg(buf, kind));
    },
    lift(frames, kind) {
      return this.liftWithSummary(frames, kind).tree;
    },
    endpoint(requestFrames) {
      const { tree } = this.liftWithSummary(requestFrames, 'request');
      if (!Array.isArray(tree)) return '*';
      for (const m of tree) {
        const o = m as { [k: string]: MTree };
        if ((o['type'] === 'Query' || o['type'] === 'Parse') && typeof o['sql'] === 'string') return sqlShape(o['sql']) || '(empty query)';
      }
      for (const m of tree) {
        const o = m as { [k: string]: MTree };
        if (o['startup'] !== undefined) return 'startup';
        if (o['type'] === 'Bind') return `Bind ${String(o['statement']) || '(unnamed)'}`;
      }
      const first = tree[0] as { [k: string]: MTree } | undefined;
      return first && typeof first['type'] === 'string' ? first['type'] : '*';
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// raw

function createRawLifter(): ProtocolLifter {
  return {
    protocol: 'raw',
    liftWithSummary(frames) {
      const buf = concat(frames);
      const tree = bytesLeaf(buf);
      return { tree, summary: `${typeof tree === 'string' ? 'text' : 'binary'} ${buf.length} B` };
    },
    lift(frames, kind) {
      return this.liftWithSummary(frames, kind).tree;
    },
    endpoint() {
      return '*';
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// registry

/** Lifter factories by protocol name; {@link lifterFor} maps every other name (line, tcp, ...) to raw. */
export const LIFTERS: Readonly<Record<string, (options: LifterOptions) => ProtocolLifter>> = Object.freeze({
  http: createHttpLifter,
  redis: () => createRedisLifter(),
  postgres: () => createPostgresLifter(),
  raw: () => createRawLifter(),
});

/** The lifter for a protocol name: http, redis, postgres; anything else (line, tcp, unknown) is raw. */
export function lifterFor(protocol: string, options: LifterOptions = {}): ProtocolLifter {
  const make = Object.prototype.hasOwnProperty.call(LIFTERS, protocol) ? LIFTERS[protocol]! : LIFTERS['raw']!;
  return make(options);
}
