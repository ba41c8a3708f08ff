import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import pg from 'pg';
import { startCodecTap, type CodecTap, type CodecTapOptions, type TappedFrame } from '../helpers/codec-tap.js';
import { eventually } from '../helpers/net.js';
import { postgresProtocol } from '../../src/protocols/postgres/index.js';
import { FE, encodeMessage, parseErrorFields } from '../../src/protocols/postgres/messages.js';

/**
 * Real peers: node-postgres (and a raw socket client for what pg does not send: SSLRequest refused by the server,
 * COPY FROM STDIN, CancelRequest) ↔ codec tap ↔ PostgreSQL on 127.0.0.1:5432 (user postgres, db test).
 */
const PG = { host: '127.0.0.1', port: 5432 };
const factory = postgresProtocol.factory(postgresProtocol.optionsSchema.parse({}));
let available = false;

before(async () => {
  available = await new Promise<boolean>((resolve) => {
    const s = net.connect(PG);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
});

function needPg(t: { skip(msg: string): void }): boolean {
  if (available) return true;
  if (process.env['CI']) assert.fail('PostgreSQL is not reachable on 127.0.0.1:5432');
  t.skip('PostgreSQL is not reachable on 127.0.0.1:5432');
  return false;
}

const taps: CodecTap[] = [];
async function tap(options: CodecTapOptions = {}): Promise<CodecTap> {
  const t = await startCodecTap(factory, PG, options);
  taps.push(t);
  return t;
}
after(async () => {
  for (const t of taps) await t.close();
});

function client(port: number, extra: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'test', application_name: 'postgres-real', ...extra });
}

/** Every request start (not dropped) is answered by as many non-unsolicited response ends. */
function assertPaired(frames: TappedFrame[], dropped = 0): void {
  let expected = 0;
  let answered = 0;
  for (const f of frames) {
    if (f.info.opaque) continue;
    if (f.from === 'c' && f.info.start) expected += f.info.responses ?? 1;
    if (f.from === 's' && f.info.end && !f.info.unsolicited) answered++;
  }
  assert.equal(answered, expected - dropped, 'responses pair with requests');
}
const starts = (frames: TappedFrame[]) => frames.filter((f) => f.from === 'c' && f.info.start).map((f) => f.info.attributes ?? {});
const typeOf = (f: TappedFrame) => String.fromCharCode(f.frame[0]!);

// ---- a minimal raw client ----
const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]);
const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const raw = {
  startup: (params: Record<string, string>): Buffer => {
    const body = Buffer.concat([i32(196608), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.alloc(1)]);
    return Buffer.concat([i32(body.length + 4), body]);
  },
  sslRequest: (): Buffer => Buffer.concat([i32(8), i32(80877103)]),
  /** `keyData`: the BackendKeyData payload (process id and secret key). */
  cancel: (keyData: Buffer): Buffer => Buffer.concat([i32(8 + keyData.length), i32(80877102), keyData]),
  query: (sql: string): Buffer => encodeMessage(FE.Query, cstr(sql)),
  copyData: (d: Buffer | string): Buffer => encodeMessage(FE.CopyData, Buffer.from(d)),
  copyDone: (): Buffer => encodeMessage(FE.CopyDone, Buffer.alloc(0)),
  terminate: (): Buffer => encodeMessage(FE.Terminate, Buffer.alloc(0)),
};
interface Msg {
  type: string;
  payload: Buffer;
}
class RawPg {
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  closed = false;
  constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c]);
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }
  static async connect(port: number): Promise<RawPg> {
    const s = net.connect({ port, host: '127.0.0.1' });
    await once(s, 'connect');
    return new RawPg(s);
  }
  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
  async #more(): Promise<void> {
    if (this.closed) throw new Error(`connection closed (holding ${this.#buf.length} bytes)`);
    await new Promise<void>((r) => this.#waiters.push(r));
  }
  write(b: Buffer | Buffer[]): void {
    this.socket.write(Array.isArray(b) ? Buffer.concat(b) : b);
  }
  async byte(): Promise<string> {
    while (this.#buf.length < 1) await this.#more();
    const b = this.#buf.subarray(0, 1).toString('latin1');
    this.#buf = this.#buf.subarray(1);
    return b;
  }
  async message(): Promise<Msg> {
    for (;;) {
      if (this.#buf.length >= 5) {
        const len = this.#buf.readUInt32BE(1);
        if (this.#buf.length >= len + 1) {
          const m = { type: String.fromCharCode(this.#buf[0]!), payload: this.#buf.subarray(5, len + 1) };
          this.#buf = this.#buf.subarray(len + 1);
          return m;
        }
      }
      await this.#more();
    }
  }
  async until(type = 'Z'): Promise<Msg[]> {
    const out: Msg[] = [];
    for (;;) {
      const m = await this.message();
      out.push(m);
      if (m.type === type) return out;
    }
  }
  async closedNow(): Promise<void> {
    while (!this.closed) await this.#more();
  }
}

// ---- pass-through ----

test('postgres real: pg simple and parameterised queries pass unchanged and pair; auth is trust', async (t) => {
  if (!needPg(t)) return;
  const tp = await tap();
  const c = client(tp.port);
  await c.connect();
  assert.deepEqual((await c.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  assert.deepEqual((await c.query('SELECT $1::int + 1 AS n', [41])).rows, [{ n: 42 }]);
  for (const v of ['a', 'b']) assert.deepEqual((await c.query({ name: 'postgres_real_stmt', text: 'SELECT $1::text AS t', values: [v] })).rows, [{ t: v }]);
  await assert.rejects(c.query('SELECT * FROM postgres_real_missing'), { code: '42P01' });
  assert.deepEqual((await c.query('-- leading comment\n/* block */ SHOW server_version_num')).rows.length, 1);
  await c.end();
  assert.deepEqual(tp.errors, []);
  const frames = tp.connections[0]!;
  await eventually(() => frames.some((f) => f.info.attributes?.['phase'] === 'terminate'), 'Terminate seen');
  assertPaired(frames);
  // the server asks for no password over TCP here (pg_hba trust for 127.0.0.1): the first answer is AuthenticationOk
  const auth = frames.find((f) => f.from === 's')!;
  assert.equal(typeOf(auth), 'R');
  assert.equal(auth.frame.readUInt32BE(5), 0, 'AuthenticationOk (trust): password auth cannot be exercised against this server');
  assert.deepEqual(starts(frames), [
    { phase: 'startup', user: 'postgres', database: 'test', application_name: 'postgres-real' },
    { phase: 'query', kind: 'select', query: 'SELECT 1 AS one' },
    { phase: 'extended', kind: 'select', query: 'SELECT $1::int + 1 AS n' },
    { phase: 'extended', kind: 'select', statement: 'postgres_real_stmt', query: 'SELECT $1::text AS t' },
    { phase: 'extended', kind: 'select', statement: 'postgres_real_stmt', query: 'SELECT $1::text AS t' },
    { phase: 'query', kind: 'select', query: 'SELECT * FROM postgres_real_missing' },
    { phase: 'query', kind: 'show', query: '-- leading comment\n/* block */ SHOW server_version_num' },
    { phase: 'terminate' },
  ]);
  // pg writes Parse/Bind/Describe/Execute/Sync at once: one request, Sync ends it
  const batch = frames.filter((f) => f.from === 'c').slice(2, 7);
  assert.deepEqual(batch.map((f) => [typeOf(f), f.info.start, f.info.end]), [['P', true, false], ['B', false, false], ['D', false, false], ['E', false, false], ['S', false, true]]);
});

test('postgres real: a transaction on a temp table; ReadyForQuery reports the status', async (t) => {
  if (!needPg(t)) return;
  const tp = await tap();
  const c = client(tp.port);
  await c.connect();
  await c.query('CREATE TEMP TABLE postgres_real_tx (id int PRIMARY KEY, v text)');
  await c.query('BEGIN');
  await c.query('INSERT INTO postgres_real_tx VALUES ($1, $2)', [1, 'one']);
  await c.query("INSERT INTO postgres_real_tx VALUES (2, 'two')");
  await c.query('COMMIT');
  assert.deepEqual((await c.query('TABLE postgres_real_tx ORDER BY id')).rows, [{ id: 1, v: 'one' }, { id: 2, v: 'two' }]);
  await c.end();
  const frames = tp.connections[0]!;
  await eventually(() => frames.some((f) => f.info.attributes?.['phase'] === 'terminate'), 'Terminate seen');
  assertPaired(frames);
  const statuses = frames.filter((f) => f.from === 's' && typeOf(f) === 'Z').map((f) => String.fromCharCode(f.frame[5]!));
  assert.deepEqual(statuses, ['I', 'I', 'T', 'T', 'T', 'I', 'I']);
  assert.deepEqual(starts(frames).map((a) => a['kind']), [undefined, 'create', 'begin', 'insert', 'insert', 'commit', 'table', undefined]);
});

test('postgres real: 5 MiB of rows arrive in bounded frames', async (t) => {
  if (!needPg(t)) return;
  const tp = await tap();
  const c = client(tp.port);
  await c.connect();
  const res = await c.query<{ big: string }>("SELECT g, repeat(chr(96 + g), 1048576) AS big FROM generate_series(1, 5) g");
  assert.equal(res.rows.length, 5);
  for (const [i, row] of res.rows.entries()) {
    assert.equal(row.big.length, 1048576);
    assert.equal(row.big, String.fromCharCode(97 + i).repeat(1048576));
  }
  const small = await c.query('SELECT g, repeat($1, 1000) AS s FROM generate_series(1, 5000) g', ['y']);
  assert.equal(small.rows.length, 5000);
  await c.end();
  const frames = tp.connections[0]!;
  await eventually(() => frames.some((f) => f.info.attributes?.['phase'] === 'terminate'), 'Terminate seen');
  assertPaired(frames);
  const server = frames.filter((f) => f.from === 's');
  const total = server.reduce((n, f) => n + f.frame.length, 0);
  assert.ok(total > 5 * 1024 * 1024 + 5000 * 1000, `server sent ${total} bytes`);
  const max = Math.max(...frames.map((f) => f.frame.length));
  assert.ok(max <= 64 * 1024, `largest frame ${max} bytes is within maxMessageFrame`);
  assert.equal(max, 64 * 1024, 'the 1 MiB DataRows were cut into full 64 KiB pieces');
  // each query is one response: one start, one end
  const responses = server.filter((f) => f.info.start && !f.info.unsolicited).length;
  assert.equal(responses, 3, 'startup + two queries');
});

test('postgres real: LISTEN/NOTIFY from another connection arrives as an unsolicited NotificationResponse', async (t) => {
  if (!needPg(t)) return;
  const tp = await tap();
  const listener = client(tp.port);
  await listener.connect();
  await listener.query('LISTEN postgres_real_chan');
  const got = new Promise<pg.Notification>((resolve) => listener.on('notification', resolve));
  const other = client(PG.port);
  await other.connect();
  await other.query("NOTIFY postgres_real_chan, 'hello from other'");
  await other.end();
  const n = await got;
  assert.equal(n.channel, 'postgres_real_chan');
  assert.equal(n.payload, 'hello from other');
  assert.deepEqual((await listener.query('SELECT 2 AS two')).rows, [{ two: 2 }]);
  await listener.end();
  const frames = tp.connections[0]!;
  await eventually(() => frames.some((f) => f.info.attributes?.['phase'] === 'terminate'), 'Terminate seen');
  assertPaired(frames);
  const a = frames.filter((f) => f.from === 's' && typeOf(f) === 'A');
  assert.equal(a.length, 1);
  assert.deepEqual([a[0]!.info.start, a[0]!.info.end, a[0]!.info.unsolicited], [true, true, true]);
});

test('postgres real: COPY FROM STDIN (raw client): CopyData continues the Query, large CopyData in pieces', async (t) => {
  if (!needPg(t)) return;
  const tp = await tap();
  const p = await RawPg.connect(tp.port);
  p.write(raw.startup({ user: 'postgres', database: 'test' }));
  await p.until();
  p.write(raw.query('CREATE TEMP TABLE postgres_real_copy (id int, v text)'));
  await p.until();
  p.write(raw.query('COPY postgres_real_copy FROM STDIN'));
  const g = await p.until('G');
  assert.equal(g.at(-1)!.type, 'G');
  const bigValue = 'z'.repeat(200_000);
  p.write([raw.copyData('1\tone\n'), raw.copyData(`2\t${bigValue}\n`), raw.copyData('3\tthree\n'), raw.copyDone()]);
  const done = await p.until();
  assert.match(done.find((m) => m.type === 'C')!.payload.toString(), /^COPY 3/);
  p.write(raw.query('SELECT count(*), max(length(v)) FROM postgres_real_copy'));
  const rows = await p.until();
  const d = rows.find((m) => m.type === 'D')!.payload;
  const l1 = d.readInt32BE(2);
  assert.equal(d.toString('latin1', 6, 6 + l1), '3');
  assert.equal(d.toString('latin1', 6 + l1 + 4), String(bigValue.length));
  p.write(raw.terminate());
  await p.closedNow();
  const frames = tp.connections[0]!;
  assertPaired(frames);
  const client2server = frames.filter((f) => f.from === 'c');
  const copyStart = client2server.findIndex((f) => f.info.attributes?.['kind'] === 'copy');
  const afterCopy = client2server.slice(copyStart + 1, client2server.findIndex((f, i) => i > copyStart && f.info.start));
  assert.ok(afterCopy.length >= 6, 'CopyData (in pieces) and CopyDone');
  assert.ok(afterCopy.every((f) => !f.info.start && f.frame.length <= 64 * 1024));
  assert.deepEqual(afterCopy.filter((f) => f.info.end).length, 1, 'only CopyDone ends the client side of the copy');
  assert.equal(typeOf(afterCopy.at(-1)!), 'c');
});

test('postgres real: ssl false, a raw SSLRequest answered N, then startup continues', async (t) => {
  if (!needPg(t)) return;
  const tp = await tap();
  const c = client(tp.port, { ssl: false });
  await c.connect();
  assert.deepEqual((await c.query('SELECT 3 AS three')).rows, [{ three: 3 }]);
  await c.end();
  assert.equal(starts(tp.connections[0]!)[0]!['phase'], 'startup', 'ssl: false sends no SSLRequest');

  const p = await RawPg.connect(tp.port);
  p.write(raw.sslRequest());
  assert.equal(await p.byte(), 'N', 'this server has ssl = off');
  p.write(raw.startup({ user: 'postgres', database: 'test', application_name: 'postgres-real-raw' }));
  const st = await p.until();
  assert.equal(st.at(-1)!.type, 'Z');
  p.write(raw.query('SELECT 4'));
  assert.equal((await p.until()).find((m) => m.type === 'D')!.payload.toString('latin1', 6), '4');
  p.write(raw.terminate());
  await p.closedNow();
  const frames = tp.connections[1]!;
  assertPaired(frames);
  assert.deepEqual(starts(frames).map((a) => a['phase']), ['ssl', 'startup', 'query', 'terminate']);
  assert.deepEqual(frames.slice(0, 2).map((f) => [f.from, f.frame.length, f.info.start, f.info.end]), [['c', 8, true, true], ['s', 1, true, true]]);

  // pg asking for TLS: the refusal pairs with the SSLRequest and pg reports it
  const tls = client(tp.port, { ssl: { rejectUnauthorized: false } });
  await assert.rejects(tls.connect(), /does not support SSL/);
  await eventually(() => tp.connections.length === 3 && tp.connections[2]!.length >= 2, 'SSL refusal framed');
  assertPaired(tp.connections[2]!);
  assert.deepEqual(tp.errors, []);
});

test('postgres real: CancelRequest expects no response and cancels the running query', async (t) => {
  if (!needPg(t)) return;
  const tp = await tap();
  const p = await RawPg.connect(tp.port);
  p.write(raw.startup({ user: 'postgres', database: 'test' }));
  const key = (await p.until()).find((m) => m.type === 'K')!.payload;
  p.write(raw.query('SELECT pg_sleep(30)'));
  await eventually(() => tp.connections[0]!.some((f) => f.info.attributes?.['kind'] === 'select'), 'query sent');
  const c2 = await RawPg.connect(tp.port);
  c2.write(raw.cancel(key));
  await c2.closedNow();
  const answer = await p.until();
  const err = answer.find((m) => m.type === 'E')!;
  assert.equal(parseErrorFields(err.payload)['C'], '57014');
  p.write(raw.terminate());
  await p.closedNow();
  assertPaired(tp.connections[0]!);
  assert.equal(tp.connections[1]!.length, 1);
  assert.deepEqual(tp.connections[1]![0]!.info, { start: true, end: true, responses: 0, attributes: { phase: 'cancel', pid: key.readUInt32BE(0) } });
});

// ---- error reply ----

const INJECTED = { message: 'injected by switchyard test', status: 'SW001' };

test('postgres real: error reply on a simple query and a parameterised query; the connection stays usable', async (t) => {
  if (!needPg(t)) return;
  let failed = 0;
  const tp = await tap({
    fail: (attrs) => {
      if (attrs?.['kind'] !== 'select') return undefined;
      failed++;
      return { ...INJECTED, request: attrs };
    },
  });
  const c = client(tp.port);
  await c.connect();
  await assert.rejects(c.query('SELECT 1'), (err: Error & { code?: string; severity?: string }) => {
    assert.equal(err.code, 'SW001');
    assert.equal(err.message, INJECTED.message);
    assert.equal(err.severity, 'ERROR');
    return true;
  });
  assert.deepEqual((await c.query('VALUES (42)')).rows, [{ column1: 42 }]);
  await assert.rejects(c.query('SELECT $1::int AS n', [7]), { code: 'SW001', message: INJECTED.message });
  assert.deepEqual((await c.query('VALUES ($1::int)', [7])).rows, [{ column1: 7 }]);
  await assert.rejects(c.query({ name: 'postgres_real_named', text: 'SELECT $1::text', values: ['x'] }), { code: 'SW001' });
  assert.deepEqual((await c.query({ name: 'postgres_real_named2', text: 'VALUES ($1::text)', values: ['y'] })).rows, [{ column1: 'y' }]);
  await c.end();
  assert.equal(failed, 3);
  const frames = tp.connections[0]!;
  await eventually(() => frames.some((f) => f.info.attributes?.['phase'] === 'terminate'), 'Terminate seen');
  assertPaired(frames, failed);
  assert.deepEqual(tp.errors, []);
});

test('postgres real: error reply inside a transaction: the block is failed for the client, ROLLBACK works', async (t) => {
  if (!needPg(t)) return;
  const tp = await tap({ fail: (attrs) => (attrs?.['kind'] === 'select' ? INJECTED : undefined) });
  const c = client(tp.port);
  await c.connect();
  await c.query('CREATE TEMP TABLE postgres_real_txerr (id int)');
  await c.query('BEGIN');
  await c.query('INSERT INTO postgres_real_txerr VALUES (1)');
  await assert.rejects(c.query('SELECT * FROM postgres_real_txerr'), { code: 'SW001' });
  await c.query('ROLLBACK');
  assert.deepEqual((await c.query('TABLE postgres_real_txerr')).rows, [], 'the insert was rolled back');
  await c.end();
  const frames = tp.connections[0]!;
  await eventually(() => frames.some((f) => f.info.attributes?.['phase'] === 'terminate'), 'Terminate seen');
  assertPaired(frames, 1);
});

test('postgres real: error reply during startup: pg connect fails with the FATAL error', async (t) => {
  if (!needPg(t)) return;
  const tp = await tap({ fail: (attrs) => (attrs?.['phase'] === 'startup' ? { message: 'no route for you', status: '08004' } : undefined) });
  const c = client(tp.port);
  c.on('error', () => undefined);
  await assert.rejects(c.connect(), (err: Error & { code?: string; severity?: string }) => {
    assert.equal(err.code, '08004');
    assert.equal(err.message, 'no route for you');
    assert.equal(err.severity, 'FATAL');
    return true;
  });
  assert.deepEqual(tp.errors, []);
});
