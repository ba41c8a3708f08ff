/**
 * Per-request routing through the configuration (a Switchyard from a config object): the listener's routes match on
 * request attributes, so its scope is `request`; listener faults still apply to routed requests; route counters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { Client } from 'undici';
import { startYard } from '../helpers/yard.js';

async function named(name: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => res.end(JSON.stringify({ server: name, path: req.url, canary: req.headers['x-canary'] ?? null })));
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

test('config routes by path and header per request on one connection; a listener error fault still applies; counters per route', async () => {
  const [a, b, c] = await Promise.all([named('A'), named('B'), named('C')]);
  const yard = await startYard({
    listeners: [{ id: 'web', listen: '127.0.0.1:0', protocol: 'http', faults: [{ type: 'error', toxicity: 1, scope: 'request', match: { path: '/a/boom' }, attributes: { status: '503', message: 'fault says no' } }] }],
    clusters: [
      { id: 'ca', endpoints: [`127.0.0.1:${a.port}`] },
      { id: 'cb', endpoints: [`127.0.0.1:${b.port}`] },
      { id: 'canary', endpoints: [`127.0.0.1:${c.port}`] },
    ],
    routes: [
      { id: 'canary', listener: 'web', cluster: 'canary', match: { headers: { 'x-canary': '1' } } },
      { id: 'ra', listener: 'web', cluster: 'ca', match: { path: '/a/*' } },
      { id: 'rb', listener: 'web', cluster: 'cb', match: { path: '/b/*' } },
    ],
  });
  const addr = yard.listeners.get('web')!.address!;
  const client = new Client(`http://127.0.0.1:${addr.kind === 'tcp' ? addr.port : 0}`, { pipelining: 4 });
  try {
    const json = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;
    const get = async (path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> => {
      const r = await client.request({ method: 'GET', path, headers });
      return { status: r.statusCode, text: await r.body.text() };
    };
    const [r1, r2, r3, r4, r5] = await Promise.all([get('/a/1'), get('/b/1'), get('/a/boom'), get('/b/2', { 'x-canary': '1' }), get('/zzz')]);
    assert.equal(json(r1.text)['server'], 'A');
    assert.equal(json(r2.text)['server'], 'B');
    assert.equal(r3.status, 503);
    assert.match(r3.text, /fault says no/);
    assert.equal(json(r4.text)['server'], 'C');
    assert.equal(r5.status, 404);
    assert.equal(json(r5.text)['listener'], 'web');
    const routes = yard.routes;
    assert.equal(routes.get('ra')!.requests, 1, 'the faulted request never reached the router');
    assert.equal(routes.get('rb')!.requests, 1);
    assert.equal(routes.get('canary')!.requests, 1);
    assert.equal(yard.listeners.get('web')!.stats.errors.get('SWY_NO_ROUTE'), 1);
    assert.equal(yard.listeners.get('web')!.stats.total, 1);
  } finally {
    await client.close();
    await yard.close();
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});
