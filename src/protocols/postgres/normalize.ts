/**
 * The PostgreSQL lifter: the frontend messages of one request, or the backend messages of one response, → a
 * comparable tree for N-variant comparison (the contract is in `../lift.ts`).
 *
 * Responses (backend messages up to and including ReadyForQuery; requests: the frontend messages of one Query or
 * one Parse/Bind/Describe/Execute/Sync batch, or a startup packet) → an ARRAY, one element per message:
 *   DataRow `{ type, values: [string | {base64} | null] }`; RowDescription `{ type, fields: [{ name, typeOid }] }`
 *   (table oid, attnum, type size/modifier and format dropped); CommandComplete `{ type, tag }`; ErrorResponse /
 *   NoticeResponse `{ type, severity, code, message }` plus detail, hint, where, schema, table, column, dataType,
 *   constraint when present (file F, line L, routine R, positions P/p and internal query q dropped);
 *   ReadyForQuery `{ type, status }`; ParameterStatus `{ type, name, value }` except the per-connection noise in
 *   {@link IGNORED_PG_PARAMETERS} (dropped); Authentication `{ type, code }` (salts / SASL data dropped);
 *   BackendKeyData dropped entirely; NotificationResponse `{ type, channel, payload }` (pid dropped);
 *   ParameterDescription `{ type, typeOids }`; Copy(In|Out|Both)Response `{ type, format, columnFormats }`;
 *   CopyData `{ type, data }`; FunctionCallResponse `{ type, value }`; anything else `{ type }`.
 * Requests: Query `{ type, sql }`; Parse `{ type, name, sql, paramTypes }`; Bind `{ type, portal, statement,
 *   formats, params, resultFormats }` (text params as strings, binary as `{ base64 }`, NULL as null); Describe /
 *   Close `{ type, target, name }`; Execute `{ type, portal, maxRows }`; CopyData `{ type, data }`; CopyFail
 *   `{ type, message }`; StartupMessage `{ startup: { user, database } }` (other parameters dropped);
 *   SSLRequest / GSSENCRequest / CancelRequest / PasswordMessage (and SASL responses) / Sync / Flush / ... `{ type }`.
 */
import { bytesLeaf, concat, fail, guarded, shorten, type LiftResult, type Lifter, type MessageKind, type MTree } from '../lift.js';
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
} from './messages.js';

/** ParameterStatus names that differ per connection, not per server behaviour (TimeZone is kept). */
export const IGNORED_PG_PARAMETERS: readonly string[] = Object.freeze(['application_name', 'session_authorization', 'is_superuser', 'in_hot_standby']);

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

/** A scalar field of a message tree as text (the fields read for summaries and endpoint keys are strings). */
function fieldText(v: MTree | undefined): string {
  return typeof v === 'string' ? v : v === undefined ? 'undefined' : JSON.stringify(v);
}

function pgSummary(messages: MTree[]): string {
  const parts: string[] = [];
  let rows = 0;
  for (const m of messages) {
    const o = m as { [k: string]: MTree };
    if (o['type'] === 'DataRow') rows++;
    else if (o['type'] === 'CommandComplete') parts.push(`CommandComplete ${fieldText(o['tag'])}`);
    else if (o['type'] === 'ErrorResponse') parts.push(`ErrorResponse ${fieldText(o['code'])} ${shorten(fieldText(o['message']), 60)}`);
    else if (o['type'] === 'Query') parts.push(`Query ${shorten(fieldText(o['sql']), 60)}`);
    else if (o['type'] === 'Parse') parts.push(`Parse ${shorten(fieldText(o['sql']), 60)}`);
    else if (o['startup'] !== undefined) parts.push('StartupMessage');
  }
  if (parts.length === 0) {
    const types = messages.map((m) => fieldText((m as { [k: string]: MTree })['type'] ?? '?'));
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

/** The PostgreSQL lifter (it has no options). */
export function createPostgresLifter(): Lifter {
  const liftPg = (buf: Buffer, kind: MessageKind): LiftResult => {
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
        if (o['type'] === 'Bind') return `Bind ${fieldText(o['statement']) || '(unnamed)'}`;
      }
      const first = tree[0] as { [k: string]: MTree } | undefined;
      return first && typeof first['type'] === 'string' ? first['type'] : '*';
    },
  };
}
