/**
 * HTTP/1.x message head syntax (RFC 9112 §2–§6): the request line, the status line and the header fields the codec
 * interprets. A head is parsed once, whole, from the Buffer holding it (found by one indexOf of CRLFCRLF); lines are
 * found with `indexOf(LF)`, field names are checked against the token table, and only the fields that decide framing
 * or pairing (Content-Length, Transfer-Encoding, Connection, Upgrade, Expect, Host) are decoded to strings.
 */
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import { RECENT_HOST, RECENT_PATH, recentLatin1 } from './recent-strings.js';

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HT = 0x09;
const COLON = 0x3a;
const QUESTION = 0x3f;
export const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/** tchar (RFC 9110 §5.6.2): "!#$%&'*+-.^_`|~", DIGIT, ALPHA. */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

export function malformed(message: string, details: Record<string, unknown> = {}): SwitchyardError {
  return new SwitchyardError(ErrorCodes.FRAME_MALFORMED, `http: ${message}`, { details: { protocol: 'http', ...details } });
}

/** What a head says about framing, persistence and switching. One object per parsed head. */
export interface HeadFields {
  /** Content-Length value, -1 when absent. */
  contentLength: number;
  /** A Transfer-Encoding field was present. */
  hasTransferEncoding: boolean;
  /** The last transfer coding is `chunked`. */
  chunked: boolean;
  /** Connection: close. */
  close: boolean;
  /** Connection: keep-alive. */
  keepAlive: boolean;
  /** Connection: upgrade. */
  connectionUpgrade: boolean;
  /** An Upgrade field was present. */
  upgrade: boolean;
  /** Expect: 100-continue. */
  expectContinue: boolean;
  /** First Host field value, lower case ('' when absent). */
  host: string;
}

function newFields(): HeadFields {
  return {
    contentLength: -1,
    hasTransferEncoding: false,
    chunked: false,
    close: false,
    keepAlive: false,
    connectionUpgrade: false,
    upgrade: false,
    expectContinue: false,
    host: '',
  };
}

const lower = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const N_HOST = lower('host');
const N_EXPECT = lower('expect');
const N_UPGRADE = lower('upgrade');
const N_CONNECTION = lower('connection');
const N_CONTENT_LENGTH = lower('content-length');
const N_TRANSFER_ENCODING = lower('transfer-encoding');

/** Case-insensitive compare of `h[start..start+name.length)` with a lower-case ASCII name. */
function isName(h: Buffer, start: number, name: Uint8Array): boolean {
  for (let i = 0; i < name.length; i++) {
    let c = h[start + i]!;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== name[i]) return false;
  }
  return true;
}

/** The field value between `from` and `to` with leading/trailing OWS removed, as latin1. */
function value(h: Buffer, from: number, to: number): string {
  while (from < to && (h[from] === SP || h[from] === HT)) from++;
  while (to > from && (h[to - 1] === SP || h[to - 1] === HT)) to--;
  return h.toString('latin1', from, to);
}

/** The Host value (OWS trimmed) in lower case, the last one again when the bytes are the same. */
function hostValue(h: Buffer, from: number, to: number): string {
  while (from < to && (h[from] === SP || h[from] === HT)) from++;
  while (to > from && (h[to - 1] === SP || h[to - 1] === HT)) to--;
  return recentLatin1(h, from, to, RECENT_HOST);
}

function parseContentLength(raw: string, previous: number): number {
  let result = previous;
  // a list of identical values ("5, 5") is allowed (RFC 9110 §8.6); anything else is an error
  for (const part of raw.includes(',') ? raw.split(',') : [raw]) {
    const v = part.trim();
    if (v.length === 0 || v.length > 15) throw malformed(`invalid Content-Length ${JSON.stringify(raw)}`);
    let n = 0;
    for (let i = 0; i < v.length; i++) {
      const d = v.charCodeAt(i) - 48;
      if (d < 0 || d > 9) throw malformed(`invalid Content-Length ${JSON.stringify(raw)}`);
      n = n * 10 + d;
    }
    if (result >= 0 && n !== result) throw malformed(`conflicting Content-Length values (${result} and ${n})`);
    result = n;
  }
  return result;
}

/**
 * Content-Length read from the bytes `h[from..to)` when the value is plain digits with optional OWS around it (the
 * usual case: no string is built); -2 when it is anything else (a list, a bad value), left to parseContentLength.
 */
function plainContentLength(h: Buffer, from: number, to: number): number {
  while (from < to && (h[from] === SP || h[from] === HT)) from++;
  while (to > from && (h[to - 1] === SP || h[to - 1] === HT)) to--;
  const len = to - from;
  if (len === 0 || len > 15) return -2;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = h[i]! - 48;
    if (d < 0 || d > 9) return -2;
    n = n * 10 + d;
  }
  return n;
}

const N_KEEP_ALIVE = lower('keep-alive');
const N_CLOSE = lower('close');

/** Connection: a single `keep-alive` or `close` token (any case, OWS around) read from the bytes; else false. */
function plainConnection(h: Buffer, from: number, to: number, f: HeadFields): boolean {
  while (from < to && (h[from] === SP || h[from] === HT)) from++;
  while (to > from && (h[to - 1] === SP || h[to - 1] === HT)) to--;
  const len = to - from;
  if (len === N_KEEP_ALIVE.length && isName(h, from, N_KEEP_ALIVE)) f.keepAlive = true;
  else if (len === N_CLOSE.length && isName(h, from, N_CLOSE)) f.close = true;
  else return false;
  return true;
}

function connectionTokens(raw: string, f: HeadFields): void {
  const v = raw.toLowerCase();
  if (v === 'keep-alive') f.keepAlive = true;
  else if (v === 'close') f.close = true;
  else {
    for (const part of v.split(',')) {
      const t = part.trim();
      if (t === 'close') f.close = true;
      else if (t === 'keep-alive') f.keepAlive = true;
      else if (t === 'upgrade') f.connectionUpgrade = true;
    }
  }
}

function transferCodings(raw: string, f: HeadFields): void {
  const v = raw.toLowerCase();
  f.hasTransferEncoding = true;
  const codings = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (codings.length === 0) return; // an empty element list: the previous field (if any) decides
  const last = codings[codings.length - 1]!;
  const chunkedAt = codings.indexOf('chunked');
  if (chunkedAt >= 0 && chunkedAt !== codings.length - 1) throw malformed(`Transfer-Encoding ${JSON.stringify(raw)}: chunked must be the last coding`);
  if (f.chunked) throw malformed('Transfer-Encoding: a coding follows chunked');
  f.chunked = last === 'chunked';
}

/**
 * Parse the header fields of a head `h` from `pos` (the first field line) to the blank line that ends it (h ends with
 * CRLFCRLF). Rejects bare LF, obs-fold, lines without colon, whitespace before the colon and non-token names.
 *
 * The per-request path: one forward pass over the bytes with local constants (module constants cost a load and a
 * hole check per use in optimized code) and without Buffer.indexOf (a call into C++ per line). A line is taken here
 * only when it passes every check of {@link checkedFields} — a token name, a colon, a CRLF — and the fields that
 * matter are read the same way, so the result is the same; anything else is parsed again by checkedFields, which
 * names what is wrong.
 */
function parseFields(h: Buffer, start: number, what: string): HeadFields {
  const tchar = TCHAR;
  const n = h.length;
  const stop = n - 2; // the final CRLF
  let f: HeadFields | undefined;
  let hostSeen = false;
  let pos = start;
  while (pos < stop) {
    let c = pos;
    for (; c < n; c++) {
      const b = h[c]!;
      // letters and '-' without the table (most name bytes), other tchar by the table
      if (((b | 0x20) - 0x61) >>> 0 >= 26 && b !== 0x2d && tchar[b] !== 1) break;
    }
    if (c === pos || c === n || h[c] !== 0x3a) return checkedFields(h, start, what);
    let lf = c + 1;
    while (lf < n && h[lf] !== 0x0a) lf++;
    const eol = lf - 1;
    if (lf === n || eol <= c || h[eol] !== 0x0d) return checkedFields(h, start, what);
    f ??= newFields();
    hostSeen = noteField(h, pos, c, eol, f, hostSeen);
    pos = lf + 1;
  }
  f ??= newFields();
  if (f.hasTransferEncoding && f.contentLength >= 0) throw malformed(`${what} head has both Content-Length and Transfer-Encoding`);
  return f;
}

/**
 * What the proxy reads of one header field (name `h[pos, c)`, value `h(c, eol)`) into `f`: Host (the first),
 * Expect: 100-continue, Upgrade, Connection, Content-Length, Transfer-Encoding. Returns whether a Host was seen.
 */
function noteField(h: Buffer, pos: number, c: number, eol: number, f: HeadFields, hostSeen: boolean): boolean {
  switch (c - pos) {
    case 4:
      if (!hostSeen && isName(h, pos, N_HOST)) {
        f.host = hostValue(h, c + 1, eol);
        return true;
      }
      break;
    case 6:
      if (isName(h, pos, N_EXPECT) && value(h, c + 1, eol).toLowerCase() === '100-continue') f.expectContinue = true;
      break;
    case 7:
      if (isName(h, pos, N_UPGRADE)) f.upgrade = true;
      break;
    case 10:
      if (isName(h, pos, N_CONNECTION) && !plainConnection(h, c + 1, eol, f)) connectionTokens(value(h, c + 1, eol), f);
      break;
    case 14:
      if (isName(h, pos, N_CONTENT_LENGTH)) {
        const n = plainContentLength(h, c + 1, eol);
        if (n >= 0 && (f.contentLength < 0 || f.contentLength === n)) f.contentLength = n;
        else f.contentLength = parseContentLength(value(h, c + 1, eol), f.contentLength);
      }
      break;
    case 17:
      if (isName(h, pos, N_TRANSFER_ENCODING)) transferCodings(value(h, c + 1, eol), f);
      break;
    default:
      break;
  }
  return hostSeen;
}

/** {@link parseFields} line by line with every check in order: the error names the first thing wrong. */
function checkedFields(h: Buffer, pos: number, what: string): HeadFields {
  const f = newFields();
  const stop = h.length - 2; // the final CRLF
  let hostSeen = false;
  while (pos < stop) {
    const lf = h.indexOf(LF, pos);
    const eol = lf - 1;
    if (eol < pos || h[eol] !== CR) throw malformed(`${what} head: header line ends in a bare LF (CRLF required)`);
    const first = h[pos]!;
    if (first === SP || first === HT) throw malformed(`${what} head: obsolete line folding (a header line starting with whitespace)`);
    let c = pos;
    while (c < eol && TCHAR[h[c]!] === 1) c++;
    if (c === eol) throw malformed(`${what} head: header line without colon: ${JSON.stringify(h.toString('latin1', pos, Math.min(eol, pos + 60)))}`);
    if (h[c] !== COLON) {
      const ch = h[c]!;
      throw malformed(
        ch === SP || ch === HT
          ? `${what} head: whitespace between header name and colon in ${JSON.stringify(h.toString('latin1', pos, c))}`
          : `${what} head: invalid character 0x${ch.toString(16).padStart(2, '0')} in header name`,
      );
    }
    if (c === pos) throw malformed(`${what} head: empty header name`);
    hostSeen = noteField(h, pos, c, eol, f, hostSeen);
    pos = lf + 1;
  }
  if (f.hasTransferEncoding && f.contentLength >= 0) throw malformed(`${what} head has both Content-Length and Transfer-Encoding`);
  return f;
}

/** Position of the first byte after `HTTP/1.x` if h[at..] is that, with x in {0, 1}; else -1. Returns the minor version. */
function httpVersionMinor(h: Buffer, at: number): number {
  if (h[at] !== 0x48 || h[at + 1] !== 0x54 || h[at + 2] !== 0x54 || h[at + 3] !== 0x50 || h[at + 4] !== 0x2f || h[at + 5] !== 0x31 || h[at + 6] !== 0x2e) return -1;
  const m = h[at + 7];
  return m === 0x30 ? 0 : m === 0x31 ? 1 : -1;
}

/** Common methods as shared strings, by length: no string is built for them. */
const KNOWN_METHODS: ReadonlyArray<ReadonlyArray<readonly [Uint8Array, string]>> = (() => {
  const byLength: Array<Array<readonly [Uint8Array, string]>> = [];
  for (const m of ['GET', 'PUT', 'POST', 'HEAD', 'PATCH', 'TRACE', 'DELETE', 'OPTIONS', 'CONNECT']) {
    (byLength[m.length] ??= []).push([Buffer.from(m, 'latin1'), m] as const);
  }
  return byLength;
})();

function methodString(h: Buffer, start: number, end: number): string {
  const candidates = KNOWN_METHODS[end - start];
  if (candidates !== undefined) {
    outer: for (const [bytes, name] of candidates) {
      for (let i = 0; i < bytes.length; i++) if (h[start + i] !== bytes[i]) continue outer;
      return name;
    }
  }
  return h.toString('latin1', start, end);
}

export interface RequestHead {
  /** The method exactly as sent (methods are case-sensitive). */
  method: string;
  path: string;
  query: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  fields: HeadFields;
}

/**
 * A copy of the last request head without leading CRLFs parsed whole, and what it says (shared: callers only read
 * it). A keep-alive client repeats its request heads byte for byte (same method, target, fields): the request framer
 * tries it before searching the buffered bytes for the end of a head, and a head equal to it is not parsed again.
 */
export const lastRequestHead: { head: Buffer | undefined; parsed: Readonly<RequestHead> | undefined } = { head: undefined, parsed: undefined };

/** Parse a complete request head (h ends with CRLFCRLF, request line at `lead`). */
export function parseRequestHead(h: Buffer, lead: number): Readonly<RequestHead> {
  const memo = lastRequestHead;
  const last = memo.head;
  if (lead === 0 && last !== undefined && last.length === h.length && h.equals(last)) return memo.parsed!;
  const parsed = parseRequestLineAndFields(h, lead);
  if (lead === 0 && h.length <= REMEMBER_LIMIT) {
    memo.head = Buffer.from(h);
    memo.parsed = parsed;
  }
  return parsed;
}

function parseRequestLineAndFields(h: Buffer, lead: number): RequestHead {
  // The request line is short: scanned here rather than by Buffer.indexOf calls (a call into C++ each). A space not
  // found before the end of the line counts as not found: either way the line is rejected with the same message.
  const n = h.length;
  let lf = lead;
  while (lf < n && h[lf] !== 0x0a) lf++;
  if (lf === n) lf = -1;
  const eol = lf - 1;
  if (eol < lead || h[eol] !== CR) throw malformed('request line ends in a bare LF (CRLF required)');
  let sp1 = lead;
  while (sp1 < eol && h[sp1] !== 0x20) sp1++;
  if (sp1 === eol) sp1 = -1;
  if (sp1 < 0 || sp1 > eol) throw malformed(`invalid request line ${JSON.stringify(h.toString('latin1', lead, Math.min(eol, lead + 80)))}`);
  for (let i = lead; i < sp1; i++) {
    if (TCHAR[h[i]!] !== 1) throw malformed(`invalid method ${JSON.stringify(h.toString('latin1', lead, Math.min(sp1, lead + 40)))} (not a token)`);
  }
  if (sp1 === lead) throw malformed('request line starts with a space (empty method)');
  let sp2 = sp1 + 1;
  while (sp2 < eol && h[sp2] !== 0x20) sp2++;
  if (sp2 === eol) sp2 = -1;
  if (sp2 < 0 || sp2 > eol || sp2 === sp1 + 1) throw malformed(`invalid request line ${JSON.stringify(h.toString('latin1', lead, Math.min(eol, lead + 80)))}`);
  let q = -1;
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = h[i]!;
    if (c <= SP || c === 0x7f) throw malformed(`invalid character 0x${c.toString(16).padStart(2, '0')} in request target`);
    if (c === QUESTION && q < 0) q = i;
  }
  const minor = eol - sp2 === 9 ? httpVersionMinor(h, sp2 + 1) : -1;
  if (minor < 0) throw malformed(`unsupported HTTP version ${JSON.stringify(h.toString('latin1', sp2 + 1, Math.min(eol, sp2 + 20)))} (HTTP/1.0 and HTTP/1.1 are supported)`);
  const fields = parseFields(h, lf + 1, 'request');
  return {
    method: methodString(h, lead, sp1),
    path: recentLatin1(h, sp1 + 1, q < 0 ? sp2 : q, RECENT_PATH),
    query: q < 0 ? '' : h.toString('latin1', q + 1, sp2),
    minor,
    fields,
  };
}

export interface ResponseHead {
  readonly status: number;
  readonly minor: number;
  readonly fields: Readonly<HeadFields>;
}

/** Response heads longer than this are not kept for {@link parseResponseHead}'s comparison. */
const REMEMBER_LIMIT = 4096;

/**
 * A copy of the last response head parsed whole (see {@link parseResponseHead}) and what it says: the response framer
 * tries it before searching the buffered bytes for the end of a head.
 */
export const lastResponseHead: { head: Buffer | undefined; parsed: ResponseHead | undefined } = { head: undefined, parsed: undefined };

/**
 * Parse a complete response head (h ends with CRLFCRLF). The result is shared: callers only read it.
 *
 * The variants of a replicate route answer a request with the same head, and a server repeats its heads from one
 * answer to the next (the Date field changes once a second): a head byte for byte equal to the last one parsed gets
 * that parse's result again (one memcmp instead of a parse). The last head is kept as a copy, so later changes to a
 * caller's buffer cannot make the comparison lie.
 */
export function parseResponseHead(h: Buffer): ResponseHead {
  const memo = lastResponseHead;
  const last = memo.head;
  if (last !== undefined && last.length === h.length && h.equals(last)) return memo.parsed!;
  const parsed = parseStatusAndFields(h);
  if (h.length <= REMEMBER_LIMIT) {
    memo.head = Buffer.from(h);
    memo.parsed = parsed;
  }
  return parsed;
}

function parseStatusAndFields(h: Buffer): ResponseHead {
  const lf = h.indexOf(LF);
  const eol = lf - 1;
  if (eol < 0 || h[eol] !== CR) throw malformed('status line ends in a bare LF (CRLF required)');
  const minor = eol >= 12 ? httpVersionMinor(h, 0) : -1;
  const d0 = h[9]! - 48;
  const d1 = h[10]! - 48;
  const d2 = h[11]! - 48;
  if (minor < 0 || h[8] !== SP || d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || (eol > 12 && h[12] !== SP)) {
    throw malformed(`invalid status line ${JSON.stringify(h.toString('latin1', 0, Math.min(eol, 80)))}`);
  }
  return { status: d0 * 100 + d1 * 10 + d2, minor, fields: parseFields(h, lf + 1, 'response') };
}

/** Validate one trailer field line `line` (without its CRLF) of a chunked body. */
export function checkTrailerLine(line: Buffer, what: string): void {
  const first = line[0];
  if (first === SP || first === HT) throw malformed(`${what} trailer: obsolete line folding`);
  let c = 0;
  while (c < line.length && TCHAR[line[c]!] === 1) c++;
  if (c === 0 || c === line.length || line[c] !== COLON) throw malformed(`${what} trailer: invalid field line ${JSON.stringify(line.toString('latin1', 0, 60))}`);
}
