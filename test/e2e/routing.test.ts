/**
 * Routes decided per connection (TLS SNI, source address CIDR, destination port) and per startup (PostgreSQL by
 * database, with the real server and the `pg` client), and the protocols' no-route answers, through real peers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { startYard } from '../helpers/yard.js';
import { connect, eventually, freePort, readAll, startServer, type TestServer } from '../helpers/net.js';
import { SERVICES, needService, reachable } from '../helpers/services.js';
import { testCerts } from '../helpers/certs.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { AdminServer } from '../../src/admin/server.js';

/** A server that answers every connection with its name, then closes. */
function namedServer(name: string): Promise<TestServer> {
  return startServer((s) => {
    s.end(name);
  });
}

const servers: TestServer[] = [];
let A: TestServer;
let B: TestServer;
let pgUp = false;
before(async () => {
  A = await namedServer('A');
  B = await namedServer('B');
  servers.push(A, B);
  pgUp = await reachable(SERVICES.postgres.host, SERVICES.postgres.port);
});
after(async () => {
  for (const s of servers) await s.close();
});

function portOf(yard: Switchyard, id: string): number {
  const a = yard.listeners.get(id)!.address!;
  assert.equal(a.kind, 'tcp');
  return a.kind === 'tcp' ? a.port : 0;
}

function clusters(): Array<Record<string, unknown>> {
  return [
    { id: 'ca', endpoints: [`127.0.0.1:${A.port}`] },
    { id: 'cb', endpoints: [`127.0.0.1:${B.port}`] },
  ];
}

function noRoutes(yard: Switchyard, listener: string): number {
  return yard.listeners.get(listener)!.stats.errors.get('SWY_NO_ROUTE') ?? 0;
}

test('TLS SNI routing: two certificates, two servers; an unknown name gets no route (closed, counted)', async () => {
  const certs = testCerts();
  const yard = await startYard({
    listeners: [
      {
        id: 'tls',
        listen: '127.0.0.1:0',
        tls: { cert: certs.server.certPath, key: certs.server.keyPath, sni: { 'other.test': { cert: certs.other.certPath, key: certs.other.keyPath } } },
      },
    ],
    clusters: clusters(),
    routes: [
      { id: 'to-b', listener: 'tls', cluster: 'cb', match: { sni: 'other.test' } },
      { id: 'to-a', listener: 'tls', cluster: 'ca', match: { sni: ['localhost', '*.wild.test'] } },
    ],
  });
  try {
    const port = portOf(yard, 'tls');
    assert.equal(yard.listeners.get('tls')!.toJSON()['routing'], 'connection');
    const ask = async (servername: string, verify = true): Promise<string> => {
      const s = tls.connect({ host: '127.0.0.1', port, servername, ca: certs.ca.cert, rejectUnauthorized: verify });
      s.on('error', () => undefined);
      const all = readAll(s);
      await new Promise<void>((resolve, reject) => {
        s.once('secureConnect', () => resolve());
        s.once('error', reject);
      });
      // the certificate presented is the one for the name asked
      assert.ok(s.getPeerCertificate().subjectaltname?.includes(servername === 'localhost' ? 'DNS:localhost' : 'DNS:other.test'));
      const out = (await all).toString();
      s.destroy();
      return out;
    };
    assert.equal(await ask('other.test'), 'B');
    assert.equal(await ask('localhost'), 'A');
    assert.equal(await ask('localhost'), 'A');
    assert.equal(yard.routes.get('to-b')!.requests, 1);
    assert.equal(yard.routes.get('to-a')!.requests, 2);
    // a name no route matches: the server certificate (the default) is presented, then the connection is closed
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'nobody.test', rejectUnauthorized: false });
    s.on('error', () => undefined);
    const out = await readAll(s);
    assert.equal(out.length, 0);
    await eventually(() => noRoutes(yard, 'tls') === 1, 'no_route counted');
    assert.equal(yard.listeners.get('tls')!.toJSON()['no_route'], 1);
  } finally {
    await yard.close({ drainTimeout: 0 });
  }
});

test('source address CIDR and destination port pick the route per connection; none → closed and counted', async () => {
  const port = await freePort();
  const yard = await startYard({
    listeners: [{ id: 'raw', listen: `127.0.0.1:${port}` }],
    clusters: clusters(),
    routes: [
      { id: 'from-2', listener: 'raw', cluster: 'cb', match: { sourceAddress: '127.0.0.2/32' } },
      { id: 'by-port', listener: 'raw', cluster: 'ca', match: { destinationPort: port, not: { sourceAddress: ['127.0.0.3'] } } },
    ],
  });
  try {
    const from = async (localAddress: string): Promise<string> => {
      const s = net.connect({ host: '127.0.0.1', port, localAddress });
      s.on('error', () => undefined);
      const out = (await readAll(s)).toString();
      s.destroy();
      return out;
    };
    assert.equal(await from('127.0.0.1'), 'A');
    assert.equal(await from('127.0.0.2'), 'B');
    assert.equal(await from('127.0.0.3'), '');
    await eventually(() => noRoutes(yard, 'raw') === 1, 'no_route counted');
    assert.equal(yard.routes.get('from-2')!.requests, 1);
    assert.equal(yard.routes.get('by-port')!.requests, 1);
    assert.equal(yard.clusters.get('cb')!.stats.total, 1);
  } finally {
    await yard.close({ drainTimeout: 0 });
  }
});

test('no route at connection scope: HTTP 404 with a JSON body naming the listener, RESP -ERR no route, MySQL 1045 greeting', async () => {
  const yard = await startYard({
    listeners: [
      { id: 'web', listen: '127.0.0.1:0', protocol: 'http' },
      { id: 'kv', listen: '127.0.0.1:0', protocol: 'redis' },
      { id: 'my', listen: '127.0.0.1:0', protocol: 'mysql' },
    ],
    clusters: clusters(),
    routes: [
      { id: 'w', listener: 'web', cluster: 'ca', match: { sourceAddress: '10.0.0.0/8' } },
      { id: 'k', listener: 'kv', cluster: 'ca', match: { sourceAddress: '10.0.0.0/8' } },
      { id: 'm', listener: 'my', cluster: 'ca', match: { sourceAddress: '10.0.0.0/8' } },
    ],
  });
  try {
    const s = await connect(portOf(yard, 'web'));
    const all = readAll(s);
    s.write('GET /a/b HTTP/1.1\r\nHost: api.test\r\n\r\n');
    const text = (await all).toString();
    s.destroy();
    const [head, body] = text.split('\r\n\r\n');
    assert.match(head!, /^HTTP\/1\.1 404 Not Found\r\n/);
    assert.match(head!, /Content-Type: application\/json/);
    assert.match(head!, /Connection: close/);
    const json = JSON.parse(body!) as Record<string, unknown>;
    assert.equal(json['error'], 'no route');
    assert.equal(json['listener'], 'web');
    assert.equal(json['path'], '/a/b');
    assert.equal(json['host'], 'api.test');
    assert.equal(json['method'], 'GET');
    const r = await connect(portOf(yard, 'kv'));
    const rall = readAll(r);
    r.write('*1\r\n$4\r\nPING\r\n');
    const reply = (await rall).toString();
    r.destroy();
    assert.match(reply, /^-ERR no route on listener 'kv'/);
    // MySQL speaks first: the refusal is the greeting (errno 1045), seen by mysql2 as the connect error.
    await assert.rejects(mysql.createConnection({ host: '127.0.0.1', port: portOf(yard, 'my'), user: 'root', password: '', database: 'test' }), (err: Error & { errno?: number }) => {
      assert.equal(err.errno, 1045);
      assert.match(err.message, /no route on listener 'my'/);
      return true;
    });
    await eventually(() => noRoutes(yard, 'web') === 1 && noRoutes(yard, 'kv') === 1, 'no_route counted on both listeners');
  } finally {
    await yard.close({ drainTimeout: 0 });
  }
});

test('PostgreSQL routed by database to two clusters (real server, pg client); SSLRequest answered N; no route → 08004', async (t) => {
  if (!needService(t, pgUp, 'postgres')) return;
  const pgAddr = `${SERVICES.postgres.host}:${SERVICES.postgres.port}`;
  const yard = await startYard({
    listeners: [{ id: 'pg', listen: '127.0.0.1:0', protocol: 'postgres' }],
    clusters: [
      { id: 'pg-test', endpoints: [pgAddr] },
      { id: 'pg-main', endpoints: [pgAddr] },
    ],
    routes: [
      { id: 'db-test', listener: 'pg', cluster: 'pg-test', match: { database: 'test' } },
      { id: 'db-main', listener: 'pg', cluster: 'pg-main', match: { database: 'postgres', user: 'postgres' } },
    ],
  });
  try {
    const port = portOf(yard, 'pg');
    assert.equal(yard.listeners.get('pg')!.toJSON()['routing'], 'startup');
    const ask = async (database: string): Promise<string> => {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database });
      await c.connect();
      try {
        const r = await c.query<{ db: string }>('SELECT current_database() AS db');
        return r.rows[0]!.db;
      } finally {
        await c.end();
      }
    };
    assert.equal(await ask('test'), 'test');
    assert.equal(await ask('postgres'), 'postgres');
    assert.equal(await ask('test'), 'test');
    assert.equal(yard.routes.get('db-test')!.requests, 2);
    assert.equal(yard.routes.get('db-main')!.requests, 1);
    assert.equal(yard.clusters.get('pg-test')!.stats.total, 2);
    assert.equal(yard.clusters.get('pg-main')!.stats.total, 1);

    const bad = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'nowhere' });
    bad.on('error', () => undefined);
    await assert.rejects(bad.connect(), (err: Error & { code?: string }) => {
      assert.equal(err.code, '08004');
      assert.match(err.message, /no route on listener 'pg' for database "nowhere", user "postgres"/);
      return true;
    });
    await eventually(() => noRoutes(yard, 'pg') === 1, 'no_route counted');

    // An SSLRequest is answered 'N' by the proxy itself (a server without TLS), then the startup is routed.
    const s = await connect(port);
    const first = new Promise<Buffer>((resolve) => s.once('data', resolve));
    const ssl = Buffer.alloc(8);
    ssl.writeUInt32BE(8, 0);
    ssl.writeUInt32BE(80877103, 4);
    s.write(ssl);
    assert.equal((await first).toString('latin1'), 'N');
    s.destroy();

    // A CancelRequest names no database: it is sent to every cluster of the listener's routes, and the server
    // holding that backend cancels the query.
    const busy = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await busy.connect();
    try {
      const ids = busy as unknown as { processID: number; secretKey: number };
      const sleeping = busy.query('SELECT pg_sleep(30)');
      // wait (bounded) until the server runs it: a cancel that arrives before the query starts cancels nothing
      const watch = new pg.Client({ host: SERVICES.postgres.host, port: SERVICES.postgres.port, user: 'postgres', database: 'postgres' });
      await watch.connect();
      try {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const r = await watch.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", [ids.processID]);
          if ((r.rows[0] as { n: number }).n === 1) break;
          assert.ok(Date.now() < deadline, 'the sleeping query started');
          await new Promise((res) => setTimeout(res, 20));
        }
      } finally {
        await watch.end();
      }
      const cancel = Buffer.alloc(16);
      cancel.writeUInt32BE(16, 0);
      cancel.writeUInt32BE(80877102, 4);
      cancel.writeUInt32BE(ids.processID >>> 0, 8);
      cancel.writeUInt32BE(ids.secretKey >>> 0, 12);
      const c = await connect(port);
      c.write(cancel);
      assert.equal((await readAll(c)).length, 0, 'the proxy answers a cancel with a close, as the server does');
      c.destroy();
      await assert.rejects(sleeping, (err: Error & { code?: string }) => err.code === '57014');
    } finally {
      await busy.end();
    }
  } finally {
    await yard.close({ drainTimeout: 0 });
  }
});

test('admin: GET /routes?listener= in evaluation order, POST with position and match, bad input → 400 naming the field; metric', async () => {
  const port = await freePort();
  const yard = await startYard({
    listeners: [{ id: 'raw', listen: `127.0.0.1:${port}` }],
    clusters: clusters(),
    routes: [
      { id: 'first', listener: 'raw', cluster: 'cb', match: { sourceAddress: '127.0.0.2' } },
      { id: 'last', listener: 'raw', cluster: 'ca' },
    ],
  });
  const admin = await AdminServer.start(yard, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 } });
  interface RouteBody {
    id: string;
    position: number;
    requests: number;
    config: { match?: unknown };
    error: { message: string };
  }
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: RouteBody }> => {
    const res = await fetch(admin.url + path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
    return { status: res.status, body: JSON.parse(await res.text()) as RouteBody };
  };
  try {
    const ids = async (): Promise<string[]> => ((await call('GET', '/api/v1/routes?listener=raw')).body as unknown as RouteBody[]).map((r) => r.id);
    assert.deepEqual(await ids(), ['first', 'last']);
    // Inserted at position 0: it is tried first, so connections from 127.0.0.1 now go to B.
    const created = await call('POST', '/api/v1/routes', { id: 'local', listener: 'raw', cluster: 'cb', match: { sourceAddress: '127.0.0.1/32' }, position: 0 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.position, 0);
    assert.deepEqual(created.body.config.match, { sourceAddress: '127.0.0.1/32' });
    assert.deepEqual(await ids(), ['local', 'first', 'last']);
    const listed = (await call('GET', '/api/v1/routes?listener=raw')).body as unknown as RouteBody[];
    assert.deepEqual(listed.map((r) => r.position), [0, 1, 2]);
    const s = net.connect({ host: '127.0.0.1', port });
    assert.equal((await readAll(s)).toString(), 'B');
    s.destroy();
    assert.equal((await call('GET', '/api/v1/routes/local')).body.requests, 1);
    // Default position: last.
    assert.equal((await call('POST', '/api/v1/routes', { id: 'tail', listener: 'raw', cluster: 'ca', match: { destinationPort: 1 } })).status, 201);
    assert.deepEqual(await ids(), ['local', 'first', 'last', 'tail']);
    const badPos = await call('POST', '/api/v1/routes', { id: 'x', listener: 'raw', cluster: 'ca', position: 9 });
    assert.equal(badPos.status, 400);
    assert.match(badPos.body.error.message, /^position: expected 0\.\.4/);
    const negPos = await call('POST', '/api/v1/routes', { id: 'x', listener: 'raw', cluster: 'ca', position: -1 });
    assert.equal(negPos.status, 400);
    assert.match(negPos.body.error.message, /^position: expected a 0-based index/);
    const badMatch = await call('POST', '/api/v1/routes', { id: 'x', listener: 'raw', cluster: 'ca', match: { path: '/x' } });
    assert.equal(badMatch.status, 400);
    assert.match(badMatch.body.error.message, /match\.path: unknown route match key "path"/);
    const badShape = await call('POST', '/api/v1/routes', { id: 'x', listener: 'raw', cluster: 'ca', match: { sourceAddress: '1.2.3.4/99' } });
    assert.equal(badShape.status, 400);
    assert.match(badShape.body.error.message, /match\.sourceAddress: expected a CIDR block/);
    assert.equal((await call('GET', '/api/v1/routes?listener=nope')).status, 404);
    // a second default, even inserted before the first, is refused
    assert.equal((await call('POST', '/api/v1/routes', { id: 'd1', listener: 'raw', cluster: 'ca', default: true, match: { destinationPort: 2 } })).status, 201);
    const twoDefaults = await call('POST', '/api/v1/routes', { id: 'd2', listener: 'raw', cluster: 'ca', default: true, match: { destinationPort: 3 }, position: 0 });
    assert.equal(twoDefaults.status, 400);
    assert.match(twoDefaults.body.error.message, /already has a default route/);
    const metrics = await (await fetch(`${admin.url}/metrics`)).text();
    assert.match(metrics, /switchyard_route_requests_total\{listener="raw",route="local"\} 1/);
    assert.match(metrics, /switchyard_route_requests_total\{listener="raw",route="first"\} 0/);
  } finally {
    await admin.close();
    await yard.close({ drainTimeout: 0 });
  }
});

test('stopping a listener closes connections whose startup is still being read', async () => {
  const yard = await startYard({
    listeners: [{ id: 'pg', listen: '127.0.0.1:0', protocol: 'postgres', requestHeaderTimeout: '60s' }],
    clusters: [{ id: 'c', endpoints: ['127.0.0.1:1'] }],
    routes: [{ id: 'r', listener: 'pg', cluster: 'c', match: { database: 'x' } }],
  });
  const s = await connect(portOf(yard, 'pg'));
  // the proxy's side goes away: FIN (or RST when it had not read everything yet)
  const gone = new Promise<void>((r) => {
    s.once('end', () => r());
    s.once('error', () => r());
  });
  s.write(Buffer.from([0, 0, 0])); // a startup that never completes
  await new Promise((r) => setTimeout(r, 100)); // let the proxy read it (the test holds either way)
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    yard.close({ drainTimeout: 0 }).then(() => 'closed'),
    new Promise<string>((r) => (timer = setTimeout(() => r('hung'), 20_000))),
  ]);
  clearTimeout(timer);
  assert.equal(outcome, 'closed', 'close does not wait for the 60 s startup timeout');
  await gone;
  s.destroy();
});
