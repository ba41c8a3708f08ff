// The admin API serves the dashboard's files (docs/dashboard.md): the page to browsers at / and /ui/, its hashed
// script and style with immutable caching, a self-only CSP; curl keeps the JSON index; the files need no token but
// pass the Host check; the API behind them still needs the token.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { AdminServer } from '../../src/admin/server.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { startYard } from '../helpers/yard.js';
import { ensureBuilt } from '../dashboard/driver.js';

/** A raw GET (node:http lets the test set Host and Accept exactly). */
function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

describe('admin API: dashboard files', () => {
  let yard: Switchyard;
  let admin: AdminServer;
  let open: AdminServer;
  before(async () => {
    await ensureBuilt();
    yard = await startYard({ listeners: [], clusters: [], routes: [] });
    admin = await AdminServer.start(yard, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, token: 'tok-123' });
    open = await AdminServer.start(yard, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 } });
  });
  after(async () => {
    await admin.close();
    await open.close();
    await yard.close();
  });

  test('a browser gets the page at / and /ui/, without the token, with a self-only CSP and no caching', async () => {
    for (const path of ['/', '/ui/', '/ui', '/ui/index.html']) {
      const r = await get(`${admin.url}${path}`, HTML);
      assert.equal(r.status, 200, `${path}: ${r.body}`);
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(r.headers['cache-control'], 'no-cache');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.equal(r.headers['x-frame-options'], 'DENY');
      const csp = String(r.headers['content-security-policy'] ?? '');
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /connect-src 'self'(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
      assert.match(r.body, /<script type="module" src="\/ui\/app-[A-Z0-9]+\.js"><\/script>/);
      assert.doesNotMatch(r.body, /<script>/, 'no inline script');
    }
  });

  test("the page's script and style: their content types, immutable caching, HEAD", async () => {
    const page = await get(`${open.url}/ui/`, HTML);
    const js = /src="(\/ui\/app-[A-Z0-9]+\.js)"/.exec(page.body)![1]!;
    const css = /href="(\/ui\/app-[A-Z0-9]+\.css)"/.exec(page.body)![1]!;
    const s = await get(`${admin.url}${js}`);
    assert.equal(s.status, 200);
    assert.equal(s.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(s.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.ok(s.body.length > 1000);
    const c = await get(`${admin.url}${css}`);
    assert.equal(c.headers['content-type'], 'text/css; charset=utf-8');
    assert.match(c.body, /prefers-color-scheme: ?dark/);
    const h = await get(`${admin.url}${js}`, {}, 'HEAD');
    assert.equal(h.status, 200);
    assert.equal(h.body, '');
    assert.equal(Number(h.headers['content-length']), Buffer.byteLength(s.body));
  });

  test('curl and scripts keep the JSON index at /; an unknown /ui file is a 404 in the API error form', async () => {
    const index = await get(`${open.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(index.headers['vary'], 'Accept');
    const body = JSON.parse(index.body) as { endpoints: Array<{ path: string }> };
    assert.ok(body.endpoints.some((e) => e.path === '/ui/:file'));
    const missing = await get(`${open.url}/ui/nope.js`);
    assert.equal(missing.status, 404);
    assert.deepEqual(JSON.parse(missing.body), { error: { code: 'SWY_NOT_FOUND', message: 'no such dashboard file: /ui/nope.js' } });
    // The JSON index itself is API data: it needs the token like the rest.
    assert.equal((await get(`${admin.url}/`)).status, 401);
  });

  test('the files still pass the Host check (DNS rebinding), and the API behind the page still needs the token', async () => {
    const rebound = await get(`${admin.url}/`, { ...HTML, host: `evil.example:${(admin.address as { port: number }).port}` });
    assert.equal(rebound.status, 403);
    assert.match((JSON.parse(rebound.body) as { error: { message: string } }).error.message, /^Host "evil\.example:\d+" is not this API's address/);
    const api = await get(`${admin.url}/api/v1/listeners`, HTML);
    assert.equal(api.status, 401);
    const withToken = await get(`${admin.url}/api/v1/listeners`, { authorization: 'Bearer tok-123' });
    assert.equal(withToken.status, 200);
    // Only GET/HEAD of the files skip the token.
    const post = await get(`${admin.url}/ui/`, HTML, 'POST');
    assert.equal(post.status, 401);
  });
});
