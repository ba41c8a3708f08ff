/**
 * MySQL startup routing against the real MariaDB (127.0.0.1:3306, root, no password, db test) with the real mysql2
 * client: the proxy greets the client itself, routes on the HandshakeResponse's database / user, then re-runs the
 * password step against the chosen server (AuthSwitchRequest with the server's salt) and hands both sockets to the
 * session in the command phase.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { startYard } from '../helpers/yard.js';
import { eventually } from '../helpers/net.js';
import { SERVICES, needService, reachable } from '../helpers/services.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';

const MYSQL = '127.0.0.1:3306';
let yard: Switchyard;
let port = 0;

const up = await reachable(SERVICES.mysql.host, SERVICES.mysql.port);

before(async () => {
  if (!up) return;
  yard = await startYard({
    listeners: [{ id: 'my', listen: '127.0.0.1:0', protocol: 'mysql', faults: [{ type: 'error', toxicity: 1, scope: 'request', match: { query: '*swy_boom*' }, attributes: { status: '1146', message: 'fault says no' } }] }],
    clusters: [
      { id: 'ca', endpoints: [MYSQL] },
      { id: 'cb', endpoints: [MYSQL] },
      { id: 'cu', endpoints: [MYSQL] },
    ],
    routes: [
      { id: 'ra', listener: 'my', cluster: 'ca', match: { database: 'test' } },
      { id: 'rb', listener: 'my', cluster: 'cb', match: { database: 'information_schema' } },
      { id: 'ru', listener: 'my', cluster: 'cu', match: { user: 'root', not: { database: '*' } } },
    ],
  });
  const a = yard.listeners.get('my')!.address!;
  port = a.kind === 'tcp' ? a.port : 0;
});

after(async () => {
  if (up) await yard.close();
});

function connect(extra: mysql.ConnectionOptions = {}): Promise<mysql.Connection> {
  return mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 20_000, ...extra });
}

test('mysql startup routing: database picks the route; SELECT DATABASE() and per-route counters agree', async (t) => {
  if (!needService(t, up, 'mysql')) return;
  const ca = await connect({ database: 'test' });
  const [r1] = await ca.query<RowDataPacket[]>('SELECT DATABASE() AS db, 1 + 1 AS two');
  assert.deepEqual({ ...r1[0] }, { db: 'test', two: 2 });
  const [r1b] = await ca.execute<RowDataPacket[]>('SELECT ? AS v', ['prepared']);
  assert.equal(r1b[0]!['v'], 'prepared');
  await ca.end();
  const cb = await connect({ database: 'information_schema' });
  const [r2] = await cb.query<RowDataPacket[]>('SELECT DATABASE() AS db');
  assert.equal(r2[0]!['db'], 'information_schema');
  await cb.end();
  assert.equal(yard.routes.get('ra')!.requests, 1);
  assert.equal(yard.routes.get('rb')!.requests, 1);
  await eventually(() => (yard.clusters.get('ca')?.stats.total ?? 0) >= 1 && (yard.clusters.get('cb')?.stats.total ?? 0) >= 1, 'cluster counters');
});

test('mysql startup routing: user without a database takes the user route', async (t) => {
  if (!needService(t, up, 'mysql')) return;
  const before = yard.routes.get('ru')!.requests;
  const c = await connect();
  const [r] = await c.query<RowDataPacket[]>('SELECT DATABASE() AS db, CURRENT_USER() AS u');
  assert.equal(r[0]!['db'], null);
  assert.match(String(r[0]!['u']), /^root@/);
  await c.end();
  assert.equal(yard.routes.get('ru')!.requests, before + 1);
});

test('mysql startup routing: no route → ERR 1045 seen by mysql2, counted as no_route', async (t) => {
  if (!needService(t, up, 'mysql')) return;
  await assert.rejects(connect({ database: 'mysql' }), (err: { errno?: number; message: string }) => {
    assert.equal(err.errno, 1045);
    assert.match(err.message, /no route on listener 'my'/);
    return true;
  });
  assert.ok((yard.listeners.get('my')!.stats.errors.get('SWY_NO_ROUTE') ?? 0) >= 1);
});

test("mysql startup routing: a wrong password gets the server's own 1045", async (t) => {
  if (!needService(t, up, 'mysql')) return;
  await assert.rejects(connect({ database: 'test', password: 'definitely-wrong' }), (err: { errno?: number; message: string }) => {
    assert.equal(err.errno, 1045);
    assert.match(err.message, /Access denied for user 'root'/);
    return true;
  });
});

test('mysql startup routing: a pool runs many queries over routed connections', async (t) => {
  if (!needService(t, up, 'mysql')) return;
  const pool = mysql.createPool({ host: '127.0.0.1', port, user: 'root', database: 'test', connectionLimit: 3, connectTimeout: 20_000 });
  try {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.query<RowDataPacket[]>('SELECT ? AS i, DATABASE() AS db', [i])));
    results.forEach(([rows], i) => assert.deepEqual({ ...rows[0] }, { i, db: 'test' }));
    const conn = await pool.getConnection();
    await conn.query('CREATE TEMPORARY TABLE swy_route_tmp (n INT)');
    await conn.query('INSERT INTO swy_route_tmp VALUES (1), (2), (3)');
    const [sum] = await conn.query<RowDataPacket[]>('SELECT SUM(n) AS s FROM swy_route_tmp');
    assert.equal(Number(sum[0]!['s']), 6);
    conn.release();
  } finally {
    await pool.end();
  }
});

test('mysql startup routing: a client that requires TLS is refused cleanly (the proxy offers none)', async (t) => {
  if (!needService(t, up, 'mysql')) return;
  await assert.rejects(connect({ database: 'test', ssl: { rejectUnauthorized: false } }), (err: Error) => {
    assert.match(err.message, /secure connection|SSL|TLS/i);
    return true;
  });
  // a raw SSLRequest (as a client that does not look at the greeting's flags sends it) gets an ERR packet
  const sock = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => {
    chunks.push(c);
    if (chunks.length === 1) {
      const req = Buffer.alloc(36);
      req.writeUIntLE(32, 0, 3);
      req[3] = 1;
      req.writeUInt32LE(0x200 | 0x800 | 0x8000 | 0x80000, 4);
      sock.write(req);
    }
  });
  await once(sock, 'close');
  const all = Buffer.concat(chunks);
  const greetingLen = all.readUIntLE(0, 3);
  const err = all.subarray(4 + greetingLen);
  assert.equal(err[3], 2, 'ERR with sequence id 2');
  assert.equal(err[4], 0xff);
  assert.equal(err.readUInt16LE(5), 2026);
});

test('mysql startup routing: after the login the session is ordinary: a request fault answers, the connection keeps working', async (t) => {
  if (!needService(t, up, 'mysql')) return;
  const c = await connect({ database: 'test' });
  try {
    await assert.rejects(c.query("SELECT 'swy_boom' AS x"), (err: { errno?: number; message: string }) => {
      assert.equal(err.errno, 1146);
      assert.match(err.message, /fault says no/);
      return true;
    });
    const [r] = await c.query<RowDataPacket[]>('SELECT DATABASE() AS db');
    assert.equal(r[0]!['db'], 'test');
  } finally {
    await c.end();
  }
});
