/** Unit tests of the mysql codec on synthetic packets: limits, malformed input, edge cases, the error reply. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes } from '../../src/core/errors.js';
import { firstKeyword, mysqlOptionsSchema, mysqlProtocol, type MysqlOptions } from '../../src/protocols/mysql/index.js';
import type { MessageInfo, ProtocolCodec, ProtocolFramer } from '../../src/protocols/protocol.js';

const CAP = {
  MYSQL: 1,
  CONNECT_WITH_DB: 0x8,
  COMPRESS: 0x20,
  PROTOCOL_41: 0x200,
  SSL: 0x800,
  TRANSACTIONS: 0x2000,
  SECURE_CONNECTION: 0x8000,
  MULTI_RESULTS: 0x20000,
  PLUGIN_AUTH: 0x80000,
  DEPRECATE_EOF: 0x1000000,
  QUERY_ATTRIBUTES: 0x8000000,
};
const CLIENT = CAP.MYSQL | CAP.CONNECT_WITH_DB | CAP.PROTOCOL_41 | CAP.TRANSACTIONS | CAP.SECURE_CONNECTION | CAP.MULTI_RESULTS | CAP.PLUGIN_AUTH;
/** A MariaDB-like server: everything but CLIENT_MYSQL (extended capabilities follow in the greeting). */
const SERVER = 0xfffffffe;

function codec(options: Partial<Record<keyof MysqlOptions, unknown>> = {}): ProtocolCodec {
  return mysqlProtocol.factory(mysqlOptionsSchema.parse(options)).create();
}

function pkt(seq: number, payload: Buffer | string | number[]): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload);
  const h = Buffer.alloc(4);
  h.writeUIntLE(p.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, p]);
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

function greeting(caps = SERVER, ext = 0): Buffer {
  const low = Buffer.alloc(2);
  low.writeUInt16LE(caps & 0xffff);
  const high = Buffer.alloc(2);
  high.writeUInt16LE(caps >>> 16);
  const reserved = Buffer.alloc(10);
  reserved.writeUInt32LE(ext, 6);
  return pkt(0, Buffer.concat([Buffer.from([10]), Buffer.from('5.5.5-10.11.0-MariaDB\0'), u32(7), Buffer.alloc(8, 0x61), Buffer.from([0]), low, Buffer.from([33]), Buffer.from([2, 0]), high, Buffer.from([21]), reserved, Buffer.alloc(13, 0x62), Buffer.from('mysql_native_password\0')]));
}

function handshakeResponse(caps = CLIENT, user = 'alice', db = 'shop', ext = 0): Buffer {
  const filler = Buffer.alloc(23);
  filler.writeUInt32LE(ext, 19);
  return pkt(1, Buffer.concat([u32(caps), u32(1 << 24), Buffer.from([33]), filler, Buffer.from(`${user}\0`), Buffer.from([20]), Buffer.alloc(20, 1), Buffer.from(`${db}\0`), Buffer.from('mysql_native_password\0')]));
}

const OK = (seq: number, status = 2): Buffer => pkt(seq, [0, 0, 0, status & 0xff, status >> 8, 0, 0]);
const EOF = (seq: number, status = 2): Buffer => pkt(seq, [0xfe, 0, 0, status & 0xff, status >> 8]);
const ERR = (seq: number, code = 1064): Buffer => pkt(seq, Buffer.concat([Buffer.from([0xff, code & 0xff, code >> 8]), Buffer.from('#42000oops')]));
const COLDEF = (seq: number): Buffer => pkt(seq, Buffer.concat([Buffer.from([3]), Buffer.from('def'), Buffer.from([0, 0, 0, 1, 0x61, 0, 0x0c, 0x3f, 0, 1, 0, 0, 0, 3, 0x81, 0, 0, 0, 0])]));
const query = (sql: string, seq = 0): Buffer => pkt(seq, Buffer.concat([Buffer.from([3]), Buffer.from(sql)]));

interface Got {
  frame: Buffer;
  info: MessageInfo;
}

function feed(framer: ProtocolFramer, bytes: Buffer): Got[] {
  framer.push(bytes);
  const out: Got[] = [];
  for (let f = framer.next(); f !== null; f = framer.next()) out.push({ frame: Buffer.from(f), info: { ...framer.info! } });
  return out;
}

/** Push `bytes` in socket-sized chunks, draining after each. */
function feedChunked(framer: ProtocolFramer, bytes: Buffer, size = 65536): Got[] {
  const out: Got[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(...feed(framer, bytes.subarray(i, i + size)));
  return out;
}

/** A codec past the login (greeting, HandshakeResponse, OK). */
function loggedIn(clientCaps = CLIENT, serverCaps = SERVER, options: Partial<Record<keyof MysqlOptions, unknown>> = {}, ext = 0): ProtocolCodec {
  const c = codec(options);
  feed(c.toDownstream, greeting(serverCaps, ext));
  feed(c.toUpstream, handshakeResponse(clientCaps, 'alice', 'shop', ext));
  const ok = feed(c.toDownstream, OK(2));
  assert.deepEqual(ok[0]!.info, { start: true, end: true });
  return c;
}

function throwsCode(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: { code?: string; message?: string }) => {
    assert.equal(err.code, code);
    assert.match(String(err.message), message);
    return true;
  });
}

test('options: defaults and validation', () => {
  const o = mysqlOptionsSchema.parse({});
  assert.deepEqual(o, { maxPacketFrame: 65536, maxPacketLength: 1073741824, errorCode: 1105, sqlState: 'HY000', maxStatements: 4096 });
  assert.equal(mysqlOptionsSchema.parse({ maxPacketFrame: '16KiB' }).maxPacketFrame, 16384);
  assert.equal(mysqlOptionsSchema.safeParse({ maxPacketFrame: 100 }).success, false);
  assert.equal(mysqlOptionsSchema.safeParse({ sqlState: 'nope' }).success, false);
  assert.equal(mysqlOptionsSchema.safeParse({ maxPacketFrame: '64KiB', maxBufferedBytes: '1KiB' }).success, false);
  assert.equal(mysqlOptionsSchema.safeParse({ bogus: 1 }).success, false);
  assert.equal(mysqlProtocol.name, 'mysql');
  assert.ok('kind' in mysqlProtocol.attributes && 'command' in mysqlProtocol.attributes);
});

test('login: greeting is unsolicited, HandshakeResponse is the login request, AuthSwitch exchange continues it', () => {
  const c = codec();
  const g = feed(c.toDownstream, greeting());
  assert.deepEqual(g[0]!.info, { start: true, end: true, unsolicited: true });
  const hr = feed(c.toUpstream, handshakeResponse());
  assert.deepEqual(hr[0]!.info, { start: true, end: true, responses: 1, attributes: { phase: 'login', user: 'alice', database: 'shop' }, setup: true });
  assert.deepEqual(feed(c.toDownstream, pkt(2, Buffer.concat([Buffer.from([0xfe]), Buffer.from('mysql_native_password\0'), Buffer.alloc(20, 3)])))[0]!.info, { start: true, end: false });
  assert.deepEqual(feed(c.toUpstream, pkt(3, Buffer.alloc(20, 9)))[0]!.info, { start: false, end: false });
  assert.deepEqual(feed(c.toDownstream, pkt(4, [0x01, 0x03]))[0]!.info, { start: false, end: false }, 'AuthMoreData continues');
  assert.deepEqual(feed(c.toDownstream, OK(5))[0]!.info, { start: false, end: true });
  // now in the command phase
  assert.deepEqual(feed(c.toUpstream, query('  -- c\n SELECT 1'))[0]!.info.attributes, { command: 'COM_QUERY', kind: 'select', query: '  -- c\n SELECT 1' });
});

test('SSLRequest: both directions are opaque afterwards', () => {
  const c = codec();
  feed(c.toDownstream, greeting());
  const ssl = pkt(1, Buffer.concat([u32(CLIENT | CAP.SSL), u32(1 << 24), Buffer.from([33]), Buffer.alloc(23)]));
  const clientHello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);
  const got = feed(c.toUpstream, Buffer.concat([ssl, clientHello]));
  assert.deepEqual(got.map((g) => g.info), [
    { start: true, end: true, responses: 0, attributes: { phase: 'login', ssl: true }, setup: true },
    { start: true, end: true, opaque: true },
  ]);
  assert.deepEqual(got[1]!.frame, clientHello);
  const serverHello = Buffer.from([0x16, 0x03, 0x03, 0, 1, 0xff]);
  assert.deepEqual(feed(c.toDownstream, serverHello), [{ frame: serverHello, info: { start: true, end: true, opaque: true } }]);
});

test('compressed protocol: opaque after the login OK', () => {
  const c = loggedIn(CLIENT | CAP.COMPRESS);
  const compressed = Buffer.from([5, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]);
  assert.deepEqual(feed(c.toUpstream, compressed)[0]!.info, { start: true, end: true, opaque: true });
});

test('result sets: EOF and CLIENT_DEPRECATE_EOF forms, multi-results, progress reports', () => {
  const c = loggedIn();
  feed(c.toUpstream, query('select a from t; select a from t'));
  const first = [pkt(1, [1]), COLDEF(2), EOF(3), pkt(4, [1, 0x31]), EOF(5, 0x0a)]; // MORE_RESULTS
  const second = [pkt(6, [1]), COLDEF(7), EOF(8), pkt(9, [0xfb]), EOF(10)]; // a NULL value
  const got = feed(c.toDownstream, Buffer.concat([...first, ...second]));
  assert.deepEqual(got.map((g) => [g.info.start, g.info.end]), [[true, false], ...Array<boolean[]>(8).fill([false, false]), [false, true]]);

  const d = loggedIn(CLIENT | CAP.DEPRECATE_EOF);
  feed(d.toUpstream, query('call p()'));
  const progress = pkt(1, Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 1, 1, 1, 0x10, 0, 0]), Buffer.from('\x05stage')]));
  const rs = [progress, pkt(2, [1]), COLDEF(3), pkt(4, [1, 0x31]), pkt(5, [0xfe, 0, 0, 0x0a, 0, 0, 0]), OK(6, 2)];
  const got2 = feed(d.toDownstream, Buffer.concat(rs));
  assert.deepEqual(got2.map((g) => [g.info.start, g.info.end]), [[true, false], [false, false], [false, false], [false, false], [false, false], [false, true]]);
});

test('a text row starting with 0xFE (a ≥16 MiB value) is a row, not the terminator', () => {
  const c = loggedIn(CLIENT | CAP.DEPRECATE_EOF, SERVER, { maxPacketFrame: '1KiB' });
  feed(c.toUpstream, query('select big'));
  feed(c.toDownstream, Buffer.concat([pkt(1, [1]), COLDEF(2)]));
  const row = Buffer.alloc(0xffffff, 0x78);
  row[0] = 0xfe; // lenenc prefix of an 8-byte length
  const frames = feedChunked(c.toDownstream, Buffer.concat([pkt(3, row), pkt(4, 'tail'), pkt(5, [0xfe, 0, 0, 2, 0, 0, 0])]));
  assert.ok(frames.every((f) => f.frame.length <= 1024));
  assert.deepEqual(frames.filter((f) => f.info.end).length, 1);
  assert.equal(frames.at(-1)!.info.end, true);
  assert.deepEqual(frames.at(-1)!.frame, pkt(5, [0xfe, 0, 0, 2, 0, 0, 0]));
});

test('a large packet: first frame of exactly maxPacketFrame bytes, then bounded pieces; attributes from the first', () => {
  const c = loggedIn(CLIENT, SERVER, { maxPacketFrame: '4KiB' });
  const sql = `/*!40101 INSERT */ into t values ('${'x'.repeat(20000)}')`;
  const bytes = query(sql);
  const got: Got[] = [];
  for (let i = 0; i < bytes.length; i += 1000) got.push(...feed(c.toUpstream, bytes.subarray(i, i + 1000)));
  assert.equal(got[0]!.frame.length, 4096);
  assert.ok(got.every((g) => g.frame.length <= 4096));
  assert.deepEqual(Buffer.concat(got.map((g) => g.frame)), bytes);
  assert.equal(got[0]!.info.attributes?.kind, 'insert');
  assert.equal(got[0]!.info.attributes?.query, sql.slice(0, 256));
  assert.deepEqual(got.map((g) => [g.info.start, g.info.end]), [[true, false], ...Array<boolean[]>(got.length - 2).fill([false, false]), [false, true]]);
});

test('a logical packet across 0xFFFFFF-byte packets is one request; the continuation is not read as a command', () => {
  const c = loggedIn();
  const payload = Buffer.alloc(0xffffff + 10, 0x61);
  payload[0] = 3; // COM_QUERY
  const bytes = Buffer.concat([pkt(0, payload.subarray(0, 0xffffff)), pkt(1, payload.subarray(0xffffff))]);
  bytes[4 + 0xffffff + 4] = 0x01; // the continuation starts with what would be COM_QUIT
  const got: Got[] = [];
  for (let i = 0; i < bytes.length; i += 65536) got.push(...feed(c.toUpstream, bytes.subarray(i, i + 65536)));
  assert.equal(got.filter((g) => g.info.start).length, 1);
  assert.equal(got.filter((g) => g.info.end).length, 1);
  assert.equal(got.at(-1)!.info.end, true);
  assert.ok(got.every((g) => g.frame.length <= 65536));
  assert.deepEqual(Buffer.concat(got.map((g) => g.frame)).length, bytes.length);
});

test('limits: maxPacketLength from the header alone, also across continued packets; maxBufferedBytes', () => {
  const c = loggedIn(CLIENT, SERVER, { maxPacketLength: '1MiB' });
  throwsCode(() => feed(c.toUpstream, Buffer.from([0x01, 0x00, 0x20, 0])), ErrorCodes.FRAME_TOO_LARGE, /client packet of 2097153\+ bytes, maxPacketLength is 1048576/);

  const d = loggedIn(CLIENT, SERVER, { maxPacketLength: '20MiB', maxPacketFrame: '64KiB' });
  const first = Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0, 3]), Buffer.alloc(0xfffffe)]);
  feedChunked(d.toUpstream, first);
  throwsCode(() => feed(d.toUpstream, Buffer.from([0x00, 0x00, 0x50, 1])), ErrorCodes.FRAME_TOO_LARGE, /maxPacketLength is 20971520/);

  const e = codec({ maxPacketFrame: '1KiB', maxBufferedBytes: '2KiB' });
  throwsCode(() => e.toDownstream.push(Buffer.alloc(4096)), ErrorCodes.BUFFER_OVERFLOW, /limit is 2048/);
});

test('malformed input is a typed error naming what was wrong', () => {
  const c = loggedIn();
  throwsCode(() => feed(c.toUpstream, pkt(0, [])), ErrorCodes.FRAME_MALFORMED, /empty command packet/);

  const d = codec();
  feed(d.toDownstream, greeting());
  throwsCode(() => feed(d.toUpstream, pkt(1, Buffer.concat([u32(CLIENT), Buffer.alloc(4)]))), ErrorCodes.FRAME_MALFORMED, /HandshakeResponse41 of 8 bytes is too short/);

  const e = loggedIn();
  feed(e.toUpstream, pkt(0, Buffer.concat([Buffer.from([0x16]), Buffer.from('select 1')])));
  throwsCode(() => feed(e.toDownstream, pkt(1, [1])), ErrorCodes.FRAME_MALFORMED, /expected a COM_STMT_PREPARE OK/);

  const f = loggedIn();
  feed(f.toUpstream, query('select 1'));
  throwsCode(() => feed(f.toDownstream, Buffer.concat([pkt(1, [1]), COLDEF(2), pkt(3, [1, 0x31])])), ErrorCodes.FRAME_MALFORMED, /expected EOF after column definitions in the response to COM_QUERY, got 0x01/);

  const g = loggedIn();
  throwsCode(() => feed(g.toUpstream, pkt(0, [0x17, 1, 0])), ErrorCodes.FRAME_MALFORMED, /COM_STMT_EXECUTE of 3 bytes has no statement id/);
  assert.throws(() => g.toUpstream.next(), /COM_STMT_EXECUTE of 3 bytes has no statement id/, 'the error is latched');
});

test('end of input: truncated header, packet, continuation, or response', () => {
  const a = loggedIn();
  a.toUpstream.push(Buffer.from([5, 0]));
  a.toUpstream.end();
  throwsCode(() => a.toUpstream.next(), ErrorCodes.FRAME_TRUNCATED, /client input ended inside a packet \(2 bytes of a 4-byte packet header\)/);

  const b = loggedIn();
  b.toUpstream.push(query('select 1').subarray(0, 8));
  b.toUpstream.end();
  throwsCode(() => b.toUpstream.next(), ErrorCodes.FRAME_TRUNCATED, /packet of 9 bytes, 4 received/);

  const c = loggedIn();
  feed(c.toUpstream, query('select 1'));
  feed(c.toDownstream, Buffer.concat([pkt(1, [1]), COLDEF(2)]));
  c.toDownstream.end();
  throwsCode(() => c.toDownstream.next(), ErrorCodes.FRAME_TRUNCATED, /server input ended inside the response to COM_QUERY/);

  const d = loggedIn();
  feed(d.toUpstream, pkt(0, [1])); // COM_QUIT: nothing pending
  d.toDownstream.end();
  assert.equal(d.toDownstream.next(), null);
  d.toUpstream.end();
  assert.equal(d.toUpstream.next(), null);
});

test('pipelined commands pair in order; an ERR with nothing pending is unsolicited', () => {
  const c = loggedIn();
  const reqs = feed(c.toUpstream, Buffer.concat([query('select 1'), pkt(0, [0x0e]), pkt(0, [0x19, 1, 0, 0, 0]), query('do 1')]));
  assert.deepEqual(reqs.map((r) => [r.info.attributes?.command, r.info.responses]), [['COM_QUERY', 1], ['COM_PING', 1], ['COM_STMT_CLOSE', 0], ['COM_QUERY', 1]]);
  const res = feed(c.toDownstream, Buffer.concat([pkt(1, [1]), COLDEF(2), EOF(3), EOF(4), OK(1), ERR(1), ERR(0, 4031)]));
  assert.deepEqual(res.map((r) => r.info), [
    { start: true, end: false }, { start: false, end: false }, { start: false, end: false }, { start: false, end: true },
    { start: true, end: true }, { start: true, end: true }, { start: true, end: true, unsolicited: true },
  ]);
});

test('prepared statements: prepare OK with definitions; execute, fetch and close report the statement', () => {
  const c = loggedIn();
  feed(c.toUpstream, pkt(0, Buffer.concat([Buffer.from([0x16]), Buffer.from('SELECT a FROM t WHERE b = ?')])));
  const prepOk = pkt(1, [0, 9, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
  const res = feed(c.toDownstream, Buffer.concat([prepOk, COLDEF(2), EOF(3), COLDEF(4), EOF(5)]));
  assert.deepEqual(res.map((r) => r.info.end), [false, false, false, false, true]);
  const exec = feed(c.toUpstream, pkt(0, [0x17, 9, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 3, 0, 7, 0, 0, 0]))[0]!;
  assert.deepEqual(exec.info.attributes, { command: 'COM_STMT_EXECUTE', statement: 9, kind: 'select', query: 'SELECT a FROM t WHERE b = ?' });
  // a cursor was requested: column definitions and the EOF with SERVER_STATUS_CURSOR_EXISTS end the response
  const cur = feed(c.toDownstream, Buffer.concat([pkt(1, [1]), COLDEF(2), EOF(3, 0x42)]));
  assert.equal(cur.at(-1)!.info.end, true);
  const fetch = feed(c.toUpstream, pkt(0, [0x1c, 9, 0, 0, 0, 5, 0, 0, 0]))[0]!;
  assert.equal(fetch.info.attributes?.kind, 'select');
  const rows = feed(c.toDownstream, Buffer.concat([pkt(1, [0, 0, 1, 0, 0, 0]), pkt(2, [0, 0, 2, 0, 0, 0]), EOF(3, 0x82)]));
  assert.deepEqual(rows.map((r) => [r.info.start, r.info.end]), [[true, false], [false, false], [false, true]]);
  const close = feed(c.toUpstream, pkt(0, [0x19, 9, 0, 0, 0]))[0]!;
  assert.deepEqual(close.info, { start: true, end: true, responses: 0, attributes: { command: 'COM_STMT_CLOSE', statement: 9 } });
  const again = feed(c.toUpstream, pkt(0, [0x17, 9, 0, 0, 0, 0, 1, 0, 0, 0]))[0]!;
  assert.equal(again.info.attributes?.kind, undefined, 'forgotten after COM_STMT_CLOSE');
});

test('MariaDB cache metadata: a binary result set without column definitions', () => {
  const CACHE_METADATA = 16;
  const c = loggedIn(CLIENT & ~CAP.MYSQL, SERVER, {}, CACHE_METADATA);
  feed(c.toUpstream, pkt(0, [0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0]));
  const res = feed(c.toDownstream, Buffer.concat([pkt(1, [2, 0]), EOF(2), pkt(3, [0, 0, 1, 0, 0, 0, 2, 0, 0, 0]), EOF(4)]));
  assert.deepEqual(res.map((r) => [r.info.start, r.info.end]), [[true, false], [false, false], [false, false], [false, true]]);
});

test('LOCAL INFILE: file content packets continue the request; the empty packet ends it; then OK', () => {
  const c = loggedIn();
  feed(c.toUpstream, query("load data local infile 'f' into table t"));
  assert.deepEqual(feed(c.toDownstream, pkt(1, Buffer.concat([Buffer.from([0xfb]), Buffer.from('f')])))[0]!.info, { start: true, end: false });
  const data = feed(c.toUpstream, Buffer.concat([pkt(2, [0x03, 0x31]), pkt(3, [0x01]), pkt(4, [])]));
  assert.deepEqual(data.map((d) => d.info), Array(3).fill({ start: false, end: false }));
  assert.deepEqual(feed(c.toDownstream, OK(5))[0]!.info, { start: false, end: true });
  assert.equal(feed(c.toUpstream, pkt(0, [0x0e]))[0]!.info.attributes?.command, 'COM_PING');
});

test('COM_STATISTICS, COM_FIELD_LIST, COM_CHANGE_USER, COM_INIT_DB', () => {
  const c = loggedIn();
  feed(c.toUpstream, pkt(0, [0x09]));
  assert.deepEqual(feed(c.toDownstream, pkt(1, 'Uptime: 1  Threads: 1'))[0]!.info, { start: true, end: true });
  assert.equal(feed(c.toUpstream, pkt(0, Buffer.from('\x04orders\0')))[0]!.info.attributes?.table, 'orders');
  assert.deepEqual(feed(c.toDownstream, Buffer.concat([COLDEF(1), COLDEF(2), EOF(3)])).map((r) => r.info.end), [false, false, true]);
  const cu = feed(c.toUpstream, pkt(0, Buffer.concat([Buffer.from('\x11bob\0'), Buffer.from([0]), Buffer.from('crm\0'), Buffer.from([33, 0])])))[0]!;
  assert.deepEqual(cu.info.attributes, { command: 'COM_CHANGE_USER', user: 'bob', database: 'crm' });
  feed(c.toDownstream, pkt(1, Buffer.from('\xfemysql_native_password\0')));
  assert.deepEqual(feed(c.toUpstream, pkt(2, []))[0]!.info, { start: false, end: false }, 'auth data continues the exchange');
  assert.deepEqual(feed(c.toDownstream, OK(3))[0]!.info, { start: false, end: true });
  assert.deepEqual(feed(c.toUpstream, pkt(0, '\x02crm'))[0]!.info.attributes, { command: 'COM_INIT_DB', database: 'crm' });
});

test('COM_BINLOG_DUMP: opaque after the first event; an ERR answers it normally', () => {
  const c = loggedIn();
  feed(c.toUpstream, pkt(0, [0x12, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0]));
  assert.deepEqual(feed(c.toDownstream, ERR(1, 1227))[0]!.info, { start: true, end: true });
  feed(c.toUpstream, pkt(0, [0x12, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0]));
  const ev = feed(c.toDownstream, Buffer.concat([pkt(1, [0, 1, 2, 3]), pkt(2, [0, 4, 5])]));
  assert.deepEqual(ev.map((e) => e.info), [{ start: true, end: true }, { start: true, end: true, opaque: true }]);
});

test('CLIENT_QUERY_ATTRIBUTES: the SQL follows the attributes', () => {
  const c = loggedIn(CLIENT | CAP.QUERY_ATTRIBUTES);
  assert.equal(feed(c.toUpstream, pkt(0, Buffer.concat([Buffer.from([3, 0, 1]), Buffer.from('UPDATE t SET a = 1')])))[0]!.info.attributes?.kind, 'update');
  feed(c.toDownstream, OK(1));
  // one attribute: null bitmap, bound flag, type VAR_STRING + name "tr", value "abc"
  const attrs = Buffer.from([3, 1, 1, 0, 1, 0xfd, 0, 2, 0x74, 0x72, 3, 0x61, 0x62, 0x63]);
  const got = feed(c.toUpstream, pkt(0, Buffer.concat([attrs, Buffer.from('delete from t')])))[0]!;
  assert.deepEqual(got.info.attributes, { command: 'COM_QUERY', kind: 'delete', query: 'delete from t' });
});

test('firstKeyword', () => {
  assert.equal(firstKeyword('SELECT 1'), 'select');
  assert.equal(firstKeyword('  \n\t( select 1 ) union (select 2)'), 'select');
  assert.equal(firstKeyword('/* a */ -- b\n# c\nInsert into t'), 'insert');
  assert.equal(firstKeyword('/*!40101 SET NAMES utf8 */'), 'set');
  assert.equal(firstKeyword('/*M!100101 SET x = 1 */'), 'set');
  assert.equal(firstKeyword('WITH x AS (select 1) select * from x'), 'with');
  assert.equal(firstKeyword('--x'), '');
  assert.equal(firstKeyword('/* never closed'), '');
  assert.equal(firstKeyword(''), '');
  assert.equal(firstKeyword('; ;call p()'), 'call');
});

test('errorReply: ERR packet with seq + 1, code and SQLSTATE; the dropped request is never waited for', () => {
  const c = loggedIn();
  feed(c.toUpstream, query('select 1'));
  const reply = c.errorReply({ message: 'nope' });
  assert.equal(reply?.close, false);
  assert.deepEqual(reply?.frames, [pkt(1, Buffer.concat([Buffer.from([0xff, 0x51, 0x04]), Buffer.from('#HY000nope')]))]);
  // the server never answers the dropped query: the next request pairs with the next response
  feed(c.toUpstream, pkt(0, [0x0e]));
  assert.deepEqual(feed(c.toDownstream, OK(1))[0]!.info, { start: true, end: true });
  feed(c.toUpstream, query('x'));
  assert.deepEqual(c.errorReply({ message: 'm', status: 1213 })?.frames[0]!.subarray(4, 13), Buffer.from([0xff, 0xbd, 0x04, 0x23, 0x48, 0x59, 0x30, 0x30, 0x30]));
  feed(c.toUpstream, query('x'));
  assert.deepEqual(c.errorReply({ message: 'm', status: '40001' })?.frames[0]!.subarray(5, 7), Buffer.from([0x41, 0x9c]), "'40001' is read as error code 40001");
  feed(c.toUpstream, query('x'));
  assert.equal(c.errorReply({ message: 'm', status: 'HY008' })?.frames[0]!.subarray(7, 13).toString(), '#HY008');
  // requests without a response get no reply
  feed(c.toUpstream, pkt(0, [0x19, 1, 0, 0, 0]));
  assert.deepEqual(c.errorReply({ message: 'm' }), { frames: [], close: false });
  // options
  const d = loggedIn(CLIENT, SERVER, { errorCode: 2013, sqlState: '08S01' });
  feed(d.toUpstream, query('select 1'));
  assert.equal(d.errorReply({ message: 'm' })?.frames[0]!.subarray(4, 13).toString('hex'), 'ffdd07233038533031');
});

test('errorReply: during login it closes; without CLIENT_PROTOCOL_41 there is no SQLSTATE', () => {
  const c = codec();
  feed(c.toDownstream, greeting());
  feed(c.toUpstream, handshakeResponse());
  const reply = c.errorReply({ message: 'denied', status: 1045 })!;
  assert.equal(reply.close, true);
  assert.deepEqual(reply.frames, [pkt(2, Buffer.concat([Buffer.from([0xff, 0x15, 0x04]), Buffer.from('#HY000denied')]))]);

  const old = loggedIn(CAP.CONNECT_WITH_DB | CAP.TRANSACTIONS | CAP.SECURE_CONNECTION, SERVER);
  feed(old.toUpstream, query('select 1'));
  assert.deepEqual(old.errorReply({ message: 'x' })?.frames, [pkt(1, [0xff, 0x51, 0x04, 0x78])]);
});

test('mysql: the HandshakeResponse (login) is connection setup; commands, COM_CHANGE_USER included, are not', () => {
  const c = codec();
  feed(c.toDownstream, greeting());
  const login = feed(c.toUpstream, handshakeResponse());
  assert.equal(login[0]!.info.attributes?.['phase'], 'login');
  assert.equal(login[0]!.info.setup, true);
  feed(c.toDownstream, OK(2));
  const q = feed(c.toUpstream, query('SELECT 1'));
  assert.equal(q[0]!.info.setup, undefined);
});
