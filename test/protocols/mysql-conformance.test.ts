/**
 * Conformance of the mysql codec on conversations captured from the real MariaDB server (127.0.0.1:3306, root, no
 * password, db test) at test time, handshake included: a recording relay sits between the client and the server and
 * keeps every socket read as one transcript step. Clients: mysql2 (no CLIENT_DEPRECATE_EOF) and a raw protocol
 * client (with and without CLIENT_DEPRECATE_EOF) for the commands mysql2 never sends (COM_FIELD_LIST,
 * COM_STATISTICS, cursors + COM_STMT_FETCH, COM_STMT_SEND_LONG_DATA, COM_SET_OPTION, COM_RESET_CONNECTION, …).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import mysql from 'mysql2/promise';
import { protocolConformance, runTranscript, type TranscriptStep } from '../conformance/protocol-suite.js';
import { mysqlOptionsSchema, mysqlProtocol } from '../../src/protocols/mysql/index.js';

const HOST = '127.0.0.1';
const PORT = 3306;
const T = 'mysql_conformance_t';
const P = 'mysql_conformance_p';
const factory = mysqlProtocol.factory(mysqlOptionsSchema.parse({}));

// ---- recording relay ----

interface Recorder {
  port: number;
  /** One transcript per accepted connection, complete once both sides closed. */
  done: Promise<TranscriptStep[]>;
  close(): void;
}

async function startRecorder(): Promise<Recorder> {
  const steps: TranscriptStep[] = [];
  let finish!: (s: TranscriptStep[]) => void;
  const done = new Promise<TranscriptStep[]>((r) => (finish = r));
  const server = net.createServer((client) => {
    const upstream = net.connect(PORT, HOST);
    let closed = 0;
    const onClose = (): void => {
      if (++closed === 2) finish(steps);
    };
    client.on('data', (d: Buffer) => {
      steps.push({ from: 'c', bytes: Buffer.from(d) });
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      steps.push({ from: 's', bytes: Buffer.from(d) });
      client.write(d);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    for (const s of [client, upstream]) {
      s.on('error', () => undefined);
      s.on('close', onClose);
    }
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, done, close: () => server.close() };
}

// ---- a raw protocol client for the commands client libraries do not send ----

interface Packet {
  seq: number;
  payload: Buffer;
}

class RawClient {
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  #closed = false;
  readonly #sock: net.Socket;

  /** Use {@link RawClient.connect}. */
  constructor(sock: net.Socket) {
    this.#sock = sock;
    sock.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake();
    });
    sock.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    sock.on('error', () => undefined);
  }

  static async connect(port: number, caps: number): Promise<RawClient> {
    const sock = net.connect(port, HOST);
    await once(sock, 'connect');
    const c = new RawClient(sock);
    await c.packet(); // Initial Handshake
    c.send(1, Buffer.concat([u32(caps), u32(16 * 1024 * 1024), Buffer.from([33]), Buffer.alloc(23), Buffer.from('root\0'), Buffer.from([0]), Buffer.from('test\0'), Buffer.from('mysql_native_password\0')]));
    await c.auth();
    return c;
  }

  /** Login / change-user exchange with an empty password: answer AuthSwitchRequest / AuthMoreData until OK. */
  async auth(): Promise<void> {
    for (;;) {
      const p = await this.packet();
      if (p.payload[0] === 0x00) return;
      if (p.payload[0] === 0xff) throw new Error(`auth failed: ${p.payload.subarray(9).toString()}`);
      this.send(p.seq + 1, Buffer.alloc(0));
    }
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  async packet(): Promise<Packet> {
    for (;;) {
      if (this.#buf.length >= 4) {
        const len = this.#buf.readUIntLE(0, 3);
        if (this.#buf.length >= 4 + len) {
          const p = { seq: this.#buf[3]!, payload: this.#buf.subarray(4, 4 + len) };
          this.#buf = this.#buf.subarray(4 + len);
          return p;
        }
      }
      if (this.#closed) throw new Error('connection closed');
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  send(seq: number, payload: Buffer): void {
    const h = Buffer.alloc(4);
    h.writeUIntLE(payload.length, 0, 3);
    h[3] = seq;
    this.#sock.write(Buffer.concat([h, payload]));
  }

  /** Send a command and read its response of `count` packets (an ERR ends it early: allowed only with `error`). */
  async command(payload: Buffer, count: number, error = false): Promise<Packet[]> {
    this.send(0, payload);
    const out: Packet[] = [];
    for (;;) {
      const p = await this.packet();
      out.push(p);
      if (p.payload[0] === 0xff) {
        if (!error) throw new Error(`unexpected ERR: ${p.payload.subarray(9).toString()}`);
        return out;
      }
      if (out.length === count) return out;
    }
  }

  async quit(): Promise<void> {
    this.send(0, Buffer.from([0x01]));
    this.#sock.end();
    if (!this.#closed) await once(this.#sock, 'close');
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

const cmd = (code: number, ...parts: (Buffer | string)[]): Buffer => Buffer.concat([Buffer.from([code]), ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))]);

const DEPRECATE_EOF = 0x1000000;
const BASE_CAPS = 0x1 | 0x8 | 0x80 | 0x200 | 0x2000 | 0x8000 | 0x10000 | 0x20000 | 0x40000 | 0x80000;

/** Commands in the order the raw session sends them (login first). */
const RAW_COMMANDS = [
  'login', 'COM_PING', 'COM_INIT_DB', 'COM_QUERY', 'COM_QUERY', 'COM_QUERY', 'COM_QUERY', 'COM_FIELD_LIST', 'COM_STATISTICS',
  'COM_STMT_PREPARE', 'COM_STMT_SEND_LONG_DATA', 'COM_STMT_EXECUTE', 'COM_STMT_PREPARE', 'COM_STMT_EXECUTE', 'COM_STMT_FETCH',
  'COM_STMT_FETCH', 'COM_STMT_RESET', 'COM_STMT_CLOSE', 'COM_SET_OPTION', 'COM_QUERY', 'COM_QUERY', 'COM_RESET_CONNECTION',
  'COM_CHANGE_USER', 'COM_QUERY', 'COM_QUIT',
];

async function rawSession(deprecateEof: boolean): Promise<TranscriptStep[]> {
  const rec = await startRecorder();
  const dep = deprecateEof;
  const c = await RawClient.connect(rec.port, BASE_CAPS | (dep ? DEPRECATE_EOF : 0));
  try {
    await c.command(cmd(0x0e), 1); // COM_PING
    await c.command(cmd(0x02, 'test'), 1); // COM_INIT_DB
    await c.command(cmd(0x03, `create table if not exists ${T} (id int primary key, v varchar(200))`), 1);
    await c.command(cmd(0x03, `replace into ${T} values (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e')`), 1);
    // a multi-statement: two result sets and an OK
    await c.command(cmd(0x03, `/* two results */ select id from ${T} where id < 3; select 'x' as y; do 1`), dep ? 10 : 12);
    await c.command(cmd(0x03, 'select 1 from dual where 1 = 0'), dep ? 3 : 4); // empty result set
    await c.command(cmd(0x04, `${T}\0`), 3); // COM_FIELD_LIST
    await c.command(cmd(0x09), 1); // COM_STATISTICS
    // insert with a long-data parameter
    const ins = await c.command(cmd(0x16, `replace into ${T} (id, v) values (?, ?)`), dep ? 3 : 4);
    const insId = ins[0]!.payload.readUInt32LE(1);
    c.send(0, cmd(0x18, u32(insId), u16(1), 'long data'));
    // execute: null bitmap (1 byte), new-params-bound, types LONG + VAR_STRING, value of param 0 (param 1 came as long data)
    await c.command(cmd(0x17, u32(insId), Buffer.from([0]), u32(1), Buffer.from([0, 1, 0x03, 0, 0xfd, 0]), u32(100 + (dep ? 1 : 0))), 1);
    // a cursor and fetches
    const sel = await c.command(cmd(0x16, `select id, v from ${T} where id < 4`), dep ? 3 : 4);
    const selId = sel[0]!.payload.readUInt32LE(1);
    await c.command(cmd(0x17, u32(selId), Buffer.from([1]), u32(1)), 4); // CURSOR_TYPE_READ_ONLY
    await c.command(cmd(0x1c, u32(selId), u32(2)), 3);
    await c.command(cmd(0x1c, u32(selId), u32(10)), 2);
    await c.command(cmd(0x1a, u32(selId)), 1); // COM_STMT_RESET
    c.send(0, cmd(0x19, u32(insId))); // COM_STMT_CLOSE
    await c.command(cmd(0x1b, u16(0)), 1); // COM_SET_OPTION: EOF (OK under CLIENT_DEPRECATE_EOF)
    await c.command(cmd(0x03, `select * from ${T}_missing`), 1, true); // ERR
    // LOCAL INFILE: the server asks for the file, the client sends it in two packets and an empty one
    c.send(0, cmd(0x03, `load data local infile 'rows.csv' replace into table ${T} fields terminated by ','`));
    const req = await c.packet();
    assert.equal(req.payload[0], 0xfb, 'LOCAL INFILE request');
    c.send(req.seq + 1, Buffer.from('10,ten\n11,eleven\n'));
    c.send(req.seq + 2, Buffer.from('12,twelve\n'));
    c.send(req.seq + 3, Buffer.alloc(0));
    await c.packet();
    await c.command(cmd(0x1f), 1); // COM_RESET_CONNECTION
    // COM_CHANGE_USER: user, auth length 0, database, charset, auth plugin
    c.send(0, cmd(0x11, 'root\0', Buffer.from([0]), 'test\0', u16(33), 'mysql_native_password\0'));
    await c.auth();
    await c.command(cmd(0x03, 'select database()'), dep ? 4 : 5);
    await c.quit();
  } finally {
    rec.close();
  }
  return rec.done;
}

async function mysql2Session(): Promise<TranscriptStep[]> {
  const rec = await startRecorder();
  const conn = await mysql.createConnection({ host: HOST, port: rec.port, user: 'root', database: 'test', multipleStatements: true });
  try {
    await conn.query(`create table if not exists ${T} (id int primary key, v varchar(200))`);
    await conn.query(`drop procedure if exists ${P}`);
    await conn.query(`create procedure ${P}(in n int) begin select n as a; select n * 2 as b, 'two' as c; end`);
    await conn.query(`call ${P}(21)`);
    await conn.execute(`call ${P}(?)`, [4]);
    await conn.query('select 1 as one; update ' + T + ' set v = v where id = 1; select 2 as two');
    await conn.execute(`select id, v from ${T} where id <= ?`, [3]);
    await conn.query({
      sql: `load data local infile 'x.csv' replace into table ${T} fields terminated by ','`,
      infileStreamFactory: () => Readable.from([Buffer.from('20,twenty\n21,twenty-one\n')]),
    });
    await assert.rejects(conn.query(`select * from ${T}_missing`), (e: { errno?: number }) => e.errno === 1146);
    await conn.changeUser({ user: 'root', database: 'test' });
    await conn.ping();
    await conn.query('begin');
    await conn.query(`update ${T} set v = 'tx' where id = 1`);
    await conn.query('rollback');
  } finally {
    await conn.end();
    rec.close();
  }
  return rec.done;
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

const up = await reachable();
if (!up) {
  test('mysql conformance (MariaDB at 127.0.0.1:3306)', (t) => {
    if (process.env.CI) assert.fail('MariaDB is not reachable at 127.0.0.1:3306');
    t.skip('MariaDB is not reachable at 127.0.0.1:3306');
  });
} else {
  const raw41 = await rawSession(false);
  const rawDeprecateEof = await rawSession(true);
  const viaMysql2 = await mysql2Session();

  protocolConformance('mysql raw client (EOF packets)', factory, raw41, { requests: RAW_COMMANDS.length, responses: RAW_COMMANDS.length - 3 });
  protocolConformance('mysql raw client (CLIENT_DEPRECATE_EOF)', factory, rawDeprecateEof, { requests: RAW_COMMANDS.length, responses: RAW_COMMANDS.length - 3 });
  protocolConformance('mysql2 session (CALL, multi-statements, prepared, LOCAL INFILE, change user)', factory, viaMysql2);

  for (const [name, transcript] of [['EOF packets', raw41], ['CLIENT_DEPRECATE_EOF', rawDeprecateEof]] as const) {
    test(`mysql raw client (${name}): requests, attributes and what each response is made of`, () => {
      const frames = runTranscript(factory.create(), transcript, 'random', 5);
      const starts = frames.filter((f) => f.from === 'c' && f.info.start);
      assert.deepEqual(starts.map((f) => (f.info.attributes?.command as string | undefined) ?? f.info.attributes?.phase), RAW_COMMANDS);
      assert.deepEqual(starts[0]!.info.attributes, { phase: 'login', user: 'root', database: 'test' });
      assert.equal(starts[0]!.info.responses, 1);
      assert.deepEqual(starts[2]!.info.attributes, { command: 'COM_INIT_DB', database: 'test' });
      assert.deepEqual(starts[5]!.info.attributes, {
        command: 'COM_QUERY',
        kind: 'select',
        query: `/* two results */ select id from ${T} where id < 3; select 'x' as y; do 1`,
      });
      assert.equal(starts[7]!.info.attributes?.table, T);
      // the execute / fetch of a prepared statement report its SQL
      assert.equal(starts[13]!.info.attributes?.kind, 'select');
      assert.equal(starts[14]!.info.attributes?.query, `select id, v from ${T} where id < 4`);
      assert.deepEqual(
        starts.filter((f) => f.info.responses === 0).map((f) => f.info.attributes?.command),
        ['COM_STMT_SEND_LONG_DATA', 'COM_STMT_CLOSE', 'COM_QUIT'],
      );
      // one response message per request with responses; count the packets in each
      const responses: number[] = [];
      let packets = 0;
      for (const f of frames.filter((x) => x.from === 's' && !x.info.unsolicited)) {
        if (f.info.start) packets = 0;
        packets++;
        if (f.info.end) responses.push(packets);
      }
      const dep = name === 'CLIENT_DEPRECATE_EOF';
      // login, ping, init db, create, replace, multi (2 result sets + OK), empty result set, field list, statistics,
      // prepare insert, execute, prepare select, execute (cursor), fetch 2, fetch rest, reset, set option, ERR,
      // LOCAL INFILE (0xFB + OK), reset connection, change user, select database()
      // packets per response: login (OK, or AuthSwitchRequest + OK), ping, init db, create, replace, multi-statement
      // (2 result sets + OK), empty result set, field list, statistics, prepare, execute, prepare, execute with a
      // cursor, fetch 2 rows, fetch the rest, stmt reset, set option, ERR, LOCAL INFILE (0xFB + OK), reset connection,
      // change user (AuthSwitchRequest + OK), select database()
      const expected = dep
        ? [1, 1, 1, 1, 10, 3, 3, 1, 3, 1, 3, 4, 3, 2, 1, 1, 1, 2, 1, 2, 4]
        : [1, 1, 1, 1, 12, 4, 3, 1, 4, 1, 4, 4, 3, 2, 1, 1, 1, 2, 1, 2, 5];
      assert.ok(responses[0]! >= 1 && responses[0]! <= 2, 'login: OK, or AuthSwitchRequest + OK');
      assert.deepEqual(responses.slice(1), expected);
      // continuation frames: auth data of change user (and login), LOCAL INFILE content (2 packets + empty one)
      const cont = frames.filter((f) => f.from === 'c' && !f.info.start && !f.info.end);
      assert.ok(cont.length >= 3, 'LOCAL INFILE content packets are continuation frames');
    });
  }

  test('mysql2 session: CALL results, multi-statements and LOCAL INFILE pair up', () => {
    const frames = runTranscript(factory.create(), viaMysql2, 'whole');
    const starts = frames.filter((f) => f.from === 'c' && f.info.start);
    const kinds = starts.map((f) => f.info.attributes?.kind ?? f.info.attributes?.command ?? f.info.attributes?.phase);
    assert.deepEqual(kinds, ['login', 'create', 'drop', 'create', 'call', 'call', 'call', 'select', 'select', 'select', 'load', 'select', 'COM_CHANGE_USER', 'COM_STMT_CLOSE', 'COM_STMT_CLOSE', 'COM_PING', 'begin', 'update', 'rollback', 'COM_QUIT']);
    assert.ok(frames.every((f) => !f.info.opaque));
  });
}
