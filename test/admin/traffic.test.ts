/**
 * The traffic tail end to end against real peers: a node:http upstream behind an HTTP listener, the machine's Redis
 * behind a Redis listener (ioredis), a per-request routed HTTP listener, a raw TCP echo listener (off by default,
 * on after PUT), and the admin API's answers to bad input. Everything binds 127.0.0.1, port 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { Redis } from 'ioredis';
import { AdminServer } from '../../src/admin/server.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { startYard } from '../helpers/yard.js';
import { TcpListener } from '../../src/listeners/tcp.js';
import { validateConfig } from '../../src/runtime/config.js';
import { applyConfig } from '../../src/runtime/reload.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { LOOPBACK } from '../helpers/admin.js';
import { connect, startEchoServer } from '../helpers/net.js';
import { SERVICES, needService, reachable } from '../helpers/services.js';

const TOKEN = 'traffic-test-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };

interface TrafficRecord {
  seq: number;
  at: number;
  durationMs: number;
  request: Record<string, string | number | boolean>;
  answer: string;
  error?: string;
  route?: string;
  cluster?: string;
  endpoint?: string;
}
interface TrafficBody {
  listener: string;
  enabled: boolean;
  perSecond: number;
  keep: number;
  records: TrafficRecord[];
  next: number;
  error?: { code: string; message: string; issues?: Array<{ path: string; message: string }> };
}

async function api(admin: AdminServer, method: string, path: string, body?: unknown, headers: Record<string, string> = AUTH): Promise<{ status: number; body: TrafficBody }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(admin.url + path, init);
  return { status: res.status, body: (await res.json()) as TrafficBody };
}

/** Poll the tail until `want` records with seq > since are there (bounded: 5 s). */
async function records(admin: AdminServer, listener: string, want: number, since = 0): Promise<TrafficRecord[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = await api(admin, 'GET', `/api/v1/listeners/${listener}/traffic?since=${since}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    if (r.body.records.length >= want || Date.now() > deadline) return r.body.records;
    await new Promise((res) => setTimeout(res, 50));
  }
}

async function httpServer(name: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    res.statusCode = req.url === '/missing' ? 404 : 200;
    res.end(JSON.stringify({ server: name, path: req.url }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function portOf(yard: Switchyard, id: string): number {
  const a = yard.listeners.get(id)!.address!;
  assert.equal(a.kind, 'tcp');
  return a.kind === 'tcp' ? a.port : 0;
}

test('HTTP listener: method, path, status, route, cluster and endpoint of each request; since pages on', async () => {
  const up = await httpServer('A');
  const yard = await startYard({
    listeners: [{ id: 'web', listen: '127.0.0.1:0', protocol: 'http' }],
    clusters: [{ id: 'backend', endpoints: [`127.0.0.1:${up.port}`] }],
    routes: [{ id: 'all', listener: 'web', cluster: 'backend' }],
  });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK, token: TOKEN });
  try {
    const base = `http://127.0.0.1:${portOf(yard, 'web')}`;
    assert.equal((await fetch(`${base}/hello?x=1`)).status, 200);
    assert.equal((await fetch(`${base}/missing`, { method: 'POST', body: 'x' })).status, 404);
    const got = await records(admin, 'web', 2);
    assert.equal(got.length, 2, JSON.stringify(got));
    const [a, b] = got as [TrafficRecord, TrafficRecord];
    assert.equal(a.request['method'], 'GET');
    assert.equal(a.request['path'], '/hello');
    assert.equal(a.answer, '200');
    assert.equal(a.route, 'all');
    assert.equal(a.cluster, 'backend');
    assert.equal(a.endpoint, `127.0.0.1:${up.port}`);
    assert.ok(a.durationMs >= 0 && a.at > Date.now() - 60_000);
    assert.equal(a.error, undefined);
    assert.equal(b.request['method'], 'POST');
    assert.equal(b.request['path'], '/missing');
    assert.equal(b.answer, '404');
    assert.ok(b.seq > a.seq);
    // since: only newer records; next: the last seq given
    const page = await api(admin, 'GET', `/api/v1/listeners/web/traffic?since=${a.seq}`);
    assert.deepEqual(page.body.records.map((r) => r.seq), [b.seq]);
    assert.equal(page.body.next, b.seq);
    assert.equal(page.body.enabled, true);
    assert.equal(page.body.perSecond, 50);
    assert.equal(page.body.keep, 200);
    const limited = await api(admin, 'GET', '/api/v1/listeners/web/traffic?limit=1');
    assert.deepEqual(limited.body.records.map((r) => r.seq), [a.seq]);
    // reading needs the token like every API call
    assert.equal((await api(admin, 'GET', '/api/v1/listeners/web/traffic', undefined, {})).status, 401);
    // off: nothing more is recorded
    assert.equal((await api(admin, 'PUT', '/api/v1/listeners/web/traffic', { enabled: false })).status, 200);
    await (await fetch(`${base}/quiet`)).text();
    assert.deepEqual((await api(admin, 'GET', `/api/v1/listeners/web/traffic?since=${b.seq}`)).body.records, []);
  } finally {
    await admin.close();
    await yard.close();
    await up.close();
  }
});

test('Redis listener: command, key and reply with route, cluster and endpoint', async (t) => {
  const { host, port } = SERVICES.redis;
  if (!needService(t, await reachable(host, port), 'redis')) return;
  const yard = await startYard({
    listeners: [{ id: 'cache', listen: '127.0.0.1:0', protocol: 'redis' }],
    clusters: [{ id: 'redis', endpoints: [`${host}:${port}`] }],
    routes: [{ id: 'to-redis', listener: 'cache', cluster: 'redis' }],
  });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK, token: TOKEN });
  const client = new Redis({ host: '127.0.0.1', port: portOf(yard, 'cache'), lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    const key = `swy-traffic-${process.pid}`;
    assert.equal(await client.set(key, 'hello'), 'OK');
    assert.equal(await client.get(key), 'hello');
    await assert.rejects(client.call('NOSUCHCOMMAND'), /unknown command/i);
    await client.del(key);
    const got = await records(admin, 'cache', 4);
    const set = got.find((r) => r.request['command'] === 'SET');
    const get = got.find((r) => r.request['command'] === 'GET');
    const bad = got.find((r) => r.request['command'] === 'NOSUCHCOMMAND');
    assert.ok(set && get && bad, JSON.stringify(got));
    assert.equal(set.request['key'], key);
    assert.equal(set.answer, '+OK');
    assert.equal(get.answer, '"hello"');
    assert.match(bad.answer, /^-ERR unknown command/);
    for (const r of [set, get]) {
      assert.equal(r.route, 'to-redis');
      assert.equal(r.cluster, 'redis');
      assert.equal(r.endpoint, `${host}:${port}`);
    }
  } finally {
    client.disconnect();
    await admin.close();
    await yard.close();
  }
});

test('routed HTTP listener: each request names the route and cluster it took; no route is SWY_NO_ROUTE', async () => {
  const [a, b] = await Promise.all([httpServer('A'), httpServer('B')]);
  const yard = await startYard({
    listeners: [{ id: 'web', listen: '127.0.0.1:0', protocol: 'http' }],
    clusters: [
      { id: 'ca', endpoints: [`127.0.0.1:${a.port}`] },
      { id: 'cb', endpoints: [`127.0.0.1:${b.port}`] },
    ],
    routes: [
      { id: 'ra', listener: 'web', cluster: 'ca', match: { path: '/a/*' } },
      { id: 'rb', listener: 'web', cluster: 'cb', match: { path: '/b/*' } },
    ],
  });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK, token: TOKEN });
  try {
    const base = `http://127.0.0.1:${portOf(yard, 'web')}`;
    // one keep-alive connection carries all three (fetch reuses it)
    for (const p of ['/a/1', '/b/2', '/zzz']) await (await fetch(base + p)).text();
    const got = await records(admin, 'web', 3);
    const byPath = new Map(got.map((r) => [r.request['path'], r]));
    const ra = byPath.get('/a/1');
    const rb = byPath.get('/b/2');
    const none = byPath.get('/zzz');
    assert.ok(ra && rb && none, JSON.stringify(got));
    assert.deepEqual([ra.route, ra.cluster, ra.endpoint, ra.answer], ['ra', 'ca', `127.0.0.1:${a.port}`, '200']);
    assert.deepEqual([rb.route, rb.cluster, rb.endpoint, rb.answer], ['rb', 'cb', `127.0.0.1:${b.port}`, '200']);
    assert.equal(none.error, 'SWY_NO_ROUTE');
    assert.equal(none.answer, '404');
    assert.equal(none.route, undefined);
  } finally {
    await admin.close();
    await yard.close();
    await Promise.all([a.close(), b.close()]);
  }
});

test('raw TCP: off by default; on after PUT, one record per connection with its bytes; bad input is a 400 naming the field', async () => {
  const echo = await startEchoServer();
  const yard = await startYard({
    listeners: [{ id: 'raw', listen: '127.0.0.1:0' }],
    clusters: [{ id: 'echo', endpoints: [`127.0.0.1:${echo.port}`] }],
    routes: [{ id: 'r', listener: 'raw', cluster: 'echo' }],
  });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK, token: TOKEN });
  const roundTrip = async (text: string): Promise<void> => {
    const s = await connect(portOf(yard, 'raw'));
    s.write(text);
    let got = '';
    await new Promise<void>((resolve, reject) => {
      s.on('data', (d: Buffer) => {
        got += d.toString();
        if (got.length >= text.length) resolve();
      });
      s.on('error', reject);
    });
    s.end();
    await new Promise((r) => s.once('close', r));
  };
  try {
    const off = await api(admin, 'GET', '/api/v1/listeners/raw/traffic');
    assert.equal(off.body.enabled, false);
    await roundTrip('before');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual((await api(admin, 'GET', '/api/v1/listeners/raw/traffic')).body.records, []);
    // a mutation needs the token
    assert.equal((await api(admin, 'PUT', '/api/v1/listeners/raw/traffic', { enabled: true }, {})).status, 401);
    const on = await api(admin, 'PUT', '/api/v1/listeners/raw/traffic', { enabled: true, keep: 10 });
    assert.equal(on.status, 200);
    assert.deepEqual([on.body.enabled, on.body.keep, on.body.perSecond], [true, 10, 50]);
    await roundTrip('hello, traffic');
    const got = await records(admin, 'raw', 1);
    assert.equal(got.length, 1, JSON.stringify(got));
    const r = got[0]!;
    assert.equal(r.request['bytesIn'], 'hello, traffic'.length);
    assert.equal(r.request['bytesOut'], 'hello, traffic'.length);
    assert.match(String(r.request['source']), /^127\.0\.0\.1:\d+$/);
    assert.deepEqual([r.route, r.cluster, r.endpoint], ['r', 'echo', `127.0.0.1:${echo.port}`]);

    // bad bodies and parameters: 400 in the API's error form, naming what was wrong
    const bad = async (body: unknown, field: RegExp): Promise<void> => {
      const res = await api(admin, 'PUT', '/api/v1/listeners/raw/traffic', body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error?.code, 'SWY_BAD_REQUEST');
      assert.match(res.body.error?.message ?? '', field);
    };
    await bad({ enabled: 'yes' }, /enabled: expected true or false/);
    await bad({ keep: 0 }, /keep: expected an integer from 1/);
    await bad({ perSecond: 1.5 }, /perSecond: expected an integer/);
    await bad({ enable: true }, /enable: unknown field \(did you mean "enabled"\?\)/);
    await bad([1], /expected a JSON object/);
    const since = await api(admin, 'GET', '/api/v1/listeners/raw/traffic?since=abc');
    assert.equal(since.status, 400);
    assert.match(since.body.error?.message ?? '', /'since'/);
    const missing = await api(admin, 'GET', '/api/v1/listeners/nope/traffic');
    assert.equal(missing.status, 404);
    assert.match(missing.body.error?.message ?? '', /listener 'nope' not found/);
    // the settings were left as they were by the refused bodies
    assert.equal((await api(admin, 'GET', '/api/v1/listeners/raw/traffic')).body.keep, 10);
  } finally {
    await admin.close();
    await yard.close();
    await echo.close();
  }
});

test('replicate route: the decision is recorded (variant served, or SWY_DIVERGENCE when blocked)', async () => {
  const variant = async (name: string): Promise<{ port: number; close(): Promise<void> }> => {
    const server = http.createServer((req, res) => {
      req.resume();
      res.setHeader('content-type', 'application/json');
      // /same: every variant agrees; /diff: each answers its own name
      res.end(JSON.stringify(req.url === '/diff' ? { who: name } : { ok: true }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      port: (server.address() as net.AddressInfo).port,
      close: () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    };
  };
  const [v1, v2] = await Promise.all([variant('v1'), variant('v2')]);
  const yard = await startYard({
    listeners: [{ id: 'nv', listen: '127.0.0.1:0', protocol: 'http' }],
    clusters: [
      { id: 'v1', endpoints: [`127.0.0.1:${v1.port}`] },
      { id: 'v2', endpoints: [`127.0.0.1:${v2.port}`] },
    ],
    routes: [{ id: 'accounts', listener: 'nv', replicate: { variants: ['v1', 'v2'], policy: 'unanimous', timeout: '2s' } }],
  });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK, token: TOKEN });
  try {
    const base = `http://127.0.0.1:${portOf(yard, 'nv')}`;
    const ok = await fetch(`${base}/same`);
    assert.equal(ok.status, 200);
    await ok.text();
    const blocked = await fetch(`${base}/diff`);
    assert.equal(blocked.status, 502);
    await blocked.text();
    const got = await records(admin, 'nv', 2);
    const same = got.find((r) => r.request['path'] === '/same');
    const diff = got.find((r) => r.request['path'] === '/diff');
    assert.ok(same && diff, JSON.stringify(got));
    assert.deepEqual([same.route, same.cluster, same.answer, same.error], ['accounts', 'replicate', '200', undefined]);
    assert.ok(same.endpoint === 'v1' || same.endpoint === 'v2', String(same.endpoint));
    assert.deepEqual([diff.route, diff.cluster, diff.error, diff.answer], ['accounts', 'replicate', 'SWY_DIVERGENCE', '502']);
  } finally {
    await admin.close();
    await yard.close({ drainTimeout: 0 });
    await Promise.all([v1.close(), v2.close()]);
  }
});

test('config: the traffic key sets the tail; a hot reload changing only it updates the listener in place; bad values are refused', async () => {
  const echo = await startEchoServer();
  const raw = (traffic: Record<string, unknown>): Record<string, unknown> => ({
    listeners: [{ id: 'raw', listen: '127.0.0.1:0', traffic }],
    clusters: [{ id: 'echo', endpoints: [`127.0.0.1:${echo.port}`] }],
    routes: [{ id: 'r', listener: 'raw', cluster: 'echo' }],
  });
  const framers = createFramerRegistry();
  const yard = await startYard(raw({ enabled: true, keep: 5 }));
  try {
    const before = yard.listeners.get('raw') as TcpListener;
    assert.deepEqual(before.traffic.settings(), { enabled: true, perSecond: 50, keep: 5 });
    const next = validateConfig(raw({ enabled: false, perSecond: 7, keep: 9 }), framers);
    assert.ok(next.ok);
    const plan = await applyConfig(yard, next.config);
    assert.equal(JSON.stringify(plan).includes('"update"'), true, JSON.stringify(plan));
    const after = yard.listeners.get('raw') as TcpListener;
    assert.equal(after, before, 'the same listener (updated in place)');
    assert.deepEqual(after.traffic.settings(), { enabled: false, perSecond: 7, keep: 9 });
    const bad = validateConfig(raw({ enabled: 'yes', keep: 0, every: 1 }), framers);
    assert.equal(bad.ok, false);
    const paths = bad.ok ? [] : bad.errors.map((e) => e.path);
    for (const p of ['listeners[0].traffic.enabled', 'listeners[0].traffic.keep']) assert.ok(paths.some((x) => x.startsWith(p)), `${p} in ${paths.join(', ')}`);
  } finally {
    await yard.close();
    await echo.close();
  }
});
