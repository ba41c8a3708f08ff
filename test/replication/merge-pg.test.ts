import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startYard } from '../helpers/yard.js';
import type { Switchyard } from '../../src/control/switchyard.js';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
const TABLE = `swy_merge_${randomBytes(4).toString('hex')}`;
let available = false;

before(async () => {
  available = await new Promise<boolean>((resolve) => {
    const s = net.connect({ host: PG.host, port: PG.port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
  if (!available) return;
  const c = new pg.Client(PG);
  await c.connect();
  await c.query(`CREATE TABLE ${TABLE} (id serial primary key, name text not null, n int not null)`);
  await c.end();
});

after(async () => {
  if (!available) return;
  const c = new pg.Client(PG);
  await c.connect();
  await c.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await c.end();
});

function needPg(t: { skip(msg: string): void }): boolean {
  if (available) return true;
  if (process.env['CI']) assert.fail('PostgreSQL is not reachable on 127.0.0.1:5432 (required in CI)');
  t.skip('PostgreSQL is not reachable on 127.0.0.1:5432');
  return false;
}

async function mergeYard(postgres: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<{ yard: Switchyard; ports: number[] }> {
  const yard = await startYard({
    listeners: [1, 2, 3].map((i) => ({ id: `pg${i}`, listen: '127.0.0.1:0', protocol: 'postgres' })),
    clusters: [{ id: 'db', endpoints: [`${PG.host}:${PG.port}`] }],
    routes: [{ id: 'pg-merge', cluster: 'db', merge: { listeners: ['pg1', 'pg2', 'pg3'], names: ['a', 'b', 'c'], timeout: '1s', postgres, ...extra } }],
  });
  const ports = [1, 2, 3].map((i) => {
    const a = yard.listeners.get(`pg${i}`)!.address!;
    return a.kind === 'tcp' ? a.port : 0;
  });
  return { yard, ports };
}

async function clients(ports: number[], opts: { user: string; password?: string }): Promise<pg.Client[]> {
  const cs = ports.map((port) => new pg.Client({ host: '127.0.0.1', port, database: PG.database, user: opts.user, password: opts.password }));
  for (const c of cs) c.on('error', () => undefined);
  await Promise.all(cs.map((c) => c.connect()));
  return cs;
}

/** Run the same call on every variant's client at once. */
function all<T>(cs: pg.Client[], f: (c: pg.Client) => Promise<T>): Promise<T[]> {
  return Promise.all(cs.map(f));
}

test('three pg clients share one real PostgreSQL through the merge: parameterised queries, transactions, server errors', async (t) => {
  if (!needPg(t)) return;
  const { yard, ports } = await mergeYard({ auth: { method: 'scram-sha-256', users: { app: 's3cret' } }, backend: { user: 'postgres' } });
  const cs = await clients(ports, { user: 'app', password: 's3cret' });
  try {
    // Simple protocol.
    const now = await all(cs, (c) => c.query('SELECT 40 + 2 AS answer'));
    for (const r of now) assert.equal(r.rows[0].answer, 42);
    // Extended protocol (Parse/Bind/Execute/Sync), one INSERT reaching the server once.
    const ins = await all(cs, (c) => c.query(`INSERT INTO ${TABLE}(name, n) VALUES ($1, $2) RETURNING id`, ['alpha', 1]));
    assert.deepEqual(ins.map((r) => r.rows[0].id), [1, 1, 1]);
    // A transaction.
    await all(cs, (c) => c.query('BEGIN'));
    await all(cs, (c) => c.query(`INSERT INTO ${TABLE}(name, n) VALUES ($1, $2)`, ['beta', 2]));
    await all(cs, (c) => c.query(`UPDATE ${TABLE} SET n = n + $1 WHERE name = $2`, [10, 'alpha']));
    await all(cs, (c) => c.query('COMMIT'));
    const rows = await all(cs, (c) => c.query(`SELECT name, n FROM ${TABLE} ORDER BY id`));
    for (const r of rows) assert.deepEqual(r.rows, [{ name: 'alpha', n: 11 }, { name: 'beta', n: 2 }]);
    // A rolled-back transaction leaves nothing.
    await all(cs, (c) => c.query('BEGIN'));
    await all(cs, (c) => c.query(`INSERT INTO ${TABLE}(name, n) VALUES ($1, $2)`, ['gamma', 3]));
    await all(cs, (c) => c.query('ROLLBACK'));
    // A server error reaches all three, and the connections keep working.
    const errs = await all(cs, (c) => c.query('SELECT * FROM no_such_table_here').then(() => undefined, (e: Error & { code?: string }) => e));
    for (const e of errs) assert.equal(e?.code, '42P01');
    const count = await all(cs, (c) => c.query(`SELECT count(*)::int AS n FROM ${TABLE}`));
    for (const r of count) assert.equal(r.rows[0].n, 2);
    // The real server saw each statement once.
    const direct = new pg.Client(PG);
    await direct.connect();
    const real = await direct.query(`SELECT name, n FROM ${TABLE} ORDER BY id`);
    await direct.end();
    assert.deepEqual(real.rows, [{ name: 'alpha', n: 11 }, { name: 'beta', n: 2 }]);
    assert.equal(yard.divergences.list().length, 0);
  } finally {
    await Promise.all(cs.map((c) => c.end().catch(() => undefined)));
    await yard.close();
  }
});

test('a variant sending a different query makes all three get an error and records a divergence', async (t) => {
  if (!needPg(t)) return;
  const { yard, ports } = await mergeYard({ auth: { method: 'md5', users: { app: 'pw' } }, backend: { user: 'postgres' } });
  const cs = await clients(ports, { user: 'app', password: 'pw' });
  try {
    const results = await Promise.all(
      cs.map((c, i) => c.query(`SELECT name FROM ${TABLE} WHERE n = $1`, [i === 2 ? 999 : 1]).then(() => undefined, (e: Error) => e)),
    );
    for (const r of results) {
      assert.ok(r instanceof Error, 'every variant gets an error');
      assert.match(r.message, /diverged/);
    }
    const e = yard.divergences.list().at(-1)!;
    assert.equal(e.mode, 'merge');
    assert.equal(e.decision, 'blocked');
    assert.deepEqual(e.variants.map((v) => v.name), ['a', 'b', 'c']);
    assert.equal(e.variants[2]!.agreed, false);
    assert.match(e.diff, /999/);
    assert.match(e.request.summary, /SELECT name FROM/);
  } finally {
    await Promise.all(cs.map((c) => c.end().catch(() => undefined)));
    await yard.close();
  }
});

test('a silent variant times out: the others get an error', async (t) => {
  if (!needPg(t)) return;
  const { yard, ports } = await mergeYard({ auth: { method: 'trust', users: {} } });
  const cs = await clients(ports, { user: 'postgres' });
  try {
    const [a, b] = await Promise.all(cs.slice(0, 2).map((c) => c.query('SELECT 1').then(() => undefined, (e: Error) => e)));
    assert.ok(a instanceof Error && b instanceof Error);
    const e = yard.divergences.list().at(-1)!;
    assert.equal(e.variants[2]!.status, 'timeout');
  } finally {
    await Promise.all(cs.map((c) => c.end().catch(() => undefined)));
    await yard.close();
  }
});

test('wrong password is refused by the proxy with PostgreSQL\'s error', async (t) => {
  if (!needPg(t)) return;
  const { yard, ports } = await mergeYard({ auth: { method: 'scram-sha-256', users: { app: 'right' } } });
  try {
    const c = new pg.Client({ host: '127.0.0.1', port: ports[0], database: PG.database, user: 'app', password: 'wrong' });
    c.on('error', () => undefined);
    await assert.rejects(c.connect(), (e: Error & { code?: string }) => e.code === '28P01');
  } finally {
    await yard.close();
  }
});
