/**
 * The native admin API (src/admin/server.ts) against a real in-process Switchyard: real loopback TCP
 * through the proxy, real HTTP through global fetch, no mocks. Every test closes what it starts.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { AdminServer } from '../../src/admin/server.js';
import { validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { connect, readAll, closeOutcome, eventually, type TestServer } from '../helpers/net.js';
import { startAdminStack, stopAdminStack, LOOPBACK, type AdminStack } from '../helpers/admin.js';

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/** A listener, cluster or route as the admin API shows it (the members these tests read). */
interface Resource {
  id: string;
  kind: string;
  state: string;
  startedAt: string | null;
  stoppedAt: string | null;
  address?: { kind: string; port?: number } | null;
  config: {
    id: string;
    transport: string;
    listen: unknown;
    idleTimeout: number;
    connectTimeout: number;
    framing: { toUpstream: { type: string } };
    endpoints: Array<{ address: unknown }>;
  };
  stats: { active: number; total: number; bytesToUpstream: number; bytesToDownstream: number; errors: unknown };
  endpoints: unknown;
}

/** A JSON object body: a resource, the health report or the error envelope. */
interface Body extends Resource {
  status: string;
  listeners: number;
  failed: unknown;
  error: { code: string; message: string; issues: Array<{ path: string; code: string }> };
}

interface Reply<T = Body> {
  status: number;
  headers: Headers;
  /** Parsed JSON body (undefined for an empty body). */
  body: T;
}

async function startAdmin(yard: Switchyard, token?: string): Promise<AdminServer> {
  return AdminServer.start(yard, { listen: LOOPBACK, token });
}

/** One admin call. `body` is sent as JSON (objects) or as is (strings). */
async function call<T = Body>(admin: AdminServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (typeof body !== 'string') (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(admin.url + path, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

/** The error shape every failure uses: {"error": {"code", "message"}}. */
function assertError(reply: Reply, status: number, code: string, message?: RegExp): void {
  assert.equal(reply.status, status, `status (body: ${JSON.stringify(reply.body)})`);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(typeof reply.body?.error, 'object', 'body has an "error" object');
  assert.equal(reply.body.error.code, code);
  assert.equal(typeof reply.body.error.message, 'string');
  assert.ok(reply.body.error.message.length > 0);
  if (message) assert.match(reply.body.error.message, message);
}

function assertIsoDate(value: unknown, what: string): void {
  assert.equal(typeof value, 'string', `${what} is a string`);
  assert.equal(new Date(value as string).toISOString(), value, `${what} is an ISO-8601 timestamp`);
}

/** Send `payload` through an echo proxy on `port`, half-close, and return what came back. */
async function echoThrough(port: number, payload: string | Buffer): Promise<Buffer> {
  const socket = await connect(port);
  const got = readAll(socket);
  socket.end(payload);
  const reply = await got;
  socket.destroy();
  return reply;
}

/** Write `data` on an open connection and wait until `data.length` bytes came back. */
async function exchange(socket: net.Socket, data: string): Promise<string> {
  let got = '';
  const done = new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer): void => {
      got += c.toString();
      if (got.length >= data.length) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  socket.write(data);
  await done;
  return got;
}

function portOf(obj: { address?: { kind: string; port?: number } | null }): number {
  assert.equal(obj.address?.kind, 'tcp');
  return obj.address.port!;
}

// ---------------------------------------------------------------------------------------------------------------

describe('admin API: inspecting run-time objects', () => {
  let stack: AdminStack;
  let echo: TestServer;
  let yard: Switchyard;
  let port: number;
  let admin: AdminServer;

  before(async () => {
    stack = await startAdminStack();
    ({ echo, yard, port, admin } = stack);
    assert.equal((await echoThrough(port, 'hello switchyard')).toString(), 'hello switchyard');
    await eventually(() => yard.listeners.get('l1')!.stats.active === 0, 'session closed');
  });
  after(() => stopAdminStack(stack));

  test('the admin API binds to loopback', () => {
    assert.deepEqual(admin.address?.kind, 'tcp');
    assert.match(admin.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('GET /api/v1/listeners lists the running listener with state, timestamps, config and stats', async () => {
    const r = await call<Resource[]>(admin, 'GET', '/api/v1/listeners');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.ok(Array.isArray(r.body), 'a list endpoint returns a JSON array');
    assert.equal(r.body.length, 1);
    const l = r.body[0]!;
    assert.equal(l.id, 'l1');
    assert.equal(l.kind, 'listener');
    assert.equal(l.state, 'started');
    assertIsoDate(l.startedAt, 'startedAt');
    assert.equal(l.stoppedAt, null);
    assert.equal(portOf(l), port);
    // The normalised config: addresses parsed, defaults applied.
    assert.equal(l.config.id, 'l1');
    assert.equal(l.config.transport, 'tcp');
    assert.deepEqual(l.config.listen, { kind: 'tcp', host: '127.0.0.1', port: 0 });
    assert.equal(l.config.framing.toUpstream.type, 'passthrough');
    // Live stats from the traffic sent in before().
    assert.equal(l.stats.active, 0);
    assert.equal(l.stats.total, 1);
    assert.equal(l.stats.bytesToUpstream, 'hello switchyard'.length);
    assert.equal(l.stats.bytesToDownstream, 'hello switchyard'.length);
    assert.deepEqual(l.stats.errors, {});
  });

  test('GET /api/v1/listeners/:id returns the same object', async () => {
    const list = await call<Resource[]>(admin, 'GET', '/api/v1/listeners');
    const one = await call(admin, 'GET', '/api/v1/listeners/l1');
    assert.equal(one.status, 200);
    assert.ok(!Array.isArray(one.body));
    assert.deepEqual(one.body, list.body[0]);
  });

  test('clusters and routes are listed and fetched the same way', async () => {
    const clusters = await call<Resource[]>(admin, 'GET', '/api/v1/clusters');
    assert.equal(clusters.status, 200);
    assert.deepEqual(clusters.body.map((c: { id: string }) => c.id), ['c1']);
    const c = (await call(admin, 'GET', '/api/v1/clusters/c1')).body;
    assert.equal(c.state, 'started');
    assertIsoDate(c.startedAt, 'cluster startedAt');
    assert.deepEqual(c.config.endpoints, [{ address: { kind: 'tcp', host: '127.0.0.1', port: echo.port }, weight: 1 }]);
    assert.equal(c.config.connectTimeout, 5000);
    assert.deepEqual(c.endpoints, [
      { address: `127.0.0.1:${echo.port}`, weight: 1, active: 0, health: 'unknown', ejected: false, ejectedUntil: null, timesEjected: 0, lastCheck: null },
    ]);
    assert.equal((c as unknown as { panic: boolean }).panic, false);
    assert.deepEqual((c as unknown as { counters: unknown }).counters, { retries: 0, panics: 0, ejections: 0, dnsFailures: 0 });
    assert.equal(c.stats.total, 1);

    const routes = await call(admin, 'GET', '/api/v1/routes');
    assert.equal(routes.status, 200);
    assert.ok(Array.isArray(routes.body));
    const r = (await call(admin, 'GET', '/api/v1/routes/r1')).body;
    assert.equal(r.state, 'started');
    assert.deepEqual(r.config, { id: 'r1', listener: 'l1', cluster: 'c1' });
    assert.equal(r.stats.bytesToUpstream, 'hello switchyard'.length);
  });

  test('a trailing slash and HEAD work on collections', async () => {
    const r = await call<Resource[]>(admin, 'GET', '/api/v1/listeners/');
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 1);
    const head = await fetch(`${admin.url}/api/v1/listeners/l1`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  test('an unknown id is 404 with the error shape, for every kind', async () => {
    for (const kind of ['listeners', 'clusters', 'routes']) {
      const r = await call(admin, 'GET', `/api/v1/${kind}/nope`);
      assertError(r, 404, 'SWY_NOT_FOUND', /'nope' not found/);
    }
  });
});

describe('admin API: creating objects with POST', () => {
  let stack: AdminStack;
  let echo: TestServer;
  let port: number;
  let admin: AdminServer;

  before(async () => {
    stack = await startAdminStack();
    ({ echo, port, admin } = stack);
  });
  after(() => stopAdminStack(stack));

  test('POST a cluster, a route and a listener (as a user writes them) → 201, then traffic flows', async () => {
    // Addresses and durations as strings, defaults left out: the same shapes as in a config file.
    const cluster = await call(admin, 'POST', '/api/v1/clusters', {
      id: 'api-backends',
      endpoints: [`127.0.0.1:${echo.port}`],
      connectTimeout: '2s',
    });
    assert.equal(cluster.status, 201, JSON.stringify(cluster.body));
    assert.equal(cluster.body.id, 'api-backends');
    assert.equal(cluster.body.state, 'started');
    assert.equal(cluster.body.config.connectTimeout, 2000);
    assert.deepEqual(cluster.body.config.endpoints[0]!.address, { kind: 'tcp', host: '127.0.0.1', port: echo.port });

    const route = await call(admin, 'POST', '/api/v1/routes', { id: 'api', listener: 'api-front', cluster: 'api-backends' });
    assert.equal(route.status, 201, JSON.stringify(route.body));
    assert.equal(route.body.state, 'started');

    const listener = await call(admin, 'POST', '/api/v1/listeners', {
      id: 'api-front',
      listen: '127.0.0.1:0',
      idleTimeout: '1m',
      framing: 'passthrough',
    });
    assert.equal(listener.status, 201, JSON.stringify(listener.body));
    assert.equal(listener.body.id, 'api-front');
    assert.equal(listener.body.state, 'started');
    assertIsoDate(listener.body.startedAt, 'startedAt');
    assert.equal(listener.body.config.idleTimeout, 60_000);
    const newPort = portOf(listener.body);
    assert.notEqual(newPort, 0);

    const payload = Buffer.alloc(64 * 1024, 'x');
    assert.ok((await echoThrough(newPort, payload)).equals(payload));

    // On the splice path byte counts reach JS as the addon's records arrive, a moment after the echo completed.
    let l = (await call(admin, 'GET', '/api/v1/listeners/api-front')).body;
    for (let i = 0; i < 100 && l.stats.bytesToDownstream < payload.length; i++) {
      await new Promise((r) => setTimeout(r, 50));
      l = (await call(admin, 'GET', '/api/v1/listeners/api-front')).body;
    }
    assert.equal(l.stats.total, 1);
    assert.equal(l.stats.bytesToUpstream, payload.length);
    assert.equal(l.stats.bytesToDownstream, payload.length);
    const ids = (await call<Resource[]>(admin, 'GET', '/api/v1/listeners')).body.map((x: { id: string }) => x.id).sort();
    assert.deepEqual(ids, ['api-front', 'l1']);
  });

  test('an unknown key → 400 SWY_CONFIG_INVALID naming the key path, with a did-you-mean', async () => {
    const r = await call(admin, 'POST', '/api/v1/listeners', { id: 'typo', listen: '127.0.0.1:0', socket: { noDelai: true } });
    assertError(r, 400, 'SWY_CONFIG_INVALID', /socket\.noDelai: unknown key \(did you mean "noDelay"\?\)/);
    assert.deepEqual(
      r.body.error.issues.map((i: { path: string; code: string }) => [i.path, i.code]),
      [['socket.noDelai', 'unknown_key']],
    );

    const top = await call(admin, 'POST', '/api/v1/clusters', { id: 'typo', endpoint: ['127.0.0.1:1'] });
    assertError(top, 400, 'SWY_CONFIG_INVALID', /endpoint: unknown key \(did you mean "endpoints"\?\)/);
    assert.equal((await call(admin, 'GET', '/api/v1/listeners/typo')).status, 404, 'nothing was created');
    assert.equal((await call(admin, 'GET', '/api/v1/clusters/typo')).status, 404, 'nothing was created');
  });

  test('a bad value → 400 naming the path and what was expected', async () => {
    const r = await call(admin, 'POST', '/api/v1/clusters', { id: 'bad', endpoints: ['127.0.0.1:1'], connectTimeout: '2 secs' });
    assertError(r, 400, 'SWY_CONFIG_INVALID', /connectTimeout: expected a duration/);
  });

  test('a duplicate id → 409 SWY_CONFLICT, for every kind', async () => {
    assertError(await call(admin, 'POST', '/api/v1/clusters', { id: 'c1', endpoints: ['127.0.0.1:1'] }), 409, 'SWY_CONFLICT', /cluster 'c1' already exists/);
    assertError(await call(admin, 'POST', '/api/v1/routes', { id: 'r1', listener: 'other', cluster: 'c1' }), 409, 'SWY_CONFLICT', /route 'r1' already exists/);
    assertError(await call(admin, 'POST', '/api/v1/listeners', { id: 'l1', listen: '127.0.0.1:0' }), 409, 'SWY_CONFLICT', /listener 'l1' already exists/);
    // A second route for a listener is fine (tried after the first); a match key the listener cannot route on is not.
    assertError(await call(admin, 'POST', '/api/v1/routes', { id: 'r1b', listener: 'l1', cluster: 'c1', match: { path: '/x/*' } }), 400, 'SWY_BAD_REQUEST', /match\.path: unknown route match key "path"/);
  });

  test('invalid JSON → 400 SWY_BAD_REQUEST; an empty body → 400', async () => {
    assertError(await call(admin, 'POST', '/api/v1/clusters', '{"id": "x",', { 'content-type': 'application/json' }), 400, 'SWY_BAD_REQUEST', /not valid JSON/);
    assertError(await call(admin, 'POST', '/api/v1/clusters', '', { 'content-type': 'application/json' }), 400, 'SWY_BAD_REQUEST', /empty/);
    // Valid JSON of the wrong shape is a config error.
    assertError(await call(admin, 'POST', '/api/v1/clusters', '[1, 2]', { 'content-type': 'application/json' }), 400, 'SWY_CONFIG_INVALID', /expected an object/);
  });

  test('a body must be labelled application/json: curl -d, fetch() text and YAML → 415, nothing created (issue 10 §1)', async () => {
    // curl -d '...' sends application/x-www-form-urlencoded, fetch() with a string body text/plain: both are what
    // a cross-site form or fetch can send without a preflight, so they are refused now.
    const form = await call(admin, 'POST', '/api/v1/clusters', JSON.stringify({ id: 'curl-style', endpoints: ['127.0.0.1:1'] }), {
      'content-type': 'application/x-www-form-urlencoded',
    });
    assertError(form, 415, 'SWY_BAD_REQUEST', /application\/json/);
    const plain = await call(admin, 'POST', '/api/v1/clusters', JSON.stringify({ id: 'fetch-style', endpoints: ['127.0.0.1:1'] }));
    assertError(plain, 415, 'SWY_BAD_REQUEST', /application\/json, got text\/plain/);
    const yaml = await call(admin, 'POST', '/api/v1/clusters', 'id: y\nendpoints: [127.0.0.1:1]\n', { 'content-type': 'application/yaml' });
    assertError(yaml, 415, 'SWY_BAD_REQUEST', /application\/json/);
    for (const id of ['curl-style', 'fetch-style']) assert.equal((await call(admin, 'GET', `/api/v1/clusters/${id}`)).status, 404);
  });

  test('a listener on a port already in use → 409 with a clear message; the yard keeps serving', async () => {
    const busy = await call(admin, 'POST', '/api/v1/listeners', { id: 'clash', listen: `127.0.0.1:${port}` });
    assertError(busy, 409, 'SWY_LISTEN_FAILED', new RegExp(`listener 'clash'.*address already in use 127\\.0\\.0\\.1:${port}`));
    assert.equal((await call(admin, 'GET', '/api/v1/listeners/clash')).status, 404, 'the failed listener is not kept');
    const health = await call(admin, 'GET', '/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    assert.equal((await echoThrough(port, 'still here')).toString(), 'still here');
    assert.equal((await call(admin, 'GET', '/api/v1/listeners/l1')).body.state, 'started');
    // The id is free again: the same listener on a free port starts.
    const ok = await call(admin, 'POST', '/api/v1/listeners', { id: 'clash', listen: '127.0.0.1:0' });
    assert.equal(ok.status, 201);
    assert.equal((await call(admin, 'DELETE', '/api/v1/listeners/clash')).status, 200);
  });

  test('a route to a missing cluster → 400 naming the cluster', async () => {
    const r = await call(admin, 'POST', '/api/v1/routes', { id: 'orphan', listener: 'somewhere', cluster: 'no-such-cluster' });
    assertError(r, 400, 'SWY_BAD_REQUEST', /cluster 'no-such-cluster' does not exist/);
    assert.equal((await call(admin, 'GET', '/api/v1/routes/orphan')).status, 404);
  });
});

describe('admin API: deleting objects', () => {
  let stack: AdminStack;
  let echo: TestServer;
  let yard: Switchyard;
  let port: number;
  let admin: AdminServer;

  before(async () => {
    stack = await startAdminStack();
    ({ echo, yard, port, admin } = stack);
  });
  after(() => stopAdminStack(stack));

  test('bad ?drain=abc → 400 and the listener keeps running', async () => {
    assertError(await call(admin, 'DELETE', '/api/v1/listeners/l1?drain=abc'), 400, 'SWY_BAD_REQUEST', /drain: expected a duration/);
    assertError(await call(admin, 'DELETE', '/api/v1/listeners/l1?drain=-1s'), 400, 'SWY_BAD_REQUEST', /drain/);
    assert.equal((await call(admin, 'GET', '/api/v1/listeners/l1')).body.state, 'started');
    assert.equal((await echoThrough(port, 'ping')).toString(), 'ping');
  });

  test('DELETE an unknown id → 404, for every kind', async () => {
    for (const kind of ['listeners', 'clusters', 'routes']) {
      assertError(await call(admin, 'DELETE', `/api/v1/${kind}/ghost`), 404, 'SWY_NOT_FOUND', /'ghost' not found/);
    }
  });

  test('DELETE a cluster still used by a route → 409; after the route is gone it can go', async () => {
    assertError(await call(admin, 'DELETE', '/api/v1/clusters/c1'), 409, 'SWY_CONFLICT', /used by route\(s\) r1/);
    assert.equal((await call(admin, 'GET', '/api/v1/clusters/c1')).body.state, 'started');

    // A second cluster + route on their own, so l1 keeps its route for the drain test below.
    assert.equal((await call(admin, 'POST', '/api/v1/clusters', { id: 'c2', endpoints: [`127.0.0.1:${echo.port}`] })).status, 201);
    assert.equal((await call(admin, 'POST', '/api/v1/routes', { id: 'r2', listener: 'not-yet', cluster: 'c2' })).status, 201);
    assertError(await call(admin, 'DELETE', '/api/v1/clusters/c2'), 409, 'SWY_CONFLICT', /r2/);
    const route = await call(admin, 'DELETE', '/api/v1/routes/r2');
    assert.equal(route.status, 200);
    assert.equal(route.body.state, 'stopped');
    assertIsoDate(route.body.stoppedAt, 'route stoppedAt');
    const cluster = await call(admin, 'DELETE', '/api/v1/clusters/c2');
    assert.equal(cluster.status, 200);
    assert.equal(cluster.body.id, 'c2');
    assert.equal(cluster.body.state, 'stopped');
    assertIsoDate(cluster.body.stoppedAt, 'cluster stoppedAt');
    assert.equal((await call(admin, 'GET', '/api/v1/clusters/c2')).status, 404);
  });

  test('DELETE a listener with ?drain=20s: the open connection works until it ends, then 200 stopped', async () => {
    const client = await connect(port);
    const outcome = closeOutcome(client);
    assert.equal(await exchange(client, 'before'), 'before');

    const started = Date.now();
    let settled = false;
    const deletion = call(admin, 'DELETE', '/api/v1/listeners/l1?drain=20s').finally(() => (settled = true));

    // While draining: the listener is 'stopping', refuses new connections, and the old one still works.
    await eventually(() => yard.listeners.get('l1')?.state === 'stopping', 'listener stopping');
    const during = await call(admin, 'GET', '/api/v1/listeners/l1');
    assert.equal(during.body.state, 'stopping');
    const refused = net.connect({ port, host: '127.0.0.1' });
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(await exchange(client, 'during drain'), 'during drain');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await exchange(client, 'still during drain'), 'still during drain');
    assert.equal(settled, false, 'DELETE waits for the connection');

    // The client ends; the proxy forwards the FIN, the echo server ends too, the session closes.
    client.end();
    assert.equal(await outcome, undefined, 'the connection closed cleanly');
    const r = await deletion;
    const elapsed = Date.now() - started;
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.id, 'l1');
    assert.equal(r.body.state, 'stopped');
    assertIsoDate(r.body.stoppedAt, 'stoppedAt');
    assert.ok(Date.parse(r.body.stoppedAt!) >= Date.parse(r.body.startedAt!));
    assert.ok(elapsed < 15_000, `DELETE returned when the connection ended (${elapsed} ms), not at the drain timeout`);
    assert.equal(r.body.stats.total, 2, "the earlier test's ping and this connection (the refused one never reached it)");
    assert.equal(r.body.stats.active, 0);
    assertError(await call(admin, 'GET', '/api/v1/listeners/l1'), 404, 'SWY_NOT_FOUND');
  });

  test('DELETE a listener with ?drain=300ms closes connections still open at the deadline', async () => {
    const created = await call(admin, 'POST', '/api/v1/listeners', { id: 'l1', listen: '127.0.0.1:0' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // allowHalfOpen false: the proxy's FIN closes this socket too (else it would wait half-open for our end()).
    const client = await connect(portOf(created.body), '127.0.0.1', false);
    const outcome = closeOutcome(client);
    assert.equal(await exchange(client, 'hi'), 'hi');
    const started = Date.now();
    const r = await call(admin, 'DELETE', '/api/v1/listeners/l1?drain=300ms');
    const elapsed = Date.now() - started;
    assert.equal(r.status, 200);
    assert.equal(r.body.state, 'stopped');
    assert.ok(elapsed >= 250, `waited for the drain timeout (${elapsed} ms)`);
    assert.ok(elapsed < 10_000, `did not wait much longer (${elapsed} ms)`);
    await outcome; // closed by the proxy at the deadline
  });

  test('a second DELETE while draining waits for the first; the id stays taken until the listener stopped', async () => {
    const created = await call(admin, 'POST', '/api/v1/listeners', { id: 'l1', listen: '127.0.0.1:0' });
    assert.equal(created.status, 201);
    const client = await connect(portOf(created.body));
    assert.equal(await exchange(client, 'hi'), 'hi');
    const first = call(admin, 'DELETE', '/api/v1/listeners/l1?drain=5s');
    await eventually(() => yard.listeners.get('l1')?.state === 'stopping', 'listener stopping');
    let secondDone = false;
    const second = call(admin, 'DELETE', '/api/v1/listeners/l1').then((r) => ((secondDone = true), r));
    // the id is still in use while draining: a POST with it conflicts instead of racing the stop
    assertError(await call(admin, 'POST', '/api/v1/listeners', { id: 'l1', listen: '127.0.0.1:0' }), 409, 'SWY_CONFLICT');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(secondDone, false, 'the second DELETE waits for the stop in progress');
    client.end();
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.body.state, 'stopped');
    assert.equal(b.body.state, 'stopped');
    assert.equal(yard.listeners.has('l1'), false);
  });

  test('DELETE a listener without drain closes open connections at once', async () => {
    const created = await call(admin, 'POST', '/api/v1/listeners', { id: 'l1', listen: '127.0.0.1:0' });
    assert.equal(created.status, 201);
    // allowHalfOpen false: the proxy's FIN closes this socket too (else it would wait half-open for our end()).
    const client = await connect(portOf(created.body), '127.0.0.1', false);
    const outcome = closeOutcome(client);
    assert.equal(await exchange(client, 'hi'), 'hi');
    const r = await call(admin, 'DELETE', '/api/v1/listeners/l1');
    assert.equal(r.status, 200);
    assert.equal(r.body.state, 'stopped');
    await outcome;
    assert.equal((await call<Resource[]>(admin, 'GET', '/api/v1/listeners')).body.length, 0);
  });
});

describe('admin API: HTTP protocol details', () => {
  let stack: AdminStack;
  let admin: AdminServer;

  before(async () => {
    stack = await startAdminStack();
    ({ admin } = stack);
  });
  after(() => stopAdminStack(stack));

  test('GET /healthz → 200 {"status":"ok"}', async () => {
    const r = await call(admin, 'GET', '/healthz');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(r.body.status, 'ok');
    assert.equal(r.body.listeners, 1);
    assert.deepEqual(r.body.failed, []);
  });

  test('a method not allowed → 405 with an Allow header and the JSON error', async () => {
    const cases: Array<[string, string, string]> = [
      ['PUT', '/api/v1/listeners', 'GET, HEAD, POST'],
      ['DELETE', '/api/v1/clusters', 'GET, HEAD, POST'],
      ['POST', '/api/v1/listeners/l1', 'GET, HEAD, DELETE'],
      ['PATCH', '/api/v1/routes/r1', 'GET, HEAD, DELETE'],
      ['POST', '/healthz', 'GET, HEAD'],
      ['DELETE', '/metrics', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const r = await call(admin, method, path);
      assertError(r, 405, 'SWY_BAD_REQUEST', new RegExp(`method ${method} not allowed`));
      assert.equal(r.headers.get('allow'), allow, `${method} ${path}`);
    }
    assert.equal((await call(admin, 'GET', '/api/v1/listeners/l1')).body.state, 'started', 'POST on an item did nothing');
  });

  test('an unknown path → 404 with the JSON error', async () => {
    // `/` is the index of endpoints (issue 10 §7), not a 404 any more.
    for (const path of ['/nope', '/api', '/api/v1', '/api/v2/listeners', '/api/v1/widgets', '/api/v1/listeners/l1/stats', '/healthz/x']) {
      assertError(await call(admin, 'GET', path), 404, 'SWY_NOT_FOUND');
    }
  });

  test('malformed percent-encoding in the path → 400, not 500', async () => {
    assertError(await call(admin, 'GET', '/api/v1/listeners/%E0%A4%A'), 400, 'SWY_BAD_REQUEST', /percent-encoding/);
    // Well-formed encoding is decoded: l%31 is l1.
    assert.equal((await call(admin, 'GET', '/api/v1/listeners/l%31')).body.id, 'l1');
  });
});

describe('admin API: bearer token', () => {
  const TOKEN = 's3cret-token';
  let stack: AdminStack;
  let yard: Switchyard;
  let admin: AdminServer;

  before(async () => {
    stack = await startAdminStack(TOKEN);
    ({ yard, admin } = stack);
  });
  after(() => stopAdminStack(stack));

  for (const path of ['/healthz', '/metrics', '/api/v1/listeners', '/api/v1/listeners/l1', '/no/such/path']) {
    test(`${path}: no token → 401 with WWW-Authenticate, wrong token → 401, right token → through`, async () => {
      const none = await call(admin, 'GET', path);
      assertError(none, 401, 'SWY_UNAUTHORIZED', /missing bearer token/);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="switchyard"');

      const wrong = await call(admin, 'GET', path, undefined, { authorization: 'Bearer not-the-token' });
      assertError(wrong, 401, 'SWY_UNAUTHORIZED', /invalid bearer token/);
      assert.equal(wrong.headers.get('www-authenticate'), 'Bearer realm="switchyard"');

      const basic = await call(admin, 'GET', path, undefined, { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` });
      assert.equal(basic.status, 401, 'only the Bearer scheme is accepted');

      const res = await fetch(admin.url + path, { headers: { authorization: `Bearer ${TOKEN}` } });
      await res.arrayBuffer();
      assert.equal(res.status, path === '/no/such/path' ? 404 : 200);
    });
  }

  test('a POST or DELETE without the token changes nothing', async () => {
    assertError(await call(admin, 'POST', '/api/v1/clusters', { id: 'sneaky', endpoints: ['127.0.0.1:1'] }), 401, 'SWY_UNAUTHORIZED');
    assertError(await call(admin, 'DELETE', '/api/v1/routes/r1'), 401, 'SWY_UNAUTHORIZED');
    assert.equal(yard.clusters.has('sneaky'), false);
    assert.equal(yard.routes.get('r1')?.state, 'started');
    const auth = { authorization: `Bearer ${TOKEN}` };
    const created = await call(admin, 'POST', '/api/v1/clusters', { id: 'allowed', endpoints: ['127.0.0.1:1'] }, auth);
    assert.equal(created.status, 201);
    assert.equal((await call(admin, 'DELETE', '/api/v1/clusters/allowed', undefined, auth)).status, 200);
  });

  test('the token can come from SWITCHYARD_ADMIN_TOKEN (as the CLI configures the admin API)', async () => {
    const framers = createFramerRegistry();
    const result = validateConfig({ admin: { listen: '127.0.0.1:0' } }, framers, { env: { SWITCHYARD_ADMIN_TOKEN: 'from-env' } });
    assert.ok(result.ok);
    const cfg = result.config.admin!;
    assert.equal(cfg.token, 'from-env');
    const envAdmin = await AdminServer.start(yard, { listen: cfg.listen, token: cfg.token });
    try {
      assert.equal((await call(envAdmin, 'GET', '/healthz')).status, 401);
      assert.equal((await call(envAdmin, 'GET', '/healthz', undefined, { authorization: 'Bearer from-env' })).status, 200);
    } finally {
      await envAdmin.close();
    }
  });

  test('without a token configured, no Authorization is needed', async () => {
    const open = await startAdmin(yard);
    try {
      assert.equal((await call(open, 'GET', '/healthz')).status, 200);
    } finally {
      await open.close();
    }
  });
});
