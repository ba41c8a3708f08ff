/**
 * The HTTP lifter: one HTTP/1.x message (head + body) → a comparable tree for N-variant comparison (the contract is
 * in `../lift.ts`).
 *
 *   response `{ status: 200, headers: { "content-type": "application/json", ... }, body: <body> }`
 *   request  `{ method: "GET", target: "/users/1?x=2", headers: {...}, body: <body> }`
 *   - header names are lower-cased, repeated headers joined with ", " (order of fields never matters: it is an
 *     object); {@link DEFAULT_IGNORED_HEADERS} plus `ignoreHeaders` are dropped (and `host` with
 *     `perVariantAddress`); `compareHeaders: false` drops the `headers` key altogether. Obsolete folded lines are
 *     joined to the previous value. Trailers are not compared.
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
 * Mask pointers name headers in any case: the segment after "/headers/" is lower-cased.
 */
import { isUtf8 } from 'node:buffer';
import zlib from 'node:zlib';
import { bytesLeaf, concat, fail, guarded, setKey, shorten, type LiftResult, type Lifter, type LifterOptions, type MessageKind, type MTree } from '../lift.js';

/** Decompressed HTTP bodies above this are not decoded (the encoded bytes are compared). */
export const MAX_DECODED_BODY = 64 * 1024 * 1024;

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

/** The HTTP lifter for the given options (a comparator makes one and keeps it). */
export function createHttpLifter(options: LifterOptions = {}): Lifter {
  const ignored = new Set<string>([...DEFAULT_IGNORED_HEADERS, ...(options.ignoreHeaders ?? []).map((h) => h.toLowerCase())]);
  // Each variant reaches a merge on its own address, so a Host header naming it differs by design.
  if (options.perVariantAddress === true) ignored.add('host');
  const compareHeaders = options.compareHeaders ?? true;

  const liftOne = (buf: Buffer, kind: MessageKind): LiftResult => {
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
    maskPointer(pointer) {
      return pointer.replace(/^\/headers\/([^/]+)/, (_, h: string) => `/headers/${h.toLowerCase()}`);
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
