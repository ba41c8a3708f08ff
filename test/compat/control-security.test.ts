import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Toxiproxy } from 'toxiproxy-node-client';
import { startApi } from './toxiproxy-helpers.js';
import { ToxiproxyApi } from '../../src/compat/toxiproxy.js';
import { Switchyard } from '../../src/runtime/switchyard.js';
import { startChaos } from '../../src/cli/commands/chaos.js';
import { silentLogger } from '../../src/core/log.js';
import { startEchoServer } from '../helpers/net.js';
import { rawRequest } from '../helpers/http-raw.js';

/** The reproduction, one header at a time, then all three. */
function attacks(port: number): Array<[string, Record<string, string>, number]> {
  const ok = { host: `127.0.0.1:${port}`, 'content-type': 'application/json' };
  return [
    ['Origin: http://evil.example', { ...ok, origin: 'http://evil.example' }, 403],
    ['Host: evil.example:PORT', { ...ok, host: `evil.example:${port}` }, 403],
    ['Host: evil.example', { ...ok, host: 'evil.example' }, 403],
    ['Content-Type: text/plain', { ...ok, 'content-type': 'text/plain' }, 415],
    ['the exact curl', { origin: 'http://evil.example', host: `evil.example:${port}`, 'content-type': 'text/plain' }, 403],
  ];
}

describe('Toxiproxy-compatible API: cross-site requests are refused (issue 10 §1)', () => {
  test('POST /proxies, /populate, /proxies/:p/toxics, /reset: 403/415 in Toxiproxy\'s error shape; nothing changes', async (t) => {
    const s = await startApi();
    t.after(() => s.close());
    const upstream = await startEchoServer();
    t.after(() => upstream.close());
    const port = Number(new URL(s.url).port);
    const create = await fetch(`${s.url}/proxies`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'p', listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream.port}` }) });
    assert.equal(create.status, 201);
    const requests: Array<[string, string]> = [
      ['/proxies', JSON.stringify({ name: 'x', listen: '127.0.0.1:0', upstream: '127.0.0.1:6379' })],
      ['/populate', JSON.stringify([{ name: 'y', listen: '127.0.0.1:0', upstream: '127.0.0.1:6379' }])],
      ['/proxies/p/toxics', JSON.stringify({ type: 'latency', attributes: { latency: 1000 } })],
      ['/proxies/p', JSON.stringify({ enabled: false })],
    ];
    for (const [path, body] of requests) {
      for (const [name, headers, status] of attacks(port)) {
        const r = await rawRequest(s.url, 'POST', path, headers, body);
        assert.equal(r.status, status, `${path}: ${name}: ${r.text}`);
        assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
        assert.equal((JSON.parse(r.text) as { status: number }).status, status);
      }
    }
    // An empty POST /reset from another page: refused by Origin and by Host.
    assert.equal((await rawRequest(s.url, 'POST', '/reset', { origin: 'http://evil.example', 'content-length': '0' })).status, 403);
    assert.equal((await rawRequest(s.url, 'POST', '/reset', { host: `evil.example:${port}`, 'content-length': '0' })).status, 403);
    // Reading with a rebinding Host is refused too.
    assert.equal((await rawRequest(s.url, 'GET', '/proxies', { host: `evil.example:${port}` })).status, 403);
    const proxies = (await (await fetch(`${s.url}/proxies`)).json()) as Record<string, { enabled: boolean; toxics: unknown[] }>;
    assert.deepEqual(Object.keys(proxies), ['p']);
    assert.equal(proxies['p']!.enabled, true);
    assert.deepEqual(proxies['p']!.toxics, []);
  });

  test("Toxiproxy's User-Agent: Mozilla/ refusal stays", async (t) => {
    const s = await startApi();
    t.after(() => s.close());
    const r = await rawRequest(s.url, 'GET', '/proxies', { 'user-agent': 'Mozilla/5.0' });
    assert.equal(r.status, 403);
    assert.equal(r.text, 'User agent not allowed\n');
  });

  test('a token: toxiproxy-node-client cannot send one, so without it 401; curl with Bearer works', async (t) => {
    const yard = new Switchyard({ seed: 1, defaultMetrics: false });
    const api = await ToxiproxyApi.start(yard, { listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, token: 'tp-secret' });
    t.after(async () => {
      await api.close();
      await yard.close({ drainTimeout: 0 });
    });
    const r = await rawRequest(api.url, 'GET', '/proxies');
    assert.equal(r.status, 401);
    assert.deepEqual(JSON.parse(r.text), { error: 'missing bearer token (Authorization: Bearer <token>)', status: 401 });
    await assert.rejects(new Toxiproxy(api.url).getAll(), /401/);
    assert.equal((await rawRequest(api.url, 'GET', '/proxies', { authorization: 'Bearer tp-secret' })).status, 200);
  });

  test('toxiproxy-node-client still works unchanged (JSON bodies, empty POST /reset)', async (t) => {
    const s = await startApi();
    t.after(() => s.close());
    const upstream = await startEchoServer();
    t.after(() => upstream.close());
    const client = new Toxiproxy(s.url);
    const proxy = await client.createProxy({ name: 'nc', listen: '127.0.0.1:0', upstream: `127.0.0.1:${upstream.port}` });
    await proxy.addToxic({ name: 'lat', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 1, jitter: 0 } });
    await client.reset();
    await proxy.remove();
    assert.deepEqual(Object.keys(await client.getAll()), []);
  });
});

describe('chaos control API (switchyard chaos --http): cross-site requests are refused (issue 10 §1)', () => {
  test('PUT /backend and PUT /behavior: 403/415 in cornice shape; the backend does not move', async (t) => {
    const a = await startEchoServer();
    t.after(() => a.close());
    const chaos = await startChaos({ proxy: '127.0.0.1:0', backend: `127.0.0.1:${a.port}`, protocol: 'tcp', behavior: '100:dummy', http: '127.0.0.1:0', logger: silentLogger() });
    t.after(() => chaos.close());
    const base = chaos.api!.url;
    const port = Number(new URL(base).port);
    for (const [path, body] of [
      ['/backend', '{"backend":"127.0.0.1:6379"}'],
      ['/behavior', '{"name":"hang"}'],
    ] as const) {
      for (const [name, headers, status] of attacks(port)) {
        const r = await rawRequest(base, 'PUT', path, headers, body);
        assert.equal(r.status, status, `${path}: ${name}: ${r.text}`);
        assert.equal((JSON.parse(r.text) as { status: string }).status, 'error');
      }
    }
    assert.equal(chaos.api!.backend, `127.0.0.1:${a.port}`);
    assert.equal(chaos.behaviors.spec, 'dummy');
  });

  test('POST is no longer accepted as PUT (Vaurien documents PUT): 405 with Allow, nothing changes', async (t) => {
    const a = await startEchoServer();
    t.after(() => a.close());
    const chaos = await startChaos({ proxy: '127.0.0.1:0', backend: `127.0.0.1:${a.port}`, protocol: 'tcp', behavior: '100:dummy', http: '127.0.0.1:0', logger: silentLogger() });
    t.after(() => chaos.close());
    const base = chaos.api!.url;
    const post = await fetch(`${base}/backend`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"backend":"127.0.0.1:6379"}' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, PUT');
    await post.arrayBuffer();
    assert.equal((await fetch(`${base}/behavior`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"hang"}' })).status, 405);
    assert.equal(chaos.api!.backend, `127.0.0.1:${a.port}`);
    // HEAD is still answered like GET.
    assert.equal((await fetch(`${base}/behavior`, { method: 'HEAD' })).status, 200);
  });

  test('a token (--http-token-file / SWITCHYARD_CHAOS_TOKEN): 401 without it, through with it', async (t) => {
    const a = await startEchoServer();
    t.after(() => a.close());
    const chaos = await startChaos({
      proxy: '127.0.0.1:0',
      backend: `127.0.0.1:${a.port}`,
      protocol: 'tcp',
      behavior: '100:dummy',
      http: '127.0.0.1:0',
      httpAccess: { token: 'chaos-secret' },
      logger: silentLogger(),
    });
    t.after(() => chaos.close());
    const base = chaos.api!.url;
    const none = await rawRequest(base, 'PUT', '/behavior', { 'content-type': 'application/json' }, '{"name":"hang"}');
    assert.equal(none.status, 401);
    assert.equal(chaos.behaviors.spec, 'dummy');
    const ok = await rawRequest(base, 'PUT', '/behavior', { 'content-type': 'application/json', authorization: 'Bearer chaos-secret' }, '{"name":"dummy"}');
    assert.equal(ok.status, 200, ok.text);
  });

  test('a non-loopback --http without a token is refused before anything starts', async () => {
    await assert.rejects(
      startChaos({ proxy: '127.0.0.1:0', backend: '127.0.0.1:1', protocol: 'tcp', behavior: '100:dummy', http: '0.0.0.0:0', logger: silentLogger() }),
      /^SwitchyardError: chaos --http: 0\.0\.0\.0:0 is not a loopback address and no token is set.*--http-token-file.*SWITCHYARD_CHAOS_TOKEN.*--http-insecure/,
    );
  });
});
