import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Client } from 'undici';
import { startRoutedProxy, testCluster, type RoutedProxy } from './router-harness.js';
import { connect, readAll, eventually } from '../helpers/net.js';

interface Backend {
  name: string;
  port: number;
  requests: Array<{ path: string; host: string | undefined }>;
  server: http.Server;
}

async function backend(name: string, handle?: (req: http.IncomingMessage, res: http.ServerResponse, b: Backend) => boolean): Promise<Backend> {
  const b: Backend = { name, port: 0, requests: [], server: undefined as unknown as http.Server };
  b.server = http.createServer((req, res) => {
    b.requests.push({ path: req.url ?? '', host: req.headers.host });
    if (handle?.(req, res, b) === true) return;
    const delay = req.url?.includes('slow') ? 150 : 0;
    setTimeout(() => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ server: name, path: req.url, host: req.headers.host }));
    }, delay);
  });
  b.server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.port = (b.server.address() as net.AddressInfo).port;
  return b;
}

async function body(c: Client, path: string, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> | undefined; text: string; headers: Record<string, unknown> }> {
  const r = await c.request({ method: 'GET', path, headers });
  const text = await r.body.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, json, text, headers: r.headers };
}

describe('HTTP per-request routing', () => {
  let a: Backend;
  let b: Backend;
  let proxy: RoutedProxy;

  before(async () => {
    a = await backend('A');
    b = await backend('B');
    proxy = await startRoutedProxy('http', [
      { id: 'ra', match: { path: '/a/*' }, cluster: testCluster('ca', a.port) },
      { id: 'rb', match: { path: '/b/*' }, cluster: testCluster('cb', b.port) },
      { id: 'rw', match: { path: '/old/*' }, cluster: testCluster('cb2', b.port), rewrite: { host: 'internal.example', pathPrefix: '/new/' } },
      { id: 'redir', match: { path: '/go' }, redirect: { status: 301, location: 'https://example.com/there' } },
      { id: 'direct', match: { path: '/health' }, directResponse: { status: 200, body: 'ok', headers: { 'content-type': 'text/plain' } } },
    ]);
  });
  after(async () => {
    await proxy.close();
    a.server.closeAllConnections();
    b.server.closeAllConnections();
    a.server.close();
    b.server.close();
  });

  test('pipelined requests over one kept-alive connection reach the right cluster and come back in order', async () => {
    const c = new Client(`http://127.0.0.1:${proxy.port}`, { pipelining: 8 });
    try {
      const paths = ['/a/slow1', '/b/1', '/a/2', '/b/slow2', '/b/3', '/a/slow3', '/b/4', '/a/5'];
      const results = await Promise.all(paths.map((p) => body(c, p)));
      results.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.equal(r.json?.['path'], paths[i]);
        assert.equal(r.json?.['server'], paths[i]!.startsWith('/a/') ? 'A' : 'B');
      });
      assert.equal(proxy.stats.total, 1, 'one client connection');
      assert.equal(proxy.routeRequests('ra'), 4);
      assert.equal(proxy.routeRequests('rb'), 4);
    } finally {
      await c.close();
    }
  });

  test('rewrite, redirect, direct response and no route, in order on one connection', async () => {
    const c = new Client(`http://127.0.0.1:${proxy.port}`, { pipelining: 4 });
    try {
      const [rw, redir, direct, none, after] = await Promise.all([
        body(c, '/old/x?q=1'),
        body(c, '/go'),
        body(c, '/health'),
        body(c, '/nowhere'),
        body(c, '/a/after'),
      ]);
      assert.equal(rw.json?.['server'], 'B');
      assert.equal(rw.json?.['path'], '/new/x?q=1');
      assert.equal(rw.json?.['host'], 'internal.example');
      assert.equal(redir.status, 301);
      assert.equal(redir.headers['location'], 'https://example.com/there');
      assert.equal(direct.status, 200);
      assert.equal(direct.text, 'ok');
      assert.equal(direct.headers['content-type'], 'text/plain');
      assert.equal(none.status, 404);
      assert.equal(none.headers['content-type'], 'application/json');
      assert.equal((none.json as Record<string, unknown>)['error'], 'no route');
      assert.equal((none.json as Record<string, unknown>)['listener'], 'l1');
      assert.equal((none.json as Record<string, unknown>)['path'], '/nowhere');
      assert.match(none.text, /l1/);
      assert.equal(after.json?.['path'], '/a/after');
    } finally {
      await c.close();
    }
  });

  test('a request asking to close gets its direct answer with Connection: close, then the connection closes', async () => {
    const s = await connect(proxy.port);
    s.end('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const text = (await readAll(s)).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /Connection: close\r\n/);
    assert.match(text, /Content-Length: 2\r\n/);
    assert.match(text, /\r\n\r\nok$/);
  });

  test('HEAD and a POST body travel to the routed cluster', async () => {
    const c = new Client(`http://127.0.0.1:${proxy.port}`, { pipelining: 2 });
    try {
      const head = await c.request({ method: 'HEAD', path: '/b/head' });
      await head.body.text();
      assert.equal(head.statusCode, 200);
      const post = await c.request({ method: 'POST', path: '/a/post', body: 'x'.repeat(100_000), headers: { 'content-type': 'text/plain' } });
      const j = JSON.parse(await post.body.text()) as Record<string, unknown>;
      assert.equal(j['server'], 'A');
    } finally {
      await c.close();
    }
  });
});

describe('HTTP per-request routing: large answers', () => {
  test('large answers from a slow and a fast cluster, pipelined, arrive whole and in order (held answers are bounded)', async () => {
    const big = (name: string, n: number): Buffer => Buffer.alloc(n, name);
    const a = await backend('A', (req, res) => {
      setTimeout(() => res.end(big('a', 3 * 1024 * 1024)), 100);
      void req;
      return true;
    });
    const b = await backend('B', (req, res) => {
      res.end(big('b', 3 * 1024 * 1024));
      void req;
      return true;
    });
    const proxy = await startRoutedProxy('http', [
      { id: 'ra', match: { path: '/a/*' }, cluster: testCluster('ca', a.port) },
      { id: 'rb', match: { path: '/b/*' }, cluster: testCluster('cb', b.port) },
    ]);
    const c = new Client(`http://127.0.0.1:${proxy.port}`, { pipelining: 6 });
    try {
      const paths = ['/a/1', '/b/1', '/b/2', '/a/2', '/b/3'];
      const bodies = await Promise.all(
        paths.map(async (p) => {
          const r = await c.request({ method: 'GET', path: p });
          return Buffer.from(await r.body.arrayBuffer());
        }),
      );
      bodies.forEach((body, i) => {
        assert.equal(body.length, 3 * 1024 * 1024, paths[i]);
        const ch = paths[i]!.startsWith('/a/') ? 0x61 : 0x62;
        assert.ok(body.every((x) => x === ch), `${paths[i]} bytes`);
      });
    } finally {
      await c.close();
      await proxy.close();
      for (const x of [a, b]) {
        x.server.closeAllConnections();
        x.server.close();
      }
    }
  });
});

describe('HTTP per-request routing: failures and retries', () => {
  test('an upstream failing mid-way gets a 502 for its request; the other cluster answers still arrive', async () => {
    const good = await backend('G');
    const bad = await backend('X', (req, res) => {
      if (req.url?.includes('die')) {
        req.socket.destroy();
        return true;
      }
      void res;
      return false;
    });
    const proxy = await startRoutedProxy('http', [
      { id: 'g', match: { path: '/g/*' }, cluster: testCluster('good', good.port) },
      { id: 'x', match: { path: '/x/*' }, cluster: testCluster('bad', bad.port) },
    ]);
    const c = new Client(`http://127.0.0.1:${proxy.port}`, { pipelining: 4 });
    try {
      const results = await Promise.all([body(c, '/g/1'), body(c, '/x/die'), body(c, '/g/2')]);
      assert.equal(results[0].json?.['server'], 'G');
      assert.equal(results[1].status, 502);
      assert.match(results[1].text, /cluster 'bad'/);
      assert.equal(results[2].json?.['server'], 'G');
      // the connection keeps working
      assert.equal((await body(c, '/x/ok')).json?.['server'], 'X');
    } finally {
      await c.close();
      await proxy.close();
      good.server.closeAllConnections();
      bad.server.closeAllConnections();
      good.server.close();
      bad.server.close();
    }
  });

  test('an idempotent GET answered 503 is retried on another connection when the cluster retries on 503', async () => {
    let calls = 0;
    const flaky = await backend('F', (req, res) => {
      calls++;
      if (calls === 1) {
        res.statusCode = 503;
        res.end('busy');
        return true;
      }
      void req;
      return false;
    });
    const cluster = testCluster('flaky', flaky.port, { retryOn: ['503', 'reset'], retries: 2 });
    const proxy = await startRoutedProxy('http', [{ id: 'f', cluster }]);
    const c = new Client(`http://127.0.0.1:${proxy.port}`, { pipelining: 1 });
    try {
      const r = await body(c, '/thing');
      assert.equal(r.status, 200);
      assert.equal(r.json?.['server'], 'F');
      assert.equal(calls, 2);
      assert.ok(cluster.reports.includes('protocol_error'));
      // a POST is not retried
      calls = 0;
      const p = await c.request({ method: 'POST', path: '/thing', body: 'x' });
      assert.equal(p.statusCode, 503);
      await p.body.text();
    } finally {
      await c.close();
      await proxy.close();
      flaky.server.closeAllConnections();
      flaky.server.close();
    }
  });

  test('an idempotent GET whose connection is reset before any answer is retried when the cluster retries on reset; a POST is not', async () => {
    let calls = 0;
    const flaky = await backend('R', (req) => {
      calls++;
      if (calls === 1 || req.method === 'POST') {
        req.socket.resetAndDestroy();
        return true;
      }
      return false;
    });
    const cluster = testCluster('flaky', flaky.port, { retryOn: ['reset'], retries: 1 });
    const proxy = await startRoutedProxy('http', [{ id: 'f', cluster }]);
    const c = new Client(`http://127.0.0.1:${proxy.port}`, { pipelining: 1 });
    try {
      const r = await body(c, '/again');
      assert.equal(r.status, 200);
      assert.equal(r.json?.['server'], 'R');
      assert.equal(calls, 2);
      assert.ok(cluster.reports.includes('reset'));
      const p = await c.request({ method: 'POST', path: '/once', body: 'x' });
      assert.equal(p.statusCode, 502);
      await p.body.text();
    } finally {
      await c.close();
      await proxy.close();
      flaky.server.closeAllConnections();
      flaky.server.close();
    }
  });

  test('a cluster that refuses connections answers 502 to its requests only', async () => {
    const good = await backend('G');
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const proxy = await startRoutedProxy('http', [
      { id: 'g', match: { path: '/g/*' }, cluster: testCluster('good', good.port) },
      { id: 'dead', match: { path: '/d/*' }, cluster: testCluster('dead', port) },
    ]);
    const c = new Client(`http://127.0.0.1:${proxy.port}`, { pipelining: 3 });
    try {
      const results = await Promise.all([body(c, '/d/1'), body(c, '/g/1')]);
      assert.equal(results[0].status, 502);
      assert.equal(results[1].json?.['server'], 'G');
      await eventually(() => (proxy.stats.errors.get('SWY_REFUSED_UPSTREAM_UNAVAILABLE') ?? 0) >= 1, 'refusal counted');
    } finally {
      await c.close();
      await proxy.close();
      good.server.closeAllConnections();
      good.server.close();
    }
  });
});

describe('HTTP per-request routing: pinning and connection reuse', () => {
  test('an Upgrade pins the connection to its cluster: a tunnel after the 101, answers before it in order', async () => {
    const a = await backend('A');
    const b = await backend('B');
    a.server.on('upgrade', (_req, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      socket.on('data', (d: Buffer) => socket.write(Buffer.from(d.toString('latin1').toUpperCase(), 'latin1')));
      socket.on('end', () => socket.end());
    });
    const proxy = await startRoutedProxy('http', [
      { id: 'ra', match: { path: '/a/*' }, cluster: testCluster('ca', a.port) },
      { id: 'rb', match: { path: '/b/*' }, cluster: testCluster('cb', b.port) },
    ]);
    try {
      const s = await connect(proxy.port);
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.write('GET /b/first HTTP/1.1\r\nHost: x\r\n\r\nGET /a/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      await eventually(() => got.includes('101 Switching Protocols'), '101 arrives');
      assert.ok(got.indexOf('"server":"B"') < got.indexOf('101 Switching'), 'B answered first');
      s.write('hello tunnel');
      await eventually(() => got.endsWith('HELLO TUNNEL'), 'tunnel data echoed');
      s.end();
      await readAll(s);
    } finally {
      await proxy.close();
      for (const x of [a, b]) {
        x.server.closeAllConnections();
        x.server.close();
      }
    }
  });

  test('a connection whose answer says Connection: close is retired; the next request opens another', async () => {
    let conns = 0;
    const a = await backend('A', (req, res) => {
      if (req.url === '/a/close') {
        res.setHeader('connection', 'close');
        res.end('closing');
        return true;
      }
      return false;
    });
    a.server.on('connection', () => conns++);
    const proxy = await startRoutedProxy('http', [{ id: 'ra', match: { path: '/a/*' }, cluster: testCluster('ca', a.port) }]);
    // a raw client: it keeps its connection although the answer it got says close (that was the server's connection)
    const s = await connect(proxy.port);
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    try {
      s.write('GET /a/close HTTP/1.1\r\nHost: x\r\n\r\n');
      await eventually(() => got.endsWith('closing'), 'first answer');
      s.write('GET /a/2 HTTP/1.1\r\nHost: x\r\n\r\n');
      await eventually(() => got.includes('"path":"/a/2"'), 'second answer, from a new upstream connection');
      assert.equal(conns, 2);
      assert.equal(proxy.stats.total, 1, 'the client kept its one connection');
    } finally {
      s.destroy();
      await proxy.close();
      a.server.closeAllConnections();
      a.server.close();
    }
  });
});
