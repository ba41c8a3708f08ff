import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { startEchoServer, startServer, closeOutcome, readAll } from '../helpers/net.js';
import { call, portOf, roundTripOn, startApi } from './toxiproxy-helpers.js';

/** A proxy `p` to `upstream` with one toxic created through the API; returns the proxy port. */
async function proxyWith(t: import('node:test').TestContext, toxic: Record<string, unknown> | undefined, upstreamPort?: number): Promise<{ port: number; url: string }> {
  const echo = upstreamPort === undefined ? await startEchoServer() : undefined;
  const h = await startApi();
  t.after(async () => {
    await h.close();
    await echo?.close();
  });
  const r = await call(`${h.url}/proxies`, 'POST', { name: 'p', upstream: `127.0.0.1:${upstreamPort ?? echo!.port}` });
  assert.equal(r.status, 201, r.text);
  if (toxic) {
    const tr = await call(`${h.url}/proxies/p/toxics`, 'POST', toxic);
    assert.equal(tr.status, 200, tr.text);
  }
  return { port: portOf((r.json() as { listen: string }).listen), url: h.url };
}

async function open(port: number): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  s.on('error', () => undefined);
  await once(s, 'connect');
  return s;
}

test('reset_peer: the client gets ECONNRESET', async (t) => {
  const { port } = await proxyWith(t, { type: 'reset_peer', attributes: { timeout: 0 } });
  const s = await open(port);
  const outcome = closeOutcome(s);
  s.write('hello');
  const err = await outcome;
  assert.equal(err?.code, 'ECONNRESET');
});

test('limit_data: 100 bytes echoed through a 10-byte limit arrive truncated to 10, then the connection closes', async (t) => {
  const { port } = await proxyWith(t, { type: 'limit_data', stream: 'downstream', attributes: { bytes: 10 } });
  const s = await open(port);
  const all = readAll(s);
  s.write(Buffer.alloc(100, 0x61));
  const got = await all;
  assert.equal(got.length, 10);
});

test('timeout: no data passes and the connection is closed after the timeout', async (t) => {
  const { port } = await proxyWith(t, { type: 'timeout', stream: 'upstream', attributes: { timeout: 400 } });
  const start = performance.now();
  const s = await open(port);
  const all = readAll(s);
  s.write('hello');
  const got = await all;
  assert.equal(got.length, 0);
  // slack: timers run on libuv's whole-millisecond loop clock, and one can fire up to 1 ms early by performance.now()
  assert.ok(performance.now() - start >= 395, 'closed no earlier than the timeout');
});

test('bandwidth: 100 KB at 100 KB/s take at least ~1 s', async (t) => {
  const data = Buffer.alloc(100_000, 0x62);
  const server = await startServer((sock) => sock.end(data));
  t.after(() => server.close());
  const { port } = await proxyWith(t, { type: 'bandwidth', stream: 'downstream', attributes: { rate: 100 } }, server.port);
  const start = performance.now();
  const s = await open(port);
  const got = await readAll(s);
  assert.equal(got.length, data.length);
  assert.ok(performance.now() - start >= 900, `took ${(performance.now() - start).toFixed(0)} ms`);
});

test('slow_close: the close reaches the other side only after the delay', async (t) => {
  const { port } = await proxyWith(t, { type: 'slow_close', stream: 'upstream', attributes: { delay: 500 } });
  const s = await open(port);
  const all = readAll(s);
  await roundTripOn(s, 'abc');
  const start = performance.now();
  s.end();
  await all;
  assert.ok(performance.now() - start >= 495, 'the echo server saw our FIN (and answered with its own) after >= 500 ms');
});

test('slicer: 1000 bytes arrive intact in many small reads', async (t) => {
  const data = Buffer.alloc(1000, 0x63);
  const server = await startServer((sock) => sock.end(data));
  t.after(() => server.close());
  const { port } = await proxyWith(t, { type: 'slicer', stream: 'downstream', attributes: { average_size: 10, size_variation: 5, delay: 2000 } }, server.port);
  const s = await open(port);
  let reads = 0;
  s.on('data', () => reads++);
  const got = await readAll(s);
  assert.equal(got.length, 1000);
  assert.ok(reads >= 20, `${reads} reads`);
});

test('latency reaches a connection that is already open (Toxiproxy semantics); removing it stops delaying it', async (t) => {
  const { port, url } = await proxyWith(t, undefined);
  const s = await open(port);
  t.after(() => s.destroy());
  await roundTripOn(s);
  const r = await call(`${url}/proxies/p/toxics`, 'POST', { type: 'latency', attributes: { latency: 300 } });
  assert.equal(r.status, 200);
  // Timers fire on libuv's millisecond loop clock, so a delay measured with performance.now() may read ~1 ms short.
  const delayed = await roundTripOn(s);
  assert.ok(delayed >= 295, `the live connection is delayed (${delayed.toFixed(1)} ms)`);
  await call(`${url}/proxies/p/toxics/latency_downstream`, 'PATCH', { attributes: { latency: 500 } });
  const updated = await roundTripOn(s);
  assert.ok(updated >= 495, `an update reaches it too (${updated.toFixed(1)} ms)`);
  await call(`${url}/proxies/p/toxics/latency_downstream`, 'DELETE');
  t.diagnostic(`after removal: ${(await roundTripOn(s)).toFixed(1)} ms`);
});

test('toxicity 0 never applies; disabling closes live connections', async (t) => {
  const { port, url } = await proxyWith(t, { type: 'reset_peer', toxicity: 0 });
  const s = await open(port);
  t.after(() => s.destroy());
  await roundTripOn(s, 'x');
  const ended = new Promise<void>((resolve) => {
    s.once('end', resolve);
    s.once('close', resolve);
  });
  await call(`${url}/proxies/p`, 'PATCH', { enabled: false });
  await ended;
});
