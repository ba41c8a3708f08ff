/**
 * Chaos through the real proxy with the postgres and mysql protocol modules, real servers (PostgreSQL 127.0.0.1:5432
 * user postgres db test; MariaDB 127.0.0.1:3306 root db test) and their client libraries (pg, mysql2): the `error`
 * behavior is a native server error (SQLSTATE / errno) and the same connection goes on.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { startYard } from '../helpers/yard.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';

const PG = { host: '127.0.0.1', port: 5432 };
const MY = { host: '127.0.0.1', port: 3306 };
const up = { pg: false, mysql: false };

async function reachable(a: { host: string; port: number }): Promise<boolean> {
  const s = net.connect(a);
  try {
    await once(s, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    s.destroy();
  }
}

before(async () => {
  up.pg = await reachable(PG);
  up.mysql = await reachable(MY);
});

function need(t: { skip(msg: string): void }, which: 'pg' | 'mysql'): boolean {
  if (up[which]) return true;
  const what = which === 'pg' ? 'PostgreSQL is not reachable at 127.0.0.1:5432' : 'MariaDB is not reachable at 127.0.0.1:3306';
  if (process.env['CI']) assert.fail(`${what} (required in CI)`);
  t.skip(what);
  return false;
}

async function proxy(protocol: string, target: { host: string; port: number }, faults: unknown[]): Promise<{ yard: Switchyard; port: number }> {
  const yard = await startYard({
    listeners: [{ id: 'l1', listen: '127.0.0.1:0', protocol, faults }],
    clusters: [{ id: 'c1', endpoints: [`${target.host}:${target.port}`] }],
    routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
  });
  const a = yard.listeners.get('l1')!.address!;
  return { yard, port: a.kind === 'tcp' ? a.port : 0 };
}

test('postgres error matched on selects: pg reports the SQLSTATE; other statements and the next query work on the same connection', async (t) => {
  if (!need(t, 'pg')) return;
  const T = 'chaos_sql_pg_t';
  const p = await proxy('postgres', PG, [
    { type: 'error', name: 'cancel', toxicity: 1, scope: 'request', match: { kind: 'select', query: '/chaos_fail/' }, attributes: { status: '57014', message: 'chaos canceled your select' } },
    { type: 'error', name: 'default', toxicity: 1, scope: 'request', match: { kind: 'select', query: '/chaos_default/' } },
  ]);
  const client = new pg.Client({ host: '127.0.0.1', port: p.port, user: 'postgres', database: 'test' });
  try {
    await client.connect();
    const pid = ((await client.query('SELECT pg_backend_pid() AS pid')).rows[0] as { pid: number }).pid;
    await client.query(`DROP TABLE IF EXISTS ${T}`);
    await client.query(`CREATE TABLE ${T} (n int)`);
    await assert.rejects(client.query('SELECT 1 AS chaos_fail'), (err: unknown) => {
      const e = err as { code?: string; message: string; severity?: string };
      assert.equal(e.code, '57014');
      assert.equal(e.message, 'chaos canceled your select');
      assert.equal(e.severity, 'ERROR');
      return true;
    });
    assert.deepEqual((await client.query('SELECT 2 AS two')).rows, [{ two: 2 }]);
    await assert.rejects(client.query('SELECT 3 AS chaos_default'), (err: unknown) => (err as { code?: string }).code === '58000');
    // Parameterised (extended protocol): the failed batch is answered as a whole, the next one works.
    await assert.rejects(client.query('SELECT $1::int AS chaos_fail', [5]), (err: unknown) => (err as { code?: string }).code === '57014');
    await client.query(`INSERT INTO ${T} (n) VALUES ($1), ($2)`, [7, 8]);
    assert.deepEqual((await client.query(`SELECT n FROM ${T} WHERE n > $1 ORDER BY n`, [0])).rows, [{ n: 7 }, { n: 8 }]);
    // Inside a transaction the injected error leaves the transaction failed, as a server error would.
    await client.query('BEGIN');
    await assert.rejects(client.query('SELECT 1 AS chaos_fail'), (err: unknown) => (err as { code?: string }).code === '57014');
    await client.query('ROLLBACK');
    assert.equal(((await client.query('SELECT pg_backend_pid() AS pid')).rows[0] as { pid: number }).pid, pid, 'same server connection');
    await client.query(`DROP TABLE ${T}`);
    assert.equal(p.yard.faultSet('l1').get('cancel')?.injected, 3);
  } finally {
    await client.end().catch(() => undefined);
    await p.yard.close();
  }
});

test('mysql error matched on a query: mysql2 reports errno 1105 with the message; other queries and prepared statements work', async (t) => {
  if (!need(t, 'mysql')) return;
  const T = 'chaos_sql_my_t';
  const p = await proxy('mysql', MY, [{ type: 'error', toxicity: 1, scope: 'request', match: { kind: 'select', query: '/chaos_fail/' }, attributes: { message: 'chaos says no' } }]);
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: p.port, user: 'root', password: '', database: 'test' });
  try {
    const [[idRow]] = (await conn.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
    await conn.query(`DROP TABLE IF EXISTS ${T}`);
    await conn.query(`CREATE TABLE ${T} (n int)`);
    await assert.rejects(conn.query('SELECT 1 AS chaos_fail'), (err: unknown) => {
      const e = err as { errno?: number; sqlMessage?: string; sqlState?: string };
      assert.equal(e.errno, 1105);
      assert.equal(e.sqlMessage, 'chaos says no');
      assert.equal(e.sqlState, 'HY000');
      return true;
    });
    const [rows] = (await conn.query('SELECT 2 AS two')) as unknown as [{ two: number }[]];
    assert.deepEqual(rows.map((r) => r.two), [2]);
    // Prepared statements: the failing prepare is an error, other prepares and executes work.
    await assert.rejects(conn.execute('SELECT ? AS chaos_fail', [1]), (err: unknown) => (err as { errno?: number }).errno === 1105);
    await conn.execute(`INSERT INTO ${T} (n) VALUES (?), (?)`, [3, 4]);
    const [got] = (await conn.execute(`SELECT n FROM ${T} WHERE n > ? ORDER BY n`, [0])) as unknown as [{ n: number }[]];
    assert.deepEqual(got.map((r) => r.n), [3, 4]);
    const [[again]] = (await conn.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
    assert.equal(again.id, idRow.id, 'same server connection');
    await conn.query(`DROP TABLE ${T}`);
  } finally {
    await conn.end().catch(() => undefined);
    await p.yard.close();
  }
});
