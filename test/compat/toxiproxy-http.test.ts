import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { startEchoServer, closeOutcome } from '../helpers/net.js';
import { VERSION } from '../../src/core/version.js';
import { call, connectError, portOf, roundTrip, startApi } from './toxiproxy-helpers.js';

type Json = Record<string, unknown>;

/** An error answered the Toxiproxy way: `{"error","status"}\n` as text/plain (Go's http.Error). */
function assertError(r: { status: number; headers: Headers; text: string }, status: number, error: string | RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.ok(r.text.endsWith('}\n'), `trailing newline: ${JSON.stringify(r.text)}`);
  const body = JSON.parse(r.text) as { error: string; status: number };
  assert.deepEqual(Object.keys(body), ['error', 'status']);
  assert.equal(body.status, status);
  if (typeof error === 'string') assert.equal(body.error, error);
  else assert.match(body.error, error);
}

async function setup(t: import('node:test').TestContext) {
  const echo = await startEchoServer();
  const h = await startApi();
  t.after(async () => {
    await h.close();
    await echo.close();
  });
  const upstream = `127.0.0.1:${echo.port}`;
  return { ...h, echo, upstream, u: (p: string) => `${h.url}${p}` };
}

test('proxies: routes, status codes, body shapes and Toxiproxy error messages', async (t) => {
  const { u, upstream } = await setup(t);

  let r = await call(u('/proxies'), 'GET');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.match(r.headers.get('x-toxiproxy-request-id') ?? '', /^[0-9a-v]{20}$/);
  assert.deepEqual(r.json(), {});

  r = await call(u('/proxies'), 'POST', { name: 'p1', listen: '127.0.0.1:0', upstream, extra: 'ignored' });
  assert.equal(r.status, 201);
  const p1 = r.json() as Json;
  assert.deepEqual(Object.keys(p1), ['name', 'listen', 'upstream', 'enabled', 'toxics']);
  assert.equal(p1['upstream'], upstream);
  assert.equal(p1['enabled'], true);
  assert.deepEqual(p1['toxics'], []);
  const port = portOf(p1['listen'] as string);
  assert.ok(port > 0);
  await roundTrip(port);

  assertError(await call(u('/proxies'), 'POST', { name: 'p1', listen: '127.0.0.1:0', upstream }), 409, 'proxy already exists');
  assertError(await call(u('/proxies'), 'POST', { listen: '127.0.0.1:0', upstream }), 400, 'missing required field: name');
  assertError(await call(u('/proxies'), 'POST', { name: 'p2' }), 400, 'missing required field: upstream');
  assertError(await call(u('/proxies'), 'POST', '{"name": '), 400, /^bad request body: /);
  assertError(await call(u('/proxies'), 'POST', ''), 400, 'bad request body: EOF');
  assertError(await call(u('/proxies'), 'POST', { name: 'p2', upstream, listen: 5 }), 400, /^bad request body: .*listen/);
  assertError(await call(u('/proxies'), 'POST', '[1]'), 400, /^bad request body: .*array/);
  assertError(await call(u('/proxies'), 'POST', { name: 'has space', upstream }), 400, /invalid proxy name .*listener id/);
  assertError(await call(u('/proxies'), 'POST', { name: 'p2', upstream: 'no-port' }), 400, /^invalid upstream/);

  // A listen error is a 500 with the error text (Toxiproxy: `listen tcp ...: bind: address already in use`).
  const busy = net.createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  t.after(() => busy.close());
  const busyPort = (busy.address() as net.AddressInfo).port;
  assertError(await call(u('/proxies'), 'POST', { name: 'p2', listen: `127.0.0.1:${busyPort}`, upstream }), 500, /EADDRINUSE|in use/);
  assert.deepEqual(Object.keys((await call(u('/proxies'), 'GET')).json() as Json), ['p1'], 'a failed create leaves nothing behind');

  // Missing listen: 127.0.0.1 with an ephemeral port. Created disabled: listen keeps the configured port 0.
  r = await call(u('/proxies'), 'POST', { name: 'p3', upstream });
  assert.match((r.json() as Json)['listen'] as string, /^127\.0\.0\.1:[1-9]\d*$/);
  r = await call(u('/proxies'), 'POST', { name: 'off', upstream, enabled: false });
  assert.equal(r.status, 201);
  assert.deepEqual(r.json(), { name: 'off', listen: '127.0.0.1:0', upstream, enabled: false, toxics: [] });

  r = await call(u('/proxies/p1'), 'GET');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json(), p1);
  assertError(await call(u('/proxies/nope'), 'GET'), 404, 'proxy not found');
  assertError(await call(u('/proxies/nope'), 'PATCH', { enabled: false }), 404, 'proxy not found');
  assertError(await call(u('/proxies/nope'), 'DELETE'), 404, 'proxy not found');

  // PATCH and POST both update; `name` is ignored (no rename).
  r = await call(u('/proxies/p1'), 'PATCH', { enabled: false, name: 'renamed' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json(), { ...p1, enabled: false });
  assert.equal(await connectError(port), 'ECONNREFUSED');
  r = await call(u('/proxies/p1'), 'POST', { enabled: true });
  assert.deepEqual(r.json(), p1);
  await roundTrip(port);
  assertError(await call(u('/proxies/p1'), 'PATCH', { enabled: 'yes' }), 400, /^bad request body: .*enabled/);

  // The same listen and upstream sent back: nothing restarts (a live connection survives).
  const live = net.connect({ port, host: '127.0.0.1' });
  await once(live, 'connect');
  const outcome = closeOutcome(live);
  r = await call(u('/proxies/p1'), 'POST', { listen: p1['listen'], upstream });
  assert.equal(r.status, 200);
  assert.equal(live.destroyed, false);

  // A new upstream restarts the proxy on the same port: live connections closed, toxics kept.
  await call(u('/proxies/p1/toxics'), 'POST', { type: 'noop' });
  const echo2 = await startEchoServer();
  t.after(() => echo2.close());
  r = await call(u('/proxies/p1'), 'PATCH', { upstream: `127.0.0.1:${echo2.port}` });
  assert.equal(r.status, 200);
  assert.equal((r.json() as Json)['listen'], p1['listen']);
  assert.equal((r.json() as Json)['upstream'], `127.0.0.1:${echo2.port}`);
  assert.equal(((r.json() as Json)['toxics'] as unknown[]).length, 1);
  await outcome;
  assert.ok(echo2.server.listening);
  await roundTrip(port);

  // A new listen moves it.
  r = await call(u('/proxies/p1'), 'PATCH', { listen: '127.0.0.1:0' });
  assert.equal((r.json() as Json)['listen'], p1['listen'], 'port 0 again = the same (already bound) address');
  r = await call(u('/proxies/p1'), 'PATCH', { listen: 'localhost:0' });
  const moved = portOf((r.json() as Json)['listen'] as string);
  assert.notEqual(moved, port);
  assert.equal(await connectError(port), 'ECONNREFUSED');
  await roundTrip(moved);
  assertError(await call(u('/proxies/p1'), 'PATCH', { listen: `127.0.0.1:${busyPort}` }), 500, /EADDRINUSE|in use/);
  await roundTrip(moved);

  r = await call(u('/proxies/p1'), 'DELETE');
  assert.equal(r.status, 204);
  assert.equal(r.text, '');
  assert.equal(await connectError(moved), 'ECONNREFUSED');
  assertError(await call(u('/proxies/p1'), 'DELETE'), 404, 'proxy not found');
  // A new proxy of the same name starts clean (no toxics from before).
  r = await call(u('/proxies'), 'POST', { name: 'p1', upstream });
  assert.deepEqual((r.json() as Json)['toxics'], []);
});

test('toxics: defaults, echoed stream, unknown keys ignored, wrong types, merge on update, order, errors', async (t) => {
  const { u, upstream } = await setup(t);
  await call(u('/proxies'), 'POST', { name: 'p', upstream });

  let r = await call(u('/proxies/p/toxics'), 'POST', { type: 'latency', attributes: { latency: 100, bogus: 1 } });
  assert.equal(r.status, 200, 'toxic create answers 200, not 201');
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal(r.text, '{"attributes":{"latency":100,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}');

  r = await call(u('/proxies/p/toxics'), 'POST', { type: 'latency', stream: 'UPSTREAM', toxicity: 0.5, attributes: { latency: 50 } });
  assert.deepEqual(r.json(), { attributes: { latency: 50, jitter: 0 }, name: 'latency_UPSTREAM', type: 'latency', stream: 'UPSTREAM', toxicity: 0.5 });
  await call(u('/proxies/p/toxics'), 'POST', { name: 'bw', type: 'bandwidth', stream: 'downstream', attributes: { rate: 1000 } });
  await call(u('/proxies/p/toxics'), 'POST', { name: 'up2', type: 'slicer', stream: 'upstream' });

  r = await call(u('/proxies/p/toxics'), 'GET');
  assert.equal(r.status, 200);
  assert.deepEqual(
    (r.json() as Json[]).map((x) => x['name']),
    ['latency_UPSTREAM', 'up2', 'latency_downstream', 'bw'],
    'upstream chain first, then downstream, each in creation order',
  );
  assert.deepEqual(((await call(u('/proxies/p'), 'GET')).json() as Json)['toxics'], r.json());

  assertError(await call(u('/proxies/p/toxics'), 'POST', { type: 'latency' }), 409, 'toxic already exists');
  assertError(await call(u('/proxies/p/toxics'), 'POST', { name: 'bw', type: 'latency', stream: 'upstream' }), 409, 'toxic already exists');
  assertError(await call(u('/proxies/p/toxics'), 'POST', { type: 'down' }), 400, 'invalid toxic type');
  assertError(await call(u('/proxies/p/toxics'), 'POST', { type: 'delay' }), 400, 'invalid toxic type');
  assertError(await call(u('/proxies/p/toxics'), 'POST', { name: 'x' }), 400, 'invalid toxic type');
  assertError(await call(u('/proxies/p/toxics'), 'POST', { type: 'latency', stream: 'sideways' }), 400, 'stream was invalid, can be either upstream or downstream');
  assertError(await call(u('/proxies/p/toxics'), 'POST', { name: 'l2', type: 'latency', attributes: { latency: 1.5 } }), 400, /^bad request body: .*latency/);
  assertError(await call(u('/proxies/p/toxics'), 'POST', { name: 'l2', type: 'latency', attributes: { latency: '300' } }), 400, /^bad request body: /);
  assertError(await call(u('/proxies/p/toxics'), 'POST', { name: 'l2', type: 'latency', attributes: 5 }), 400, /^bad request body: /);
  assertError(await call(u('/proxies/p/toxics'), 'POST', { name: 'l2', type: 'latency', toxicity: 5 }), 400, /toxicity must be a number from 0 to 1/);
  assertError(await call(u('/proxies/p/toxics'), 'POST', { name: 7, type: 'latency' }), 400, /^bad request body: .*name/);
  assertError(await call(u('/proxies/p/toxics'), 'POST', '{'), 400, /^bad request body: /);
  assertError(await call(u('/proxies/nope/toxics'), 'POST', { type: 'latency' }), 404, 'proxy not found');
  assertError(await call(u('/proxies/nope/toxics'), 'GET'), 404, 'proxy not found');
  r = await call(u('/proxies/p/toxics'), 'POST', { name: 'n', type: 'noop' });
  assert.deepEqual(r.json(), { attributes: {}, name: 'n', type: 'noop', stream: 'downstream', toxicity: 1 });

  r = await call(u('/proxies/p/toxics/latency_downstream'), 'GET');
  assert.deepEqual(r.json(), { attributes: { latency: 100, jitter: 0 }, name: 'latency_downstream', type: 'latency', stream: 'downstream', toxicity: 1 });
  assertError(await call(u('/proxies/p/toxics/nope'), 'GET'), 404, 'toxic not found');
  assertError(await call(u('/proxies/nope/toxics/x'), 'GET'), 404, 'proxy not found');

  // Update merges attributes, keeps toxicity when omitted, ignores type/stream/name and unknown keys; PATCH and POST.
  r = await call(u('/proxies/p/toxics/latency_downstream'), 'PATCH', { attributes: { jitter: 10, nope: 1 }, type: 'timeout', stream: 'upstream', name: 'zz' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json(), { attributes: { latency: 100, jitter: 10 }, name: 'latency_downstream', type: 'latency', stream: 'downstream', toxicity: 1 });
  r = await call(u('/proxies/p/toxics/latency_downstream'), 'POST', { toxicity: 0.25 });
  assert.deepEqual(r.json(), { attributes: { latency: 100, jitter: 10 }, name: 'latency_downstream', type: 'latency', stream: 'downstream', toxicity: 0.25 });
  assertError(await call(u('/proxies/p/toxics/latency_downstream'), 'PATCH', { attributes: { latency: 'x' }, toxicity: 0.5 }), 400, /^bad request body: /);
  assertError(await call(u('/proxies/p/toxics/latency_downstream'), 'PATCH', { attributes: { latency: 1 }, toxicity: 2 }), 400, /toxicity/);
  assert.deepEqual(((await call(u('/proxies/p/toxics/latency_downstream'), 'GET')).json() as Json)['attributes'], { latency: 100, jitter: 10 }, 'a rejected update changes nothing');
  assertError(await call(u('/proxies/p/toxics/nope'), 'PATCH', { toxicity: 0.5 }), 404, 'toxic not found');

  r = await call(u('/proxies/p/toxics/latency_downstream'), 'DELETE');
  assert.equal(r.status, 204);
  assert.equal(r.text, '');
  assertError(await call(u('/proxies/p/toxics/latency_downstream'), 'DELETE'), 404, 'toxic not found');
});

test('other routes: 405, 404 text, 403 for browsers, /version, /metrics, /reset, request ids', async (t) => {
  const { u, upstream } = await setup(t);
  await call(u('/proxies'), 'POST', { name: 'p', upstream });

  for (const [method, path] of [
    ['PUT', '/proxies'],
    ['DELETE', '/proxies'],
    ['GET', '/reset'],
    ['GET', '/populate'],
    ['DELETE', '/version'],
    ['PUT', '/proxies/p'],
    ['DELETE', '/proxies/p/toxics'],
    ['PUT', '/proxies/p/toxics/x'],
  ] as const) {
    const r = await call(u(path), method);
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.text, '');
  }
  for (const path of ['/nope', '/proxies/', '/proxies/p/toxics/x/y', '/']) {
    const r = await call(u(path), 'GET');
    assert.equal(r.status, 404, path);
    assert.equal(r.text, '404 page not found\n');
    assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
  }

  let r = await call(u('/proxies'), 'GET', undefined, { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64)' });
  assert.equal(r.status, 403);
  assert.equal(r.text, 'User agent not allowed\n');
  assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.ok(r.headers.get('x-toxiproxy-request-id'));

  r = await call(u('/version'), 'GET');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json;charset=utf-8');
  assert.equal(r.text, `{"version": "${VERSION}"}\n`);
  assert.deepEqual(r.json(), { version: VERSION });

  r = await call(u('/metrics'), 'GET');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
  assert.match(r.text, /switchyard_connections_total/);

  const ids = new Set<string>();
  for (let i = 0; i < 3; i++) ids.add((await call(u('/proxies'), 'GET')).headers.get('x-toxiproxy-request-id') ?? '');
  assert.equal(ids.size, 3, 'a fresh request id per response');

  await call(u('/proxies/p/toxics'), 'POST', { type: 'latency', attributes: { latency: 10 } });
  await call(u('/proxies/p'), 'PATCH', { enabled: false });
  r = await call(u('/reset'), 'POST', 'ignored body');
  assert.equal(r.status, 204);
  assert.equal(r.text, '');
  const p = (await call(u('/proxies/p'), 'GET')).json() as Json;
  assert.equal(p['enabled'], true);
  assert.deepEqual(p['toxics'], []);
  await roundTrip(portOf(p['listen'] as string));
});

test('/populate: validates everything first, keeps identical proxies, replaces different ones, reports partial runs', async (t) => {
  const { u, upstream, echo } = await setup(t);

  let r = await call(u('/populate'), 'POST', []);
  assert.equal(r.status, 201);
  assert.equal(r.text, '{"proxies":[]}', 'an empty array, not null (toxiproxy-node-client crashes on null)');

  r = await call(u('/populate'), 'POST', [
    { name: 'a', listen: '127.0.0.1:0', upstream },
    { name: 'b', upstream, enabled: false },
  ]);
  assert.equal(r.status, 201);
  assert.equal(r.headers.get('content-type'), 'application/json');
  const first = (r.json() as { proxies: Json[] }).proxies;
  assert.deepEqual(first.map((p) => [p['name'], p['enabled']]), [['a', true], ['b', false]]);
  const aListen = first[0]!['listen'] as string;
  await call(u('/proxies/a/toxics'), 'POST', { type: 'latency', attributes: { latency: 5 } });
  await call(u('/proxies/b/toxics'), 'POST', { type: 'latency', attributes: { latency: 5 } });

  // Validation errors: nothing is created or changed.
  r = await call(u('/populate'), 'POST', [{ name: 'c', upstream }, { name: 'd' }]);
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('content-type'), 'application/json', 'populate errors are JSON (not text/plain)');
  assert.deepEqual(JSON.parse(r.text), { error: 'missing required field: upstream at proxy 2', status: 400, proxies: [] });
  r = await call(u('/populate'), 'POST', [{ upstream }]);
  assert.equal((JSON.parse(r.text) as { error: string }).error, 'missing required field: name at proxy 1');
  assertPopulateBad(await call(u('/populate'), 'POST', { name: 'x' }));
  assertPopulateBad(await call(u('/populate'), 'POST', ''));
  assert.deepEqual(Object.keys((await call(u('/proxies'), 'GET')).json() as Json).sort(), ['a', 'b']);

  // a: same name, listen (as bound) and upstream → untouched (toxics kept); b: new upstream → replaced (toxics lost).
  const other = `127.0.0.1:${echo.port === 1 ? 2 : 1}`;
  r = await call(u('/populate'), 'POST', [
    { name: 'a', listen: aListen, upstream },
    { name: 'b', upstream: other },
  ]);
  assert.equal(r.status, 201);
  const second = (r.json() as { proxies: Json[] }).proxies;
  assert.equal((second[0]!['toxics'] as unknown[]).length, 1);
  assert.equal(second[0]!['listen'], aListen);
  assert.equal(second[1]!['upstream'], other);
  assert.deepEqual(second[1]!['toxics'], []);
  assert.equal(second[1]!['enabled'], true);

  // A run-time error stops the run: the status is the error's, the body lists the proxies done so far (JSON).
  const busy = net.createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  t.after(() => busy.close());
  r = await call(u('/populate'), 'POST', [
    { name: 'e', upstream },
    { name: 'f', listen: `127.0.0.1:${(busy.address() as net.AddressInfo).port}`, upstream },
    { name: 'g', upstream },
  ]);
  assert.equal(r.status, 500);
  assert.equal(r.headers.get('content-type'), 'application/json');
  const body = r.json() as { error: string; status: number; proxies: Json[] };
  assert.deepEqual(Object.keys(body), ['error', 'status', 'proxies']);
  assert.equal(body.status, 500);
  assert.deepEqual(body.proxies.map((p) => p['name']), ['e']);
  assert.deepEqual(Object.keys((await call(u('/proxies'), 'GET')).json() as Json).sort(), ['a', 'b', 'e']);
});

function assertPopulateBad(r: { status: number; text: string }): void {
  assert.equal(r.status, 400);
  assert.match((JSON.parse(r.text) as { error: string }).error, /^bad request body: /);
}
