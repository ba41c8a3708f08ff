import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postgresProtocol, postgresOptionsSchema } from '../../src/protocols/postgres/index.js';
import {
  BE,
  FE,
  encodeErrorResponse,
  encodeMessage,
  encodeReadyForQuery,
  parseBindMessage,
  parseErrorFields,
  parseParseMessage,
  parseRowDescription,
  parseStartupParameters,
  readyForQueryStatus,
  sqlKind,
  sqlPreview,
  typeName,
} from '../../src/protocols/postgres/messages.js';
import type { MessageInfo, ProtocolCodec, ProtocolFramer } from '../../src/protocols/protocol.js';

const factory = (opts: Record<string, unknown> = {}) => postgresProtocol.factory(postgresOptionsSchema.parse(opts));
const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);
const i16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const startup = (params: Record<string, string>): Buffer => {
  const body = Buffer.concat([i32(196608), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.alloc(1)]);
  return Buffer.concat([i32(body.length + 4), body]);
};
const Q = (sql: string) => encodeMessage(FE.Query, cstr(sql));
const parse = (name: string, sql: string) => encodeMessage(FE.Parse, Buffer.concat([cstr(name), cstr(sql), i16(0)]));
const bind = (stmt: string) => encodeMessage(FE.Bind, Buffer.concat([cstr(''), cstr(stmt), i16(0), i16(0), i16(0)]));
const execute = () => encodeMessage(FE.Execute, Buffer.concat([cstr(''), i32(0)]));
const sync = () => encodeMessage(FE.Sync, Buffer.alloc(0));
const flush = () => encodeMessage(FE.Flush, Buffer.alloc(0));
const AUTH_OK = encodeMessage(BE.Authentication, i32(0));
const Z = (s: 'I' | 'T' | 'E') => encodeReadyForQuery(s);
const C = (tag: string) => encodeMessage(BE.CommandComplete, cstr(tag));

interface Out {
  frame: Buffer;
  info: MessageInfo;
}
function feed(framer: ProtocolFramer, bytes: Buffer): Out[] {
  framer.push(bytes);
  const out: Out[] = [];
  for (let f = framer.next(); f !== null; f = framer.next()) out.push({ frame: f, info: framer.info! });
  return out;
}
/** A codec past a trust-auth startup. */
function ready(opts: Record<string, unknown> = {}): ProtocolCodec {
  const codec = factory(opts).create();
  feed(codec.toUpstream, startup({ user: 'u', database: 'd' }));
  feed(codec.toDownstream, Buffer.concat([AUTH_OK, Z('I')]));
  return codec;
}
function throwsCode(fn: () => unknown, code: string, re: RegExp): void {
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, code);
    assert.match(err.message, re);
    return true;
  });
}

// ---- malformed input and limits ----

test('postgres: a length below 4 is malformed and names the message type', () => {
  const codec = ready();
  throwsCode(() => feed(codec.toUpstream, Buffer.from([FE.Query, 0, 0, 0, 3])), 'SWY_FRAME_MALFORMED', /Query \('Q'\) declares length 3/);
  // latched: the framer is unusable afterwards
  throwsCode(() => codec.toUpstream.next(), 'SWY_FRAME_MALFORMED', /Query/);
  const codec2 = ready();
  throwsCode(() => feed(codec2.toDownstream, Buffer.from([BE.DataRow, 0, 0, 0, 0])), 'SWY_FRAME_MALFORMED', /DataRow \('D'\) declares length 0/);
});

test('postgres: unknown message types are malformed', () => {
  throwsCode(() => feed(ready().toUpstream, Buffer.from([0x7a, 0, 0, 0, 4])), 'SWY_FRAME_MALFORMED', /client sent unknown message type 'z'/);
  throwsCode(() => feed(ready().toDownstream, Buffer.from([0x01, 0, 0, 0, 4])), 'SWY_FRAME_MALFORMED', /server sent unknown message type 0x01/);
});

test('postgres: a declared length above maxMessageLength fails before the body arrives', () => {
  const codec = ready({ maxMessageLength: '1KiB' });
  throwsCode(() => feed(codec.toUpstream, Buffer.from([FE.Query, 0, 0, 0x04, 0x01])), 'SWY_FRAME_TOO_LARGE', /Query \('Q'\) declares length 1025, above maxMessageLength 1024/);
  const big = ready();
  throwsCode(() => feed(big.toDownstream, Buffer.from([BE.DataRow, 0x40, 0, 0, 0x01])), 'SWY_FRAME_TOO_LARGE', /above maxMessageLength 1073741824/);
});

test('postgres: invalid startup packets', () => {
  throwsCode(() => feed(factory().create().toUpstream, Buffer.concat([i32(20000), i32(196608)])), 'SWY_FRAME_TOO_LARGE', /startup packet declares length 20000, above the server limit 10000/);
  throwsCode(() => feed(factory().create().toUpstream, Buffer.concat([i32(8), i32(131072)])), 'SWY_FRAME_MALFORMED', /unsupported protocol version 2\.0/);
  throwsCode(() => feed(factory().create().toUpstream, Buffer.concat([i32(12), i32(80877103), i32(0)])), 'SWY_FRAME_MALFORMED', /SSLRequest declares length 12/);
  throwsCode(() => feed(factory().create().toUpstream, Buffer.concat([i32(4), i32(0)])), 'SWY_FRAME_MALFORMED', /startup packet declares length 4/);
  const noTerminator = Buffer.concat([i32(4 + 4 + 5), i32(196608), Buffer.from('user\0')]);
  throwsCode(() => feed(factory().create().toUpstream, noTerminator), 'SWY_FRAME_MALFORMED', /StartupMessage parameters/);
});

test('postgres: invalid ReadyForQuery status and invalid SSL answers are malformed', () => {
  const codec = ready();
  feed(codec.toUpstream, Q('select 1'));
  throwsCode(() => feed(codec.toDownstream, Buffer.from([BE.ReadyForQuery, 0, 0, 0, 5, 0x58])), 'SWY_FRAME_MALFORMED', /ReadyForQuery \('Z'\) with invalid transaction status/);
  const ssl = factory().create();
  feed(ssl.toUpstream, Buffer.concat([i32(8), i32(80877103)]));
  throwsCode(() => feed(ssl.toDownstream, Buffer.from('X')), 'SWY_FRAME_MALFORMED', /answered SSLRequest\/GSSENCRequest with byte 0x58/);
});

test('postgres: end of input inside a message is truncation; at a boundary it is not', () => {
  const codec = ready();
  codec.toUpstream.push(Q('select 1').subarray(0, 7));
  assert.equal(codec.toUpstream.next(), null);
  codec.toUpstream.end();
  throwsCode(() => codec.toUpstream.next(), 'SWY_FRAME_TRUNCATED', /client connection ended inside Query \('Q'\) \(7 of 14 bytes\)/);

  // inside a large message cut into pieces
  const big = ready({ maxMessageFrame: 1000 });
  feed(big.toUpstream, Q('select 1'));
  const row = encodeMessage(BE.DataRow, Buffer.concat([i16(1), i32(5000), Buffer.alloc(5000, 0x61)]));
  const got = feed(big.toDownstream, row.subarray(0, 2500));
  assert.deepEqual(got.map((f) => f.frame.length), [1000, 1000, 500]);
  big.toDownstream.end();
  throwsCode(() => big.toDownstream.next(), 'SWY_FRAME_TRUNCATED', /server connection ended inside DataRow \('D'\) \(2500 of 5011 bytes\)/);

  const clean = ready();
  feed(clean.toUpstream, Q('select 1'));
  clean.toUpstream.end();
  assert.equal(clean.toUpstream.next(), null);
});

test('postgres: buffer limit', () => {
  const codec = ready({ maxMessageFrame: 1024, maxBufferedBytes: 20000 });
  throwsCode(() => codec.toDownstream.push(Buffer.alloc(20001)), 'SWY_BUFFER_OVERFLOW', /limit is 20000/);
});

// ---- framing and pairing ----

test('postgres: startup attributes, SSLRequest answered N, then the StartupMessage', () => {
  const codec = factory().create();
  const ssl = feed(codec.toUpstream, Buffer.concat([i32(8), i32(80877103)]));
  assert.deepEqual(ssl[0]!.info, { start: true, end: true, attributes: { phase: 'ssl', encryption: 'ssl' }, setup: true });
  // a client that does not wait: its bytes are held until the answer is known
  const early = startup({ user: 'alice', database: 'db1', application_name: 'app', client_encoding: 'UTF8' });
  assert.deepEqual(feed(codec.toUpstream, early), []);
  const n = feed(codec.toDownstream, Buffer.from('N'));
  assert.deepEqual(n.map((f) => [f.frame.toString(), f.info.start, f.info.end, f.info.opaque]), [['N', true, true, undefined]]);
  const st = feed(codec.toUpstream, Buffer.alloc(0));
  assert.equal(st.length, 1);
  assert.deepEqual(st[0]!.info.attributes, { phase: 'startup', user: 'alice', database: 'db1', application_name: 'app' });
  const resp = feed(codec.toDownstream, Buffer.concat([AUTH_OK, encodeMessage(BE.ParameterStatus, Buffer.concat([cstr('a'), cstr('b')])), Z('I')]));
  assert.deepEqual(resp.map((f) => [f.info.start, f.info.end]), [[true, false], [false, false], [false, true]]);
});

test('postgres: SSLRequest answered S makes both directions opaque; direct TLS too', () => {
  const codec = factory().create();
  feed(codec.toUpstream, Buffer.concat([i32(8), i32(80877103)]));
  const s = feed(codec.toDownstream, Buffer.from('S'));
  assert.equal(s[0]!.info.opaque, undefined, 'the answer itself pairs with the SSLRequest');
  const hello = Buffer.from([0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5]);
  assert.deepEqual(feed(codec.toUpstream, hello), [{ frame: hello, info: { start: true, end: true, opaque: true } }]);
  assert.equal(feed(codec.toDownstream, Buffer.from([0x16, 3, 3]))[0]!.info.opaque, true);

  const direct = factory().create();
  assert.equal(feed(direct.toUpstream, hello)[0]!.info.opaque, true);
  assert.equal(feed(direct.toDownstream, Buffer.from([0x16, 3, 3]))[0]!.info.opaque, true);
});

test('postgres: CancelRequest and Terminate expect no response', () => {
  const cancel = factory().create();
  const c = feed(cancel.toUpstream, Buffer.concat([i32(16), i32(80877102), i32(1234), i32(5678)]));
  assert.deepEqual(c[0]!.info, { start: true, end: true, responses: 0, attributes: { phase: 'cancel', pid: 1234 } });
  throwsCode(() => feed(cancel.toUpstream, Buffer.from([1])), 'SWY_FRAME_MALFORMED', /after a CancelRequest/);
  const codec = ready();
  const x = feed(codec.toUpstream, encodeMessage(FE.Terminate, Buffer.alloc(0)));
  assert.deepEqual(x[0]!.info, { start: true, end: true, responses: 0, attributes: { phase: 'terminate' } });
  // nothing is pending: a server message now is unsolicited
  const fatal = encodeErrorResponse([['S', 'FATAL'], ['V', 'FATAL'], ['C', '57P01'], ['M', 'terminating']]);
  assert.equal(feed(codec.toDownstream, fatal)[0]!.info.unsolicited, true);
});

test('postgres: extended batches through Sync; Flush without Sync keeps the batch (and its response) open', () => {
  const codec = ready();
  const req = feed(codec.toUpstream, Buffer.concat([parse('s1', 'SELECT $1'), encodeMessage(FE.Describe, Buffer.concat([Buffer.from('S'), cstr('s1')])), flush()]));
  assert.deepEqual(req.map((f) => [f.info.start, f.info.end]), [[true, false], [false, false], [false, false]]);
  assert.deepEqual(req[0]!.info.attributes, { phase: 'extended', kind: 'select', statement: 's1', query: 'SELECT $1' });
  // the server answers the flushed part without ReadyForQuery
  const early = feed(codec.toDownstream, Buffer.concat([encodeMessage(BE.ParseComplete, Buffer.alloc(0)), encodeMessage(BE.NoData, Buffer.alloc(0))]));
  assert.deepEqual(early.map((f) => [f.info.start, f.info.end, f.info.unsolicited]), [[true, false, undefined], [false, false, undefined]]);
  const rest = feed(codec.toUpstream, Buffer.concat([bind('s1'), execute(), sync()]));
  assert.deepEqual(rest.map((f) => [f.info.start, f.info.end]), [[false, false], [false, false], [false, true]]);
  const done = feed(codec.toDownstream, Buffer.concat([encodeMessage(BE.BindComplete, Buffer.alloc(0)), C('SELECT 1'), Z('I')]));
  assert.deepEqual(done.map((f) => [f.info.start, f.info.end]), [[false, false], [false, false], [false, true]]);
  // a later batch that starts with Bind of the named statement reports what its Parse said
  const again = feed(codec.toUpstream, Buffer.concat([bind('s1'), execute(), sync()]));
  assert.deepEqual(again[0]!.info.attributes, { phase: 'extended', kind: 'select', statement: 's1', query: 'SELECT $1' });
});

test('postgres: a Query inside an unfinished extended batch ends it; a lone Sync is a request', () => {
  const codec = ready();
  const f = feed(codec.toUpstream, Buffer.concat([parse('', 'SELECT 1'), flush(), Q('SELECT 2'), sync()]));
  assert.deepEqual(f.map((x) => [x.info.start, x.info.end]), [[true, false], [false, false], [false, true], [true, true]]);
  assert.deepEqual(f[3]!.info.attributes, { phase: 'extended' });
});

test('postgres: a FATAL error ends the response it interrupts', () => {
  const codec = ready();
  feed(codec.toUpstream, Q('SELECT pg_sleep(100)'));
  const fatal = encodeErrorResponse([['S', 'FATAL'], ['V', 'FATAL'], ['C', '57P01'], ['M', 'terminating connection due to administrator command']]);
  const got = feed(codec.toDownstream, Buffer.concat([encodeMessage(BE.RowDescription, i16(0)), fatal]));
  assert.deepEqual(got.map((x) => [x.info.start, x.info.end]), [[true, false], [false, true]]);
});

// ---- error reply ----

test('postgres errorReply: during startup a FATAL ErrorResponse and close', () => {
  const codec = factory().create();
  const st = feed(codec.toUpstream, startup({ user: 'u' }));
  assert.equal(st[0]!.info.attributes?.['phase'], 'startup');
  const reply = codec.errorReply({ message: 'no entry' });
  const expected = Buffer.concat([Buffer.from('E'), i32(4 + 7 + 7 + 7 + 10 + 1), Buffer.from('SFATAL\0VFATAL\0C58000\0Mno entry\0\0')]);
  assert.deepEqual(reply, { frames: [expected], close: true });
  assert.deepEqual(parseErrorFields(expected.subarray(5)), { S: 'FATAL', V: 'FATAL', C: '58000', M: 'no entry' });
});

test('postgres errorReply: ErrorResponse + ReadyForQuery, exact bytes, never closes', () => {
  const codec = ready();
  feed(codec.toUpstream, Q('SELECT 1'));
  const reply = codec.errorReply({ message: 'boom', status: '42P01' });
  assert.ok(reply);
  assert.equal(reply.close, false);
  assert.deepEqual(reply.frames[0], Buffer.concat([Buffer.from('E'), i32(4 + 7 + 7 + 7 + 6 + 1), Buffer.from('SERROR\0VERROR\0C42P01\0Mboom\0\0')]));
  assert.deepEqual(reply.frames[1], Buffer.from('Z\0\0\0\x05I', 'latin1'));
  // the dropped request is never answered: the next request pairs with the next response
  const next = feed(codec.toUpstream, Q('SELECT 2'));
  assert.equal(next[0]!.info.start, true);
  const resp = feed(codec.toDownstream, Buffer.concat([C('SELECT 1'), Z('I')]));
  assert.deepEqual(resp.map((x) => [x.info.start, x.info.end]), [[true, false], [false, true]]);
  const idle = feed(codec.toDownstream, encodeMessage(BE.NoticeResponse, cstr('')));
  assert.equal(idle[0]!.info.unsolicited, true, 'nothing left pending');
});

test('postgres errorReply: inside a transaction block the status is E (failed block); SQLSTATE defaults', () => {
  const codec = ready();
  feed(codec.toUpstream, Q('BEGIN'));
  feed(codec.toDownstream, Buffer.concat([C('BEGIN'), Z('T')]));
  feed(codec.toUpstream, Q('SELECT 1'));
  const reply = codec.errorReply({ message: 'nope', status: 'bad' });
  assert.equal(readyForQueryStatus(reply!.frames[1]!.subarray(5)), 'E');
  assert.equal(parseErrorFields(reply!.frames[0]!.subarray(5))['C'], '58000', 'an invalid status falls back to the default');
  feed(codec.toUpstream, Q('SELECT 2'));
  assert.equal(readyForQueryStatus(codec.errorReply({ message: 'again', status: 57014 })!.frames[1]!.subarray(5)), 'E');
  feed(codec.toUpstream, Q('ROLLBACK'));
  feed(codec.toDownstream, Buffer.concat([C('ROLLBACK'), Z('I')]));
  feed(codec.toUpstream, Q('SELECT 3'));
  assert.equal(readyForQueryStatus(codec.errorReply({ message: 'idle' })!.frames[1]!.subarray(5)), 'I');
});

test('postgres errorReply: an extended batch is dropped whole; close requests a FATAL; cancel/terminate/opaque', () => {
  const codec = ready();
  const frames = feed(codec.toUpstream, Buffer.concat([parse('', 'SELECT 1'), bind(''), execute(), sync()]));
  // (as a caller would: errorReply right after the start frame; the rest are dropped by the caller)
  assert.equal(frames[0]!.info.start, true);
  const codec2 = ready();
  codec2.toUpstream.push(Buffer.concat([parse('', 'SELECT 1'), bind(''), execute(), sync()]));
  assert.ok(codec2.toUpstream.next());
  const reply = codec2.errorReply({ message: 'x' })!;
  assert.equal(reply.frames.length, 2);
  const rest: MessageInfo[] = [];
  for (let f = codec2.toUpstream.next(); f !== null; f = codec2.toUpstream.next()) rest.push(codec2.toUpstream.info!);
  assert.deepEqual(rest.map((i) => [i.start, i.end]), [[false, false], [false, false], [false, true]]);
  assert.equal(feed(codec2.toDownstream, encodeMessage(BE.NoticeResponse, cstr('')))[0]!.info.unsolicited, true);

  const closing = ready();
  feed(closing.toUpstream, Q('SELECT 1'));
  const r = closing.errorReply({ message: 'bye', close: true })!;
  assert.equal(r.close, true);
  assert.equal(parseErrorFields(r.frames[0]!.subarray(5))['S'], 'FATAL');
  assert.equal(r.frames.length, 1);

  const cancel = factory().create();
  feed(cancel.toUpstream, Buffer.concat([i32(16), i32(80877102), i32(1), i32(2)]));
  assert.deepEqual(cancel.errorReply({ message: 'x' }), { frames: [], close: true });

  const tls = factory().create();
  feed(tls.toUpstream, Buffer.concat([i32(8), i32(80877103)]));
  feed(tls.toDownstream, Buffer.from('S'));
  assert.equal(tls.errorReply({ message: 'x' }), undefined);
});

// ---- options and helpers ----

test('postgres options: defaults, size strings, checks', () => {
  assert.deepEqual(postgresOptionsSchema.parse({}), { maxMessageFrame: 65536, maxMessageLength: 1073741824 });
  assert.deepEqual(postgresOptionsSchema.parse({ maxMessageFrame: '16KiB', maxMessageLength: '10MiB' }), { maxMessageFrame: 16384, maxMessageLength: 10485760 });
  assert.equal(postgresOptionsSchema.safeParse({ maxMessageFrame: 10 }).success, false);
  assert.equal(postgresOptionsSchema.safeParse({ maxBufferedBytes: 1000 }).success, false);
  assert.equal(postgresOptionsSchema.safeParse({ nope: 1 }).success, false);
  assert.equal(postgresProtocol.name, 'postgres');
  for (const a of ['phase', 'kind', 'query', 'statement', 'user', 'database', 'application_name']) assert.ok(postgresProtocol.attributes[a], a);
});

test('postgres messages: sqlKind skips whitespace, comments and parentheses', () => {
  const k = (s: string) => sqlKind(Buffer.from(s));
  assert.equal(k('SELECT 1'), 'select');
  assert.equal(k('  \n\tInsert into t'), 'insert');
  assert.equal(k('-- hi\n/* a /* nested */ b */ (WITH x AS (select 1) select * from x)'), 'with');
  assert.equal(k(';;begin'), 'begin');
  assert.equal(k(''), undefined);
  assert.equal(k('-- only a comment'), undefined);
  assert.equal(k('/* unterminated'), undefined);
  assert.equal(k('123'), undefined);
  assert.equal(sqlPreview(Buffer.from('é'.repeat(300))), 'é'.repeat(256));
  assert.equal(sqlPreview(Buffer.from('😀'.repeat(300))), '😀'.repeat(256));
  assert.equal(sqlPreview(Buffer.from('short')), 'short');
});

test('postgres messages: parsers', () => {
  assert.deepEqual(parseStartupParameters(Buffer.from('user\0bob\0database\0x\0\0')), { user: 'bob', database: 'x' });
  assert.equal(parseStartupParameters(Buffer.from('user\0bob\0')), undefined);
  const rd = Buffer.concat([i16(1), cstr('col'), i32(16384), i16(2), i32(23), i16(4), i32(-1), i16(0)]);
  assert.deepEqual(parseRowDescription(rd), [{ name: 'col', tableOid: 16384, column: 2, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 }]);
  const b = Buffer.concat([cstr('p'), cstr('s'), i16(1), i16(0), i16(2), i32(2), Buffer.from('hi'), i32(-1), i16(1), i16(1)]);
  assert.deepEqual(parseBindMessage(b), { portal: 'p', statement: 's', paramFormats: [0], params: [Buffer.from('hi'), null], resultFormats: [1] });
  assert.deepEqual(parseBindMessage(b.subarray(0, 12)), { portal: 'p', statement: 's', paramFormats: [0] }, 'truncated: what fits');
  const p = parseParseMessage(Buffer.concat([cstr('n'), cstr('SELECT $1'), i16(1), i32(23)]));
  assert.deepEqual({ ...p, sql: p?.sql.toString() }, { statement: 'n', sql: 'SELECT $1', paramTypes: [23] });
  assert.equal(typeName(FE.Password, 'client'), "PasswordMessage ('p')");
  assert.equal(typeName(BE.ReadyForQuery, 'server'), "ReadyForQuery ('Z')");
});

test('postgres: SSLRequest and the StartupMessage (with its password exchange) are connection setup; queries and CancelRequest are not', () => {
  const codec = factory().create();
  const ssl = feed(codec.toUpstream, Buffer.concat([i32(8), i32(80877103)]));
  assert.equal(ssl[0]!.info.setup, true);
  feed(codec.toDownstream, Buffer.from('N'));
  const st = feed(codec.toUpstream, startup({ user: 'u', database: 'd' }));
  assert.equal(st[0]!.info.setup, true);
  feed(codec.toDownstream, Buffer.concat([AUTH_OK, Z('I')]));
  const q = feed(codec.toUpstream, Q('SELECT 1'));
  assert.equal(q[0]!.info.setup, undefined);
  const cancel = feed(factory().create().toUpstream, Buffer.concat([i32(16), i32(80877102), i32(42), i32(7)]));
  assert.equal(cancel[0]!.info.attributes?.['phase'], 'cancel');
  assert.equal(cancel[0]!.info.setup, undefined);
});
