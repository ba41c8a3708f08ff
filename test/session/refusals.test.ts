import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { startProxy } from '../helpers/yard.js';
import { connect, eventually, freePort, readAll, startServer } from '../helpers/net.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';

/** Errors counted by listener l1. */
function errors(yard: Switchyard): Map<string, number> {
  return yard.listeners.get('l1')!.stats.errors;
}

/** Send raw bytes and read the whole answer until the proxy closes. */
async function exchange(port: number, bytes: string | Buffer, end = false): Promise<string> {
  const s = await connect(port);
  const all = readAll(s);
  s.write(bytes);
  if (end) s.end();
  const out = (await all).toString('latin1');
  s.destroy();
  return out;
}

/** An HTTP upstream that answers every request, once its body is read, with 200 "ok". */
function okServer(): Promise<{ port: number; close(): Promise<void> }> {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    server.listen(0, '127.0.0.1', () => {
      resolve({ port: (server.address() as { port: number }).port, close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) });
    });
  });
}

test('http: a refused upstream is answered 502 with Connection: close (node http sees the status), counted', async () => {
  const dead = await freePort();
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${dead}`], listener: { protocol: 'http' } });
  try {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get({ host: '127.0.0.1', port, path: '/x', agent: false }, resolve).on('error', reject));
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (body += d));
    await once(res, 'end');
    assert.equal(res.statusCode, 502);
    assert.equal(res.headers['connection'], 'close');
    assert.match(body, /cluster 'c1'.*ECONNREFUSED/);
    await eventually(() => errors(yard).get('SWY_REFUSED_UPSTREAM_UNAVAILABLE') === 1, 'refusal counted');
    assert.equal(errors(yard).get('SWY_UPSTREAM_REFUSED'), 1);
    // a HEAD request gets the head only
    const head = await exchange(port, 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*\r\n\r\n$/);
  } finally {
    await yard.close();
  }
});

test('http: an upstream that resets (or closes) before answering gives 502; one that answered part of it still resets', async () => {
  let mode: 'reset' | 'close' | 'partial' = 'reset';
  const upstream = await startServer((s) => {
    s.once('data', () => {
      if (mode === 'reset') s.resetAndDestroy();
      else if (mode === 'close') s.end();
      else {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart');
        setTimeout(() => s.resetAndDestroy(), 50);
      }
    });
  });
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${upstream.port}`], listener: { protocol: 'http' } });
  try {
    const reset = await exchange(port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(reset, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.match(reset, /Connection: close\r\n/);
    assert.match(reset, /reset before answering/);
    mode = 'close';
    const closed = await exchange(port, 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(closed, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.match(closed, /closed the connection before answering/);
    await eventually(() => errors(yard).get('SWY_REFUSED_UPSTREAM_LOST') === 2, 'two refusals counted');
    mode = 'partial';
    const s = await connect(port);
    const got = readAll(s).catch(() => Buffer.alloc(0));
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.write('GET /c HTTP/1.1\r\nHost: x\r\n\r\n');
    await got;
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.doesNotMatch(text, /502/);
  } finally {
    await yard.close();
    await upstream.close();
  }
});

test('http: malformed input gets 400, an oversize head 431, then close; counted per code', async () => {
  const up = await okServer();
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${up.port}`], listener: { protocol: { type: 'http', maxHeaderSize: 1024 } } });
  try {
    const bad = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n');
    assert.match(bad, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(bad, /Connection: close\r\n/);
    assert.match(bad, /switchyard: http: /);
    const big = await exchange(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    assert.match(big, /maxHeaderSize/);
    await eventually(() => errors(yard).get('SWY_REFUSED_MALFORMED') === 1 && errors(yard).get('SWY_REFUSED_TOO_LARGE') === 1, 'both refusals counted');
    assert.equal(errors(yard).get('SWY_FRAME_MALFORMED'), 1);
    // a good request on the same listener still works
    const ok = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(ok, /^HTTP\/1\.1 200 OK\r\n[\s\S]*ok$/);
  } finally {
    await yard.close();
    await up.close();
  }
});

test('http: requestHeaderTimeout answers a half-sent head 408 and closes; a silent connection is closed without an answer', async () => {
  const up = await okServer();
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${up.port}`], listener: { protocol: 'http', requestHeaderTimeout: '300ms' } });
  try {
    const partial = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n');
    assert.match(partial, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(partial, /Connection: close\r\n/);
    assert.match(partial, /requestHeaderTimeout \(300 ms\)/);
    const silent = await exchange(port, Buffer.alloc(0));
    assert.equal(silent, '');
    await eventually(() => errors(yard).get('SWY_REQUEST_HEADER_TIMEOUT') === 2 && errors(yard).get('SWY_REFUSED_HEADER_TIMEOUT') === 1, 'counted');
    // a keep-alive client between requests is not timed out by the header timeout (only a started head is)
    const s = await connect(port);
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\n');
    await eventually(() => text.endsWith('ok'), 'first answer');
    await new Promise((r) => setTimeout(r, 600));
    s.write('GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await once(s, 'end');
    assert.equal(text.match(/HTTP\/1\.1 200 OK/g)?.length, 2);
    s.destroy();
  } finally {
    await yard.close();
    await up.close();
  }
});

test('http: requestTimeout and minDataRate refuse a body that trickles in (408), counted', async () => {
  const up = await okServer();
  const { yard, port } = await startProxy({
    upstreams: [`127.0.0.1:${up.port}`],
    listener: { protocol: 'http', requestTimeout: '2s', minDataRate: { bytesPerSecond: 1000, grace: '300ms' } },
  });
  try {
    const s = await connect(port);
    const all = readAll(s);
    s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
    const text = (await all).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(text, /below minDataRate \(1000 bytes\/s\)/);
    s.destroy();
    await eventually(() => errors(yard).get('SWY_REQUEST_TOO_SLOW') === 1 && errors(yard).get('SWY_REFUSED_TOO_SLOW') === 1, 'counted');
  } finally {
    await yard.close();
    await up.close();
  }
  const up2 = await okServer();
  const p2 = await startProxy({ upstreams: [`127.0.0.1:${up2.port}`], listener: { protocol: 'http', requestTimeout: '300ms' } });
  try {
    const s = await connect(p2.port);
    const all = readAll(s);
    s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
    const text = (await all).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(text, /requestTimeout \(300 ms\)/);
    s.destroy();
    await eventually(() => p2.yard.listeners.get('l1')!.stats.errors.get('SWY_REFUSED_REQUEST_TIMEOUT') === 1, 'counted');
  } finally {
    await p2.yard.close();
    await up2.close();
  }
});
