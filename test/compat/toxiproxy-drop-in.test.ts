/**
 * The last differences Toxiproxy's own suites found (issue 10 §8): Go's wording for a port in use, /populate's
 * partial runs on a malformed address, and Toxiproxy's `-proxy-metrics` series on /metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { startEchoServer } from '../helpers/net.js';
import { call, portOf, roundTrip, startApi } from './toxiproxy-helpers.js';

type Json = Record<string, unknown>;

async function setup(t: import('node:test').TestContext) {
  const echo = await startEchoServer();
  const h = await startApi();
  const busy = net.createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  t.after(async () => {
    busy.close();
    await h.close();
    await echo.close();
  });
  const busyPort = (busy.address() as net.AddressInfo).port;
  return { ...h, upstream: `127.0.0.1:${echo.port}`, busyPort, u: (p: string) => `${h.url}${p}` };
}

function errorOf(r: { text: string }): { error: string; status: number; proxies?: Json[] } {
  return JSON.parse(r.text) as { error: string; status: number; proxies?: Json[] };
}

test('a port in use is answered in Toxiproxy’s wording on create, update and /populate', async (t) => {
  const { u, upstream, busyPort } = await setup(t);
  const expected = `listen tcp 127.0.0.1:${busyPort}: bind: address already in use`;

  let r = await call(u('/proxies'), 'POST', { name: 'p1', listen: `127.0.0.1:${busyPort}`, upstream });
  assert.equal(r.status, 500);
  assert.deepEqual(errorOf(r), { error: expected, status: 500 });

  r = await call(u('/proxies'), 'POST', { name: 'p1', listen: '127.0.0.1:0', upstream });
  assert.equal(r.status, 201);
  r = await call(u('/proxies/p1'), 'PATCH', { listen: `127.0.0.1:${busyPort}` });
  assert.equal(r.status, 500);
  assert.deepEqual(errorOf(r), { error: expected, status: 500 });

  r = await call(u('/populate'), 'POST', [{ name: 'p2', listen: `127.0.0.1:${busyPort}`, upstream }]);
  assert.equal(r.status, 500);
  assert.deepEqual(errorOf(r), { error: expected, status: 500, proxies: [] });
});

test('/populate with a malformed address creates the proxies before it and answers 500 with them', async (t) => {
  const { u, upstream } = await setup(t);
  for (const bad of [{ listen: 'no-port' }, { upstream: 'no-port' }]) {
    await call(u('/reset'), 'POST');
    const r = await call(u('/populate'), 'POST', [
      { name: 'first', upstream },
      { name: 'second', upstream, ...bad },
      { name: 'third', upstream },
    ]);
    assert.equal(r.status, 500, r.text);
    assert.equal(r.headers.get('content-type'), 'application/json');
    const body = errorOf(r);
    assert.equal(body.status, 500);
    assert.match(body.error, new RegExp(`^invalid ${Object.keys(bad)[0]} at proxy 2: `));
    assert.deepEqual(body.proxies!.map((p) => p['name']), ['first']);
    assert.deepEqual(Object.keys((await call(u('/proxies'), 'GET')).json() as Json), ['first'], 'the third is never reached');
    await roundTrip(portOf(body.proxies![0]!['listen'] as string));
    assert.equal((await call(u('/proxies/first'), 'DELETE')).status, 204);
  }
  // Toxiproxy's own checks (a missing name or upstream) still refuse the whole batch up front.
  const r = await call(u('/populate'), 'POST', [{ name: 'first', upstream }, { name: 'x', upstream: 'no-port' }, { name: 'y' }]);
  assert.equal(r.status, 400);
  assert.deepEqual(errorOf(r), { error: 'missing required field: upstream at proxy 3', status: 400, proxies: [] });
  assert.deepEqual((await call(u('/proxies'), 'GET')).json(), {});
});

test('/metrics serves Toxiproxy’s proxy series beside switchyard’s own', async (t) => {
  const { u, upstream } = await setup(t);
  const created = (await call(u('/proxies'), 'POST', { name: 'redis', upstream })).json() as Json;
  const listen = created['listen'] as string;
  await roundTrip(portOf(listen), 'ping!');
  await roundTrip(portOf(listen), 'pong');

  // A proxy without toxics may splice its connections (the addon reports their bytes every ~250 ms and at the end):
  // scrape until the counts are in, as a Prometheus scraper sees them on a later scrape.
  const lines = ['toxiproxy_proxy_received_bytes_total', 'toxiproxy_proxy_sent_bytes_total'].flatMap((name) =>
    ['upstream', 'downstream'].map((direction) => `${name}{direction="${direction}",proxy="redis",listener="${listen}",upstream="${upstream}"} 9`),
  );
  let r = await call(u('/metrics'), 'GET');
  for (let i = 0; i < 50 && !lines.every((l) => r.text.split('\n').includes(l)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    r = await call(u('/metrics'), 'GET');
  }
  assert.equal(r.status, 200);
  assert.match(r.text, /^switchyard_connections_total\{/m, 'switchyard’s own series stay');
  for (const name of ['toxiproxy_proxy_received_bytes_total', 'toxiproxy_proxy_sent_bytes_total']) {
    assert.match(r.text, new RegExp(`^# TYPE ${name} counter$`, 'm'));
    for (const direction of ['upstream', 'downstream']) {
      const line = `${name}{direction="${direction}",proxy="redis",listener="${listen}",upstream="${upstream}"} 9`;
      assert.ok(r.text.split('\n').includes(line), `${line}\n${r.text}`);
    }
  }
  // A removed proxy leaves no series behind.
  await call(u('/proxies/redis'), 'DELETE');
  assert.doesNotMatch((await call(u('/metrics'), 'GET')).text, /^toxiproxy_proxy_\w+\{/m);
});
