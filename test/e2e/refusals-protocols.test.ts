/**
 * Refusals in each protocol, with the real clients where there is one (ioredis, pg, mysql2) and raw sockets
 * otherwise: a refused upstream, an upstream killed while a request waits, malformed input, and the header timeout.
 * "Killed" goes through a relay in front of the real server that the test resets.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import { Redis as Redis6 } from 'ioredis6';
import { startYard } from '../helpers/yard.js';
import { connect, eventually, freePort, readAll, startServer, type TestServer } from '../helpers/net.js';
import { SERVICES, needService, reachable } from '../helpers/services.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';

const up = { postgres: false, mysql: false, redis: false };
before(async () => {
  for (const which of ['postgres', 'mysql', 'redis'] as const) up[which] = await reachable(SERVICES[which].host, SERVICES[which].port);
});

function need(t: { skip(msg: string): void }, which: keyof typeof up): boolean {
  return needService(t, up[which], which);
}

async function proxy(protocol: unknown, upstreamPort: number, listener: Record<string, unknown> = {}): Promise<{ yard: Switchyard; port: number; errors: Map<string, number> }> {
  const yard = await startYard({
    listeners: [{ id: 'l1', listen: '127.0.0.1:0', protocol, ...listener }],
    clusters: [{ id: 'c1', endpoints: [`127.0.0.1:${upstreamPort}`] }],
    routes: [{ id: 'r1', listener: 'l1', cluster: 'c1' }],
  });
  const a = yard.listeners.get('l1')!.address!;
  return { yard, port: a.kind === 'tcp' ? a.port : 0, errors: yard.listeners.get('l1')!.stats.errors };
}

/** A TCP relay to a real server; `kill()` resets every relayed connection on the proxy's side. */
async function relay(target: number): Promise<TestServer & { kill(): void }> {
  const fronts = new Set<net.Socket>();
  const server = await startServer((front) => {
    fronts.add(front);
    const back = net.connect({ host: '127.0.0.1', port: target });
    back.on('error', () => front.destroy());
    front.on('close', () => (fronts.delete(front), back.destroy()));
    front.pipe(back);
    back.pipe(front);
  });
  return { ...server, kill: () => fronts.forEach((f) => f.resetAndDestroy()) };
}

/** Raw exchange: write, read until the proxy closes. */
async function exchange(port: number, bytes: string | Buffer): Promise<Buffer> {
  const s = await connect(port);
  const all = readAll(s);
  s.write(bytes);
  const out = await all;
  s.destroy();
  return out;
}

// ---- Redis ----

test('redis: refused upstream, upstream killed mid-command, malformed input and header timeout are -ERR replies', async (t) => {
  if (!need(t, 'redis')) return;
  const dead = await proxy('redis', await freePort());
  try {
    const r = new Redis({ host: '127.0.0.1', port: dead.port, enableReadyCheck: false, disableClientInfo: true, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    r.on('error', () => undefined);
    await r.connect();
    await assert.rejects(r.get('k'), /cluster 'c1'.*ECONNREFUSED/);
    r.disconnect();
    await eventually(() => dead.errors.get('SWY_REFUSED_UPSTREAM_UNAVAILABLE') === 1, 'counted');
  } finally {
    await dead.yard.close();
  }
  const rel = await relay(6379);
  const p = await proxy('redis', rel.port, { requestHeaderTimeout: '300ms' });
  try {
    const r = new Redis({ host: '127.0.0.1', port: p.port, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    assert.equal(await r.ping(), 'PONG');
    const pending = r.blpop('refusals:nothing', 5);
    await eventually(() => rel.server.listenerCount('connection') > 0, 'relay up');
    await new Promise((res) => setTimeout(res, 100));
    rel.kill();
    await assert.rejects(pending, /ERR switchyard: cluster 'c1': the upstream reset before answering/);
    r.disconnect();
    const bad = (await exchange(p.port, '*1\r\n$x\r\n')).toString();
    assert.match(bad, /^-ERR switchyard: redis: /);
    const slow = (await exchange(p.port, '*1\r\n$4\r\nPI')).toString();
    assert.equal(slow, '-ERR switchyard: request head not received within requestHeaderTimeout (300 ms)\r\n');
    await eventually(() => p.errors.get('SWY_REFUSED_UPSTREAM_LOST') === 1 && p.errors.get('SWY_REFUSED_MALFORMED') === 1 && p.errors.get('SWY_REFUSED_HEADER_TIMEOUT') === 1, 'counted');
  } finally {
    await p.yard.close();
    await rel.close();
  }
});

test('redis: ioredis 5 and 6 with their default opening (CLIENT SETINFO, the INFO ready check) report the refusal, not a closed connection', async (t) => {
  if (!need(t, 'redis')) return;
  const dead = await proxy('redis', await freePort());
  try {
    const options = { host: '127.0.0.1', port: dead.port, maxRetriesPerRequest: 0, retryStrategy: () => null };
    for (const open of [() => new Redis(options), () => new Redis6(options)]) {
      const r = open();
      r.on('error', () => undefined);
      await assert.rejects(r.get('k'), /ERR switchyard: cluster 'c1': upstream 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
      r.disconnect();
    }
  } finally {
    await dead.yard.close();
  }
});

// ---- PostgreSQL ----

test('postgres: refused upstream is a FATAL 08006, an upstream killed mid-query 08006, a stalled startup 57014, a bad length 08P01', async (t) => {
  if (!need(t, 'postgres')) return;
  const dead = await proxy('postgres', await freePort());
  try {
    const c = new pg.Client({ host: '127.0.0.1', port: dead.port, user: 'postgres', database: 'test' });
    c.on('error', () => undefined);
    await assert.rejects(c.connect(), (err: Error & { code?: string }) => err.code === '08006' && /cluster 'c1'.*ECONNREFUSED/.test(err.message));
  } finally {
    await dead.yard.close();
  }
  const rel = await relay(5432);
  const p = await proxy('postgres', rel.port, { requestHeaderTimeout: '300ms' });
  try {
    const c = new pg.Client({ host: '127.0.0.1', port: p.port, user: 'postgres', database: 'test' });
    c.on('error', () => undefined);
    await c.connect();
    const q = c.query('SELECT pg_sleep(3)');
    await new Promise((res) => setTimeout(res, 200));
    rel.kill();
    await assert.rejects(q, (err: Error & { code?: string }) => err.code === '08006' && /reset before answering/.test(err.message));
    await c.end().catch(() => undefined);
    // a startup packet that stops half-way: FATAL 57014 after the header timeout
    const stalled = await exchange(p.port, Buffer.from([0, 0, 0, 40, 0, 3]));
    assert.equal(stalled[0], 0x45); // 'E'
    assert.match(stalled.toString('latin1'), /C57014\0Mswitchyard: request head not received within requestHeaderTimeout/);
    // a message length below 4 after startup: the proxy answers 08P01
    const c2 = new pg.Client({ host: '127.0.0.1', port: p.port, user: 'postgres', database: 'test' });
    await c2.connect();
    const ended = once(c2, 'error');
    c2.on('error', () => undefined);
    const sock = (c2 as unknown as { connection: { stream: net.Socket } }).connection.stream;
    sock.write(Buffer.from([0x51, 0, 0, 0, 1]));
    const [err] = (await ended) as [Error & { code?: string }];
    assert.equal(err.code, '08P01');
    assert.match(err.message, /declares length 1/);
    await eventually(() => p.errors.get('SWY_REFUSED_UPSTREAM_LOST') === 1 && p.errors.get('SWY_REFUSED_HEADER_TIMEOUT') === 1 && p.errors.get('SWY_REFUSED_MALFORMED') === 1, 'counted');
  } finally {
    await p.yard.close();
    await rel.close();
  }
});

// ---- MySQL ----

test('mysql: refused upstream is an ERR 2003 greeting, an upstream killed mid-query ERR 2013, a stalled login ERR 1159', async (t) => {
  if (!need(t, 'mysql')) return;
  const dead = await proxy('mysql', await freePort());
  try {
    await assert.rejects(mysql.createConnection({ host: '127.0.0.1', port: dead.port, user: 'root', password: '', database: 'test' }), (err: Error & { errno?: number }) => err.errno === 2003 && /cluster 'c1'.*ECONNREFUSED/.test(err.message));
    await eventually(() => dead.errors.get('SWY_REFUSED_UPSTREAM_UNAVAILABLE') === 1, 'counted');
  } finally {
    await dead.yard.close();
  }
  const rel = await relay(3306);
  // the header timer starts with the session: it covers MariaDB's greeting and mysql2's login, hence 3 s, not less
  const p = await proxy('mysql', rel.port, { requestHeaderTimeout: '3s' });
  try {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: p.port, user: 'root', password: '', database: 'test' });
    conn.on('error', () => undefined);
    const q = conn.query('SELECT SLEEP(3)');
    await new Promise((res) => setTimeout(res, 200));
    rel.kill();
    await assert.rejects(q, (err: Error & { errno?: number }) => err.errno === 2013 && /reset before answering/.test(err.message));
    conn.destroy();
    // connect, read the greeting, send half a login packet: ERR 1159 after the header timeout
    const s = await connect(p.port);
    const all = readAll(s);
    s.once('data', () => s.write(Buffer.from([100, 0, 0, 1, 0x85, 0xa6])));
    const out = await all;
    s.destroy();
    const errAt = out.indexOf(Buffer.from('switchyard: request head'));
    assert.ok(errAt > 0, `ERR packet after the greeting: ${out.toString('latin1')}`);
    assert.equal(out.readUInt16LE(out.indexOf(0xff, errAt - 12) + 1), 1159);
    await eventually(() => p.errors.get('SWY_REFUSED_UPSTREAM_LOST') === 1 && p.errors.get('SWY_REFUSED_HEADER_TIMEOUT') === 1, 'counted');
  } finally {
    await p.yard.close();
    await rel.close();
  }
});

// ---- memcache and SMTP (raw sockets, fake upstreams) ----

test('memcache: refused upstream SERVER_ERROR, upstream reset SERVER_ERROR, malformed input CLIENT_ERROR', async () => {
  const dead = await proxy('memcache', await freePort());
  try {
    assert.match((await exchange(dead.port, 'get k\r\n')).toString(), /^SERVER_ERROR switchyard: cluster 'c1': .*ECONNREFUSED.*\r\n$/);
  } finally {
    await dead.yard.close();
  }
  const upstream = await startServer((s) => s.once('data', () => s.resetAndDestroy()));
  const p = await proxy('memcache', upstream.port);
  try {
    assert.equal((await exchange(p.port, 'get k\r\n')).toString(), "SERVER_ERROR switchyard: cluster 'c1': the upstream reset before answering\r\n");
    assert.equal((await exchange(p.port, 'set k 0 0 1\r\nabc\r\n')).toString(), 'CLIENT_ERROR switchyard: memcache: data block is not followed by \\r\\n\r\n');
  } finally {
    await p.yard.close();
    await upstream.close();
  }
});

test('smtp: refused upstream is a 421 greeting; an upstream that closes before answering gives 421', async () => {
  const dead = await proxy('smtp', await freePort());
  try {
    const s = await connect(dead.port);
    const out = (await readAll(s)).toString();
    s.destroy();
    assert.match(out, /^421 4\.4\.1 switchyard: cluster 'c1': .*ECONNREFUSED.*\r\n$/);
  } finally {
    await dead.yard.close();
  }
  const upstream = await startServer((s) => {
    s.write('220 fake ESMTP\r\n');
    s.once('data', () => s.end());
  });
  const p = await proxy('smtp', upstream.port);
  try {
    const s = await connect(p.port);
    const all = readAll(s);
    s.once('data', () => s.write('EHLO me\r\n'));
    const out = (await all).toString();
    s.destroy();
    assert.equal(out, "220 fake ESMTP\r\n421 4.4.2 switchyard: cluster 'c1': the upstream closed the connection before answering\r\n");
  } finally {
    await p.yard.close();
    await upstream.close();
  }
});
