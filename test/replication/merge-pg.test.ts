import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startYard } from '../helpers/yard.js';
import { needService, reachable } from '../helpers/services.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { eventually, startLineServer } from '../helpers/net.js';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
const TABLE = `swy_merge_${randomBytes(4).toString('hex')}`;
let available = false;

before(async () => {
  available = await reachable(PG.host, PG.port);
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

const needPg = (t: { skip(msg: string): void }): boolean => needService(t, available, 'postgres');

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
    for (const r of now) assert.equal((r.rows[0] as { answer: number }).answer, 42);
    // Extended protocol (Parse/Bind/Execute/Sync), one INSERT reaching the server once.
    const ins = await all(cs, (c) => c.query(`INSERT INTO ${TABLE}(name, n) VALUES ($1, $2) RETURNING id`, ['alpha', 1]));
    assert.deepEqual(ins.map((r) => (r.rows[0] as { id: number }).id), [1, 1, 1]);
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
    for (const r of count) assert.equal((r.rows[0] as { n: number }).n, 2);
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

test('merge for redis: agreeing commands reach the server once, replies are replicated; a different command errors both', async (t) => {
  // Redis
  if (!needService(t, await reachable('127.0.0.1', 6379), 'redis')) return;
  const { Redis } = await import('ioredis');
  const yard = await startYard({
    listeners: [1, 2].map((i) => ({ id: `r${i}`, listen: '127.0.0.1:0', protocol: 'redis' })),
    clusters: [{ id: 'redis', endpoints: ['127.0.0.1:6379'] }],
    routes: [{ id: 'rm', cluster: 'redis', merge: { listeners: ['r1', 'r2'], timeout: '500ms' } }],
  });
  const key = `swy:merge:${randomBytes(4).toString('hex')}`;
  const cs = [1, 2].map((i) => {
    const a = yard.listeners.get(`r${i}`)!.address!;
    const c = new Redis({ host: '127.0.0.1', port: a.kind === 'tcp' ? a.port : 0, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined);
    return c;
  });
  const direct = new Redis({ host: '127.0.0.1', port: 6379 });
  try {
    const incr = await Promise.all(cs.map((c) => c.incr(key)));
    assert.deepEqual(incr, [1, 1], 'INCR ran once on the real server; both variants see its reply');
    assert.equal(await direct.get(key), '1');
    const diverged = await Promise.all(cs.map((c, i) => c.set(key, i === 0 ? 'a' : 'b').then(() => undefined, (e: Error) => e)));
    for (const e of diverged) assert.ok(e instanceof Error);
    assert.equal(await direct.get(key), '1', 'the diverging SET never reached the server');
    assert.equal(yard.divergences.list().at(-1)!.mode, 'merge');
  } finally {
    for (const c of cs) c.disconnect();
    await direct.del(key);
    direct.disconnect();
    await yard.close();
  }
});

test('merge for HTTP: two variants\' keep-alive clients share one backend connection; a differing request gets a 503 on both', async () => {
  const { Client } = await import('undici');
  const http = await import('node:http');
  let hits = 0;
  const backend = http.createServer((req, res) => {
    hits++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ hits, url: req.url }));
    });
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const bport = (backend.address() as net.AddressInfo).port;
  const yard = await startYard({
    listeners: [1, 2].map((i) => ({ id: `h${i}`, listen: '127.0.0.1:0', protocol: 'http' })),
    clusters: [{ id: 'api', endpoints: [`127.0.0.1:${bport}`] }],
    routes: [{ id: 'hm', cluster: 'api', merge: { listeners: ['h1', 'h2'], timeout: '500ms', normalise: { ignoreHeaders: ['x-trace'] } } }],
  });
  const clients = [1, 2].map((i) => {
    const a = yard.listeners.get(`h${i}`)!.address!;
    return new Client(`http://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}`, { pipelining: 1 });
  });
  try {
    for (const path of ['/a', '/b']) {
      const rs = await Promise.all(clients.map((c, i) => c.request({ path, method: 'GET', headers: { 'x-trace': String(i) } })));
      const bodies = await Promise.all(rs.map((r) => r.body.json()));
      assert.deepEqual(bodies[0], bodies[1], 'both variants get the one answer');
    }
    assert.equal(hits, 2, 'each agreed request reached the backend once');
    const rs = await Promise.all(clients.map((c, i) => c.request({ path: i === 0 ? '/x' : '/y', method: 'GET' }).then((r) => r.statusCode, () => 'closed')));
    for (const r of rs) assert.ok(r === 503 || r === 'closed', String(r));
    assert.equal(hits, 2);
    assert.match(yard.divergences.list().at(-1)!.diff, /\/x|\/y/);
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    backend.close();
    await yard.close();
  }
});

test('merge for line-framed TCP, variants told apart by source address (127.0.0.2, 127.0.0.3)', async () => {
  let seen: string[] = [];
  const backend = await startLineServer((line) => {
    seen.push(line);
    return `ok ${line}`;
  });
  const yard = await startYard({
    listeners: [{ id: 'in', listen: '127.0.0.1:0', framing: 'line' }],
    clusters: [{ id: 'be', endpoints: [`127.0.0.1:${backend.port}`] }],
    routes: [{ id: 'lm', cluster: 'be', merge: { listeners: ['in'], sources: ['127.0.0.2', '127.0.0.3'], names: ['left', 'right'], timeout: '500ms' } }],
  });
  const a = yard.listeners.get('in')!.address!;
  const port = a.kind === 'tcp' ? a.port : 0;
  const open = (localAddress: string) =>
    new Promise<{ sock: net.Socket; lines: string[] }>((resolve, reject) => {
      const sock = net.connect({ port, host: '127.0.0.1', localAddress });
      const lines: string[] = [];
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      sock.once('connect', () => resolve({ sock, lines }));
      sock.once('error', reject);
    });
  try {
    const [l, r] = await Promise.all([open('127.0.0.2'), open('127.0.0.3')]);
    l.sock.write('hello\nworld\n');
    r.sock.write('hello\nworld\n');
    await eventually(() => l.lines.length >= 2 && r.lines.length >= 2, 'both variants got both answers');
    assert.deepEqual(l.lines, ['ok hello', 'ok world']);
    assert.deepEqual(r.lines, ['ok hello', 'ok world']);
    assert.deepEqual(seen, ['hello', 'world'], 'the backend saw each line once');
    seen = [];
    l.sock.write('left says\n');
    r.sock.write('right says\n');
    await eventually(() => l.sock.destroyed || l.sock.readableEnded, 'the diverging group closed');
    await eventually(() => yard.divergences.list().length > 0, 'the divergence was recorded');
    assert.deepEqual(seen, []);
    const e = yard.divergences.list().at(-1)!;
    assert.deepEqual(e.variants.map((v) => v.name), ['left', 'right']);
    assert.match(e.diff, /left says|right says/);
    l.sock.destroy();
    r.sock.destroy();
    // A connection from an address that is not a variant source is closed at once.
    const stranger = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.9' });
    stranger.on('error', () => undefined);
    await new Promise((res) => stranger.on('close', res));
  } finally {
    await backend.close();
    await yard.close();
  }
});
