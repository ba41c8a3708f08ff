/**
 * The mysql codec between the real mysql2 client and the real MariaDB server (127.0.0.1:3306, root, no password,
 * db test), through the codec tap: traffic passes unchanged and pairs up (plain and prepared queries, a ~5 MiB result
 * set in bounded frames, multi-statements, a transaction, a stored procedure, change user, LOCAL INFILE, a 17 MiB
 * BLOB crossing the 16 MiB packet boundary), and the codec's error reply reaches mysql2 as a server error after which
 * the same connection keeps working.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import mysql from 'mysql2/promise';
import type { RowDataPacket, ResultSetHeader } from 'mysql2/promise';
import { startCodecTap, type CodecTap, type TappedFrame } from '../helpers/codec-tap.js';
import { eventually } from '../helpers/net.js';
import { mysqlOptionsSchema, mysqlProtocol } from '../../src/protocols/mysql/index.js';
import type { Attributes, ErrorReplyRequest } from '../../src/protocols/protocol.js';

const HOST = '127.0.0.1';
const PORT = 3306;
const T = 'mysql_live_t';
const BLOBS = 'mysql_live_blobs';
const PROC = 'mysql_live_p';
const FRAME = 64 * 1024;
const factory = mysqlProtocol.factory(mysqlOptionsSchema.parse({}));

/** The connection's log once the client's COM_QUIT went through the tap (mysql2's end() does not wait for it). */
async function finished(tap: CodecTap, index: number): Promise<TappedFrame[]> {
  await eventually(() => tap.connections[index]?.some((f) => f.info.attributes?.command === 'COM_QUIT') === true, 'COM_QUIT through the tap');
  return tap.connections[index]!;
}

async function reachable(): Promise<boolean> {
  const sock = net.connect(PORT, HOST);
  try {
    await once(sock, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    sock.destroy();
  }
}

/** Requests (start frames with responses) and response ends balance; no frame exceeds the frame limit. */
function assertPaired(log: TappedFrame[]): { requests: TappedFrame[]; ends: number } {
  let expected = 0;
  let ends = 0;
  const requests: TappedFrame[] = [];
  for (const f of log) {
    assert.ok(f.frame.length <= FRAME, `frame of ${f.frame.length} bytes exceeds maxPacketFrame`);
    assert.ok(!f.info.opaque, 'no opaque frames');
    if (f.from === 'c' && f.info.start) {
      requests.push(f);
      expected += f.info.responses ?? 1;
    }
    if (f.from === 's' && f.info.end && !f.info.unsolicited) ends++;
  }
  assert.equal(ends, expected, 'every request got its responses');
  return { requests, ends };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const up = await reachable();

describe('mysql codec with mysql2 and MariaDB', { skip: !up && !process.env.CI ? 'MariaDB is not reachable at 127.0.0.1:3306' : false }, () => {
  let tap: CodecTap;
  /** When set, the tap answers matching requests with the codec's error reply. */
  let failWith: ((a: Attributes | undefined) => ErrorReplyRequest | undefined) | undefined;
  const connect = (extra: mysql.ConnectionOptions = {}): Promise<mysql.Connection> =>
    mysql.createConnection({ host: HOST, port: tap.port, user: 'root', database: 'test', ...extra });

  before(async () => {
    if (!up) assert.fail('MariaDB is not reachable at 127.0.0.1:3306');
    tap = await startCodecTap(factory, { host: HOST, port: PORT }, { fail: (a) => failWith?.(a) });
    const c = await connect();
    await c.query(`create table if not exists ${T} (id int primary key, v varchar(100))`);
    await c.query(`delete from ${T}`);
    await c.query(`drop procedure if exists ${PROC}`);
    await c.query(`create procedure ${PROC}(in n int) begin select n as a; select n + 1 as b, 'c' as c; end`);
    await c.end();
  });

  after(async () => {
    await tap?.close();
  });

  test('plain queries, attributes and pairing', async () => {
    const before = tap.connections.length;
    const c = await connect();
    const [rows] = await c.query<RowDataPacket[]>("/* hi */ SELECT 1 + 1 AS two, 'é' AS e");
    assert.deepEqual(rows, [{ two: 2, e: 'é' }]);
    await c.query(`insert into ${T} values (1, 'one')`);
    await c.ping();
    await c.end();
    const log = await finished(tap, before);
    const { requests } = assertPaired(log);
    assert.deepEqual(requests[0]!.info.attributes, { phase: 'login', user: 'root', database: 'test' });
    assert.deepEqual(requests[1]!.info.attributes, { command: 'COM_QUERY', kind: 'select', query: "/* hi */ SELECT 1 + 1 AS two, 'é' AS e" });
    assert.equal(requests[2]!.info.attributes?.kind, 'insert');
    assert.deepEqual(requests.slice(3).map((r) => r.info.attributes?.command), ['COM_PING', 'COM_QUIT']);
    assert.equal(log[0]!.info.unsolicited, true, 'the greeting is unsolicited');
    assert.deepEqual(tap.errors, []);
  });

  test('prepared statements (binary protocol) report the statement on execute', async () => {
    const before = tap.connections.length;
    const c = await connect();
    await c.execute(`replace into ${T} values (?, ?)`, [2, 'two']);
    const [rows] = await c.execute<RowDataPacket[]>(`select id, v, ? as n, now() as t from ${T} where id <= ? order by id`, [1.5, 2]);
    assert.deepEqual(rows.map((r): unknown[] => [r.id, r.v, r.n]), [[1, 'one', 1.5], [2, 'two', 1.5]]);
    assert.ok(rows[0]!.t instanceof Date);
    await c.end();
    const { requests } = assertPaired(await finished(tap, before));
    const exec = requests.filter((r) => r.info.attributes?.command === 'COM_STMT_EXECUTE');
    assert.equal(exec.length, 2);
    assert.equal(exec[1]!.info.attributes?.kind, 'select');
    assert.match(String(exec[1]!.info.attributes?.query), /^select id, v, \? as n/);
    assert.equal(typeof exec[1]!.info.attributes?.statement, 'number');
  });

  test('a ~5 MiB result set passes in bounded frames (text and binary)', async () => {
    const before = tap.connections.length;
    const c = await connect();
    const sql = "select seq, repeat(char(64 + seq), 1048576) as big, 'x' as small from seq_1_to_5";
    const [text] = await c.query<RowDataPacket[]>(sql);
    const [bin] = await c.execute<RowDataPacket[]>(sql.replace("'x'", '?'), ['y']);
    const [many] = await c.query<RowDataPacket[]>('select seq, repeat(\'r\', 200) as r from seq_1_to_25000');
    await c.end();
    assert.equal(text.length, 5);
    for (const [i, row] of text.entries()) assert.equal(String(row.big), String.fromCharCode(65 + i).repeat(1048576));
    assert.deepEqual(bin.map((r) => (r.big as Buffer).length), [1048576, 1048576, 1048576, 1048576, 1048576]);
    assert.equal(many.length, 25000);
    const log = await finished(tap, before);
    assertPaired(log);
    const server = log.filter((f) => f.from === 's');
    const max = Math.max(...server.map((f) => f.frame.length));
    assert.equal(max, FRAME, 'large rows are cut into frames of at most maxPacketFrame');
    assert.ok(server.reduce((n, f) => n + f.frame.length, 0) > 10 * 1024 * 1024);
  });

  test('multi-statements return several result sets in one response', async () => {
    const before = tap.connections.length;
    const c = await connect({ multipleStatements: true });
    const [results] = await c.query<RowDataPacket[][]>(`select 1 as a; update ${T} set v = v where id = 1; select 2 as b, 3 as c; select * from ${T} where id = 0`);
    await c.end();
    assert.equal(results.length, 4);
    assert.deepEqual(results[0], [{ a: 1 }]);
    assert.equal((results[1] as unknown as ResultSetHeader).affectedRows, 1);
    assert.deepEqual(results[2], [{ b: 2, c: 3 }]);
    assert.deepEqual(results[3], []);
    const log = await finished(tap, before);
    const { requests } = assertPaired(log);
    assert.equal(requests.length, 3, 'login, the multi-statement query, quit');
    // the one response holds four results: 4 column-count packets, each a frame inside one message
    const multi = log.slice(log.indexOf(requests[1]!) + 1, log.indexOf(requests[2]!));
    assert.equal(multi.filter((f) => f.info.start).length, 1);
    assert.equal(multi.filter((f) => f.info.end).length, 1);
  });

  test('a transaction on our own table', async () => {
    const before = tap.connections.length;
    const c = await connect();
    await c.beginTransaction();
    await c.query(`insert into ${T} values (10, 'rolled back')`);
    await c.rollback();
    await c.beginTransaction();
    await c.execute(`insert into ${T} values (?, ?)`, [11, 'committed']);
    await c.commit();
    const [rows] = await c.query<RowDataPacket[]>(`select id from ${T} where id in (10, 11)`);
    assert.deepEqual(rows, [{ id: 11 }]);
    await c.end();
    const { requests } = assertPaired(await finished(tap, before));
    assert.deepEqual(
      requests.map((r) => r.info.attributes?.kind).filter((k) => k !== undefined),
      ['start', 'insert', 'rollback', 'start', 'insert', 'insert', 'commit', 'select'], // execute = prepare + execute
    );
  });

  test('stored procedure CALL (query and execute), change user, LOCAL INFILE', async () => {
    const before = tap.connections.length;
    const c = await connect();
    const [q] = await c.query<RowDataPacket[][]>(`call ${PROC}(7)`);
    assert.deepEqual([q[0], q[1]], [[{ a: 7 }], [{ b: 8, c: 'c' }]]);
    const [e] = await c.execute<RowDataPacket[][]>(`call ${PROC}(?)`, [1]);
    assert.deepEqual([e[0], e[1]], [[{ a: 1 }], [{ b: 2, c: 'c' }]]);
    await c.changeUser({ user: 'root', database: 'mysql' });
    const [db] = await c.query<RowDataPacket[]>('select database() as d');
    assert.deepEqual(db, [{ d: 'mysql' }]);
    const [load] = await c.query<ResultSetHeader>({
      sql: `load data local infile 'rows.csv' replace into table test.${T} fields terminated by ','`,
      infileStreamFactory: () => Readable.from([Buffer.from('20,twenty\n'), Buffer.from('21,twenty-one\n')]),
    });
    assert.equal(load.affectedRows, 2);
    await c.end();
    const log = await finished(tap, before);
    const { requests } = assertPaired(log);
    const change = requests.find((r) => r.info.attributes?.command === 'COM_CHANGE_USER');
    assert.deepEqual(change?.info.attributes, { command: 'COM_CHANGE_USER', user: 'root', database: 'mysql' });
    const loadReq = requests.find((r) => r.info.attributes?.kind === 'load')!;
    const afterLoad = log.slice(log.indexOf(loadReq) + 1).filter((f) => f.from === 'c');
    assert.ok(afterLoad.filter((f) => !f.info.start && !f.info.end).length >= 2, 'file content and its empty packet continue the request');
  });

  test('a 17 MiB BLOB crosses the 16 MiB packet boundary both ways', async (t) => {
    const admin = await connect();
    const [[limit]] = await admin.query<RowDataPacket[]>('select @@global.max_allowed_packet as m');
    if (Number(limit!.m) < 64 * 1024 * 1024) {
      try {
        await admin.query('set global max_allowed_packet = 67108864');
      } catch (err) {
        await admin.end();
        t.skip(`max_allowed_packet is ${limit!.m} and cannot be raised: ${(err as Error).message}`);
        return;
      }
    }
    await admin.query(`create table if not exists ${BLOBS} (id int primary key, b longblob)`);
    await admin.end();
    const before = tap.connections.length;
    const c = await connect();
    const blob = Buffer.alloc(17 * 1024 * 1024);
    for (let i = 0; i < blob.length; i += 4) blob.writeUInt32LE((i * 2654435761) >>> 0, i);
    await c.execute(`replace into ${BLOBS} values (?, ?)`, [1, blob]);
    const [text] = await c.query<RowDataPacket[]>(`select b from ${BLOBS} where id = 1`);
    const [bin] = await c.execute<RowDataPacket[]>(`select b, ? as tag from ${BLOBS} where id = 1`, ['t']);
    const [lengths] = await c.query<RowDataPacket[]>(`select length(b) as n from ${BLOBS} where id = 1`);
    await c.end();
    assert.equal(Number(lengths[0]!.n), blob.length);
    assert.equal(sha(text[0]!.b as Buffer), sha(blob));
    assert.equal(sha(bin[0]!.b as Buffer), sha(blob));
    const log = await finished(tap, before);
    const { requests } = assertPaired(log);
    // the insert is one request made of several packets: its start frame and end frame are 17 MiB apart
    const insert = requests.find((r) => r.info.attributes?.command === 'COM_STMT_EXECUTE')!;
    assert.equal(insert.info.end, false);
    const rest = log.slice(log.indexOf(insert) + 1);
    const endAt = rest.findIndex((f) => f.from === 'c' && f.info.end);
    const insertBytes = insert.frame.length + rest.slice(0, endAt + 1).filter((f) => f.from === 'c').reduce((n, f) => n + f.frame.length, 0);
    assert.ok(insertBytes > blob.length, 'the whole insert is one request message');
    assert.ok(rest.slice(0, endAt).every((f) => f.from !== 'c' || (!f.info.start && !f.info.end)));
    assert.deepEqual(tap.errors, []);
  });

  test('error reply: mysql2 sees a server error and the connection keeps working (query and execute)', async () => {
    const before = tap.connections.length;
    const c = await connect();
    failWith = (a) => (a?.kind === 'select' ? { message: 'switchyard says no', request: a } : undefined);
    try {
      await assert.rejects(c.query('select 1 as one'), (err: { errno?: number; sqlMessage?: string; sqlState?: string; fatal?: boolean }) => {
        assert.equal(err.errno, 1105);
        assert.equal(err.sqlMessage, 'switchyard says no');
        assert.equal(err.sqlState, 'HY000');
        assert.notEqual(err.fatal, true);
        return true;
      });
      const [ok] = await c.query<RowDataPacket[]>('show variables like "version"');
      assert.equal(ok.length, 1, 'the next query on the same connection works');
      await assert.rejects(c.execute('select ? as x', [1]), (err: { errno?: number; sqlMessage?: string; sqlState?: string }) => {
        assert.deepEqual([err.errno, err.sqlMessage, err.sqlState], [1105, 'switchyard says no', 'HY000']);
        return true;
      });
      const [ok2] = await c.execute<ResultSetHeader>(`update ${T} set v = ? where id = ?`, ['one', 1]);
      assert.equal(ok2.affectedRows, 1, 'the next execute on the same connection works');
      // a prepared select that is already prepared: the execute itself is refused, with the request's status
      failWith = undefined;
      await c.execute(`select id from ${T} where id = ?`, [1]);
      failWith = (a) => (a?.command === 'COM_STMT_EXECUTE' && a.kind === 'select' ? { message: 'deadlock, try again', status: 1213 } : undefined);
      await assert.rejects(c.execute(`select id from ${T} where id = ?`, [1]), (err: { errno?: number; sqlMessage?: string }) => {
        assert.deepEqual([err.errno, err.sqlMessage], [1213, 'deadlock, try again']);
        return true;
      });
      failWith = undefined;
      const [rows] = await c.execute<RowDataPacket[]>(`select id from ${T} where id = ?`, [1]);
      assert.deepEqual(rows, [{ id: 1 }]);
    } finally {
      failWith = undefined;
      await c.end();
    }
    const log = await finished(tap, before);
    // every forwarded request is answered; the three refused ones were never forwarded
    let forwarded = 0;
    let ends = 0;
    for (const f of log) {
      if (f.from === 's' && f.info.end && !f.info.unsolicited) ends++;
    }
    for (const f of log) if (f.from === 'c' && f.info.start) forwarded += f.info.responses ?? 1;
    assert.equal(ends, forwarded - 3);
    assert.deepEqual(tap.errors, []);
  });

  test('error reply during login: mysql2 gets the error and the connection is closed', async () => {
    failWith = (a) => (a?.phase === 'login' ? { message: 'not today', status: 1045 } : undefined);
    try {
      await assert.rejects(connect(), (err: { errno?: number; sqlMessage?: string; sqlState?: string }) => {
        assert.deepEqual([err.errno, err.sqlMessage, err.sqlState], [1045, 'not today', 'HY000']);
        return true;
      });
    } finally {
      failWith = undefined;
    }
    const c = await connect();
    await c.ping();
    await c.end();
  });
});
