import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { ApiServer, type Handler } from '../../src/http-kit/api-server.js';
import { splitHost, type AccessPolicy } from '../../src/http-kit/access.js';
import { RouteTable } from '../../src/http-kit/route-table.js';
import { jsonReply } from '../../src/http-kit/reply.js';
import { errorMessage } from '../../src/http-kit/http-error.js';
import { silentLogger } from '../../src/core/log.js';
import { captureLogger, rawRequest } from '../helpers/http-raw.js';

const JSON_STYLE = { contentType: 'application/json' };

/** A small API: GET /thing, POST /thing echoes its JSON body; errors as {"error": message}. */
function testServer(access: AccessPolicy, logger = silentLogger()): ApiServer {
  return new ApiServer({
    name: 'test API',
    logger,
    access,
    accessNames: { allowedHosts: 'allowedHosts', allowedOrigins: 'allowedOrigins' },
    routes: new RouteTable<Handler>([
      ['GET', '/thing', (c) => c.send(200, { ok: true })],
      ['POST', '/thing', async (c) => c.send(201, { got: await c.json() })],
    ]),
    body: { maxBytes: 1024, tooLarge: () => new Error('too large'), empty: () => null, invalid: (m) => new Error(m) },
    json: JSON_STYLE,
    segments: (c) => c.url.pathname.split('/').filter(Boolean),
    notFound: (c) => c.send(404, { error: 'not found' }),
    notAllowed: (c) => c.send(405, { error: 'not allowed' }),
    errorReply: (err, status) => jsonReply(status, { error: errorMessage(err) }, JSON_STYLE),
  });
}

async function started(access: AccessPolicy, logger = silentLogger()): Promise<{ api: ApiServer; port: number }> {
  const api = testServer(access, logger);
  const a = await api.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
  return { api, port: a.kind === 'tcp' ? a.port : 0 };
}

test('splitHost: names, ports, IPv6 in brackets; garbage is undefined', () => {
  assert.deepEqual(splitHost('LocalHost:80'), { name: 'localhost', port: 80 });
  assert.deepEqual(splitHost('example.com.'), { name: 'example.com', port: undefined });
  assert.deepEqual(splitHost('[::1]:9901'), { name: '::1', port: 9901 });
  assert.equal(splitHost('[nope]:1'), undefined);
  assert.equal(splitHost('a:b:c'), undefined);
});

describe('Host: the bound address, its loopback names, or allowedHosts (403 otherwise)', () => {
  let api: ApiServer;
  let port: number;
  let base: string;
  before(async () => {
    ({ api, port } = await started({ allowedHosts: ['proxy.internal', 'tunnel.example:443'] }));
    base = `http://127.0.0.1:${port}`;
  });
  after(() => api.close());

  test('accepted: 127.0.0.1:P, localhost:P, [::1]:P and allowedHosts entries', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`, 'proxy.internal:1234', 'proxy.internal', 'tunnel.example:443']) {
      assert.equal((await rawRequest(base, 'GET', '/thing', { host })).status, 200, host);
    }
  });

  test('refused: another name (DNS rebinding), another port, a port-bound allowedHosts entry on another port', async () => {
    for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1:${port + 1}`, `localhost`, 'tunnel.example:80', `127.0.0.2:${port}`]) {
      const r = await rawRequest(base, 'GET', '/thing', { host });
      assert.equal(r.status, 403, host);
      assert.match(r.text, /is not this API's address.*allowedHosts/);
      assert.equal(r.headers.connection, 'close');
    }
  });

  test('allowedHosts ["*"] accepts any Host', async () => {
    const { api: open, port: p } = await started({ allowedHosts: ['*'] });
    try {
      assert.equal((await rawRequest(`http://127.0.0.1:${p}`, 'GET', '/thing', { host: 'anything.example' })).status, 200);
    } finally {
      await open.close();
    }
  });
});

describe('Origin: the API own origin or allowedOrigins (403 otherwise)', () => {
  let api: ApiServer;
  let port: number;
  let base: string;
  before(async () => {
    ({ api, port } = await started({ allowedOrigins: ['https://ui.example'] }));
    base = `http://127.0.0.1:${port}`;
  });
  after(() => api.close());

  test('same origin and listed origins pass; evil, null and look-alikes are refused', async () => {
    const post = (origin: string): Promise<{ status: number; text: string }> =>
      rawRequest(base, 'POST', '/thing', { host: `127.0.0.1:${port}`, origin, 'content-type': 'application/json' }, '{"a":1}');
    assert.equal((await post(`http://127.0.0.1:${port}`)).status, 201);
    assert.equal((await post('https://ui.example')).status, 201);
    assert.equal((await post('https://UI.example/')).status, 201);
    for (const origin of ['http://evil.example', 'null', 'https://ui.example.evil.example', `http://127.0.0.1:${port + 1}`, `https://127.0.0.1:${port}`]) {
      const r = await post(origin);
      assert.equal(r.status, 403, origin);
      assert.match(r.text, /cross-origin request .* refused/);
    }
    // GETs are checked too (a rebinding page reads with GET).
    assert.equal((await rawRequest(base, 'GET', '/thing', { origin: 'http://evil.example' })).status, 403);
  });
});

describe('request bodies only as application/json (415 otherwise)', () => {
  let api: ApiServer;
  let base: string;
  before(async () => {
    const s = await started({});
    api = s.api;
    base = `http://127.0.0.1:${s.port}`;
  });
  after(() => api.close());

  test('application/json (with parameters) and +json pass; text/plain, forms, multipart and no type are 415', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/merge-patch+json']) {
      assert.equal((await rawRequest(base, 'POST', '/thing', { 'content-type': type }, '{"a":1}')).status, 201, type);
    }
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
      const r = await rawRequest(base, 'POST', '/thing', { 'content-type': type }, '{"a":1}');
      assert.equal(r.status, 415, type);
      assert.match(r.text, /expected content-type application\/json/);
    }
    assert.equal((await rawRequest(base, 'POST', '/thing', {}, '{"a":1}')).status, 415, 'no content type');
    // Chunked bodies count as bodies.
    assert.equal((await rawRequest(base, 'POST', '/thing', { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' }, '{"a":1}')).status, 415);
  });

  test('a request without a body needs no content type (Go clients label an empty POST text/plain)', async () => {
    assert.equal((await rawRequest(base, 'POST', '/thing', { 'content-type': 'text/plain', 'content-length': '0' })).status, 201);
    assert.equal((await rawRequest(base, 'POST', '/thing', { 'content-length': '0' })).status, 201);
  });
});

describe('the token', () => {
  test('401 is answered from the headers, before the body is read, and the connection closes', async () => {
    const { api, port } = await started({ token: 'tok' });
    try {
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      // Announce a 1 MB body and send none of it: the answer must come anyway.
      socket.write(`POST /thing HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n`);
      let text = '';
      socket.setEncoding('utf8').on('data', (d: string) => (text += d));
      await once(socket, 'end');
      socket.destroy();
      assert.match(text, /^HTTP\/1\.1 401 /);
      assert.match(text, /www-authenticate: Bearer/i);
      assert.match(text, /missing bearer token/);
      const ok = await rawRequest(`http://127.0.0.1:${port}`, 'POST', '/thing', { authorization: 'Bearer tok', 'content-type': 'application/json' }, '{"a":1}');
      assert.equal(ok.status, 201);
      assert.equal((await rawRequest(`http://127.0.0.1:${port}`, 'GET', '/thing', { authorization: 'Bearer nope' })).status, 401);
    } finally {
      await api.close();
    }
  });
});

test('every mutation is logged with the remote address; refusals are logged as warnings; GETs are not', async () => {
  const { logger, lines } = captureLogger();
  const { api, port } = await started({}, logger);
  try {
    const base = `http://127.0.0.1:${port}`;
    await rawRequest(base, 'GET', '/thing');
    await rawRequest(base, 'POST', '/thing', { 'content-type': 'application/json' }, '{"a":1}');
    await rawRequest(base, 'GET', '/thing', { host: 'evil.example' });
    const mine = lines.filter((l) => l['api'] === 'test API');
    assert.equal(mine.length, 2, JSON.stringify(lines));
    assert.equal(mine[0]!['method'], 'POST');
    assert.equal(mine[0]!['status'], 201);
    assert.equal(mine[0]!['level'], 30);
    assert.match(String(mine[0]!['remote']), /^127\.0\.0\.1:\d+$/);
    assert.equal(mine[1]!['status'], 403);
    assert.equal(mine[1]!['level'], 40);
    assert.match(String(mine[1]!['remote']), /^127\.0\.0\.1:\d+$/);
  } finally {
    await api.close();
  }
});

test('listen refuses a non-loopback address without a token before binding, naming the setting', async () => {
  const api = testServer({ setting: 'test.listen', fix: 'Set test.token' });
  // 192.0.2.1 (TEST-NET-1) is on no interface: binding it would fail with EADDRNOTAVAIL, so the message proves
  // the refusal came first.
  await assert.rejects(api.listen({ kind: 'tcp', host: '192.0.2.1', port: 0 }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SWY_CONFIG_INVALID');
    assert.match(err.message, /^test\.listen: 192\.0\.2\.1:0 is not a loopback address and no token is set.*Set test\.token/);
    return true;
  });
  for (const access of [{ token: 't' }, { insecure: true }]) {
    await assert.rejects(testServer(access).listen({ kind: 'tcp', host: '192.0.2.1', port: 0 }), /EADDRNOTAVAIL/, `${JSON.stringify(access)}: allowed, so the bind itself is tried`);
  }
});

test('an allowedOrigins page gets CORS answers: its preflight passes without the token, its requests still need it', async () => {
  const { api, port } = await started({ allowedOrigins: ['https://ui.example'], token: 'tok' });
  try {
    const base = `http://127.0.0.1:${port}`;
    const preflight = await rawRequest(base, 'OPTIONS', '/thing', { origin: 'https://ui.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://ui.example');
    assert.match(String(preflight.headers['access-control-allow-headers']), /authorization/);
    assert.match(String(preflight.headers['access-control-allow-methods']), /POST/);
    const noToken = await rawRequest(base, 'POST', '/thing', { origin: 'https://ui.example', 'content-type': 'application/json' }, '{"a":1}');
    assert.equal(noToken.status, 401);
    const ok = await rawRequest(base, 'POST', '/thing', { origin: 'https://ui.example', 'content-type': 'application/json', authorization: 'Bearer tok' }, '{"a":1}');
    assert.equal(ok.status, 201);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://ui.example');
    assert.equal(ok.headers['vary'], 'Origin');
    // Other origins get no preflight answer and no CORS headers.
    const evil = await rawRequest(base, 'OPTIONS', '/thing', { origin: 'http://evil.example', 'access-control-request-method': 'POST' });
    assert.equal(evil.status, 403);
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
    // Same-origin and non-browser requests carry no CORS headers.
    const plain = await rawRequest(base, 'GET', '/thing', { authorization: 'Bearer tok' });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['access-control-allow-origin'], undefined);
  } finally {
    await api.close();
  }
});
