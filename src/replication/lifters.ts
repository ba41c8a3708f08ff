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
import { bytesLeaf, concat, type LifterOptions, type ProtocolLifter } from '../compare/lift-common.js';
import { DEFAULT_IGNORED_HEADERS, createHttpLifter, httpPathKey } from '../protocols/http/normalize.js';
import { createRedisLifter } from '../protocols/redis/normalize.js';
import { IGNORED_PG_PARAMETERS, createPostgresLifter, sqlShape } from '../protocols/postgres/normalize.js';

// Each protocol's lifter lives in src/protocols/<name>/normalize.ts, the shared helpers in ./lift-common.ts; these
// re-exports keep this module's public surface unchanged for its importers (compare.ts, tests).
export type { Lifter, ProtocolLifter, LiftResult, LifterOptions } from '../compare/lift-common.js';
export { MAX_INLINE_BINARY, MAX_DECODED_BODY, MAX_INVALID_RAW, setKey, binaryLeaf, bytesLeaf, invalidTree } from '../compare/lift-common.js';
export { DEFAULT_IGNORED_HEADERS, httpPathKey, IGNORED_PG_PARAMETERS, sqlShape };

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
