/**
 * A routed HTTP listener without handlers hands the session's request frames to the router (no second parse): the
 * same answers as the byte path, in order, for pipelined requests with bodies (length and chunked), HEAD, rewrites and
 * direct answers; back-pressure from a slow upstream; a fault added live switches the connection to the byte path at
 * the next request boundary and removing it switches back — all on one client connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { startYard } from '../helpers/yard.js';
import { eventually } from '../helpers/net.js';

interface Backend {
  port: number;
  close(): Promise<void>;
}

/** Answers `{server, method, path, bytes, sha}` of each request, after reading its body slowly when `slow`. */
async function backend(name: string, slow = false): Promise<Backend> {
  const server = http.createServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
      if (slow) {
        req.pause();
        setTimeout(() => req.resume(), 2);
      }
    });
    req.on('end', () => {
      const body = JSON.stringify({ server: name, method: req.method, path: req.url, bytes, sha: hash.digest('hex') });
      res.setHeader('content-type', 'application/json');
      res.setHeader('content-length', Buffer.byteLength(body));
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
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

/** Reads HTTP/1.1 responses off one raw socket, in order (content-length bodies; HEAD answers have none). */
class RawClient {
  readonly socket: net.Socket;
  #buf = Buffer.alloc(0);
  #waiters: Array<() => void> = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c]);
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  async response(head = false): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    for (;;) {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const lines = this.#buf.toString('latin1', 0, end).split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
        }
        const len = head ? 0 : Number(headers['content-length'] ?? 0);
        if (this.#buf.length >= end + 4 + len) {
          const body = this.#buf.toString('utf8', end + 4, end + 4 + len);
          this.#buf = this.#buf.subarray(end + 4 + len);
          return { status: Number(lines[0]!.split(' ')[1]), headers, body };
        }
      }
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no complete response; have ${JSON.stringify(this.#buf.toString('latin1').slice(0, 200))}`)), 20_000);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

function json(text: string): Record<string, unknown> {
  return JSON.parse(text) as Record<string, unknown>;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

test('handed-over request frames: pipelined bodies, HEAD, rewrite, direct answers and no-route in order; live fault switches paths at a request boundary', async () => {
  const [a, b] = await Promise.all([backend('A'), backend('B')]);
  const yard = await startYard({
    listeners: [{ id: 'web', listen: '127.0.0.1:0', protocol: 'http' }],
    clusters: [
      { id: 'ca', endpoints: [`127.0.0.1:${a.port}`] },
      { id: 'cb', endpoints: [`127.0.0.1:${b.port}`] },
    ],
    routes: [
      { id: 'ra', listener: 'web', cluster: 'ca', match: { path: '/a/*' } },
      { id: 'rb', listener: 'web', cluster: 'cb', match: { path: '/b/*' }, rewrite: { pathPrefix: '/v2/' } },
      { id: 'hello', listener: 'web', match: { path: '/hello' }, directResponse: { status: 200, body: 'hi there' } },
    ],
  });
  const addr = yard.listeners.get('web')!.address!;
  const c = new RawClient(addr.kind === 'tcp' ? addr.port : 0);
  try {
    const body1 = Buffer.alloc(70_000, 'x');
    const chunked = '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
    // one write holding five pipelined requests: length body, chunked body, HEAD, direct answer, no route, rewrite
    c.socket.write(
      Buffer.concat([
        Buffer.from(`POST /a/one HTTP/1.1\r\nHost: x\r\nContent-Length: ${body1.length}\r\n\r\n`),
        body1,
        Buffer.from(`POST /b/two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`),
        Buffer.from('HEAD /a/three HTTP/1.1\r\nHost: x\r\n\r\n'),
        Buffer.from('GET /hello HTTP/1.1\r\nHost: x\r\n\r\n'),
        Buffer.from('GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n'),
        Buffer.from('GET /b/four?q=1 HTTP/1.1\r\nHost: x\r\n\r\n'),
      ]),
    );
    const r1 = await c.response();
    assert.deepEqual(JSON.parse(r1.body), { server: 'A', method: 'POST', path: '/a/one', bytes: body1.length, sha: sha(body1) });
    const r2 = await c.response();
    assert.deepEqual(JSON.parse(r2.body), { server: 'B', method: 'POST', path: '/v2/two', bytes: 11, sha: sha(Buffer.from('hello world')) });
    const r3 = await c.response(true);
    assert.equal(r3.status, 200);
    assert.ok(Number(r3.headers['content-length']) > 0, 'a HEAD answer keeps its content-length and has no body');
    const r4 = await c.response();
    assert.equal(r4.body, 'hi there');
    const r5 = await c.response();
    assert.equal(r5.status, 404);
    assert.equal(json(r5.body)['listener'], 'web');
    const r6 = await c.response();
    assert.equal(json(r6.body)['path'], '/v2/four?q=1');

    // a fault added live reaches this connection from its next request on (the byte path), and goes away again
    yard.faultSet('web').add({ name: 'teapot', type: 'error', toxicity: 1, scope: 'request', match: { path: '/a/*' }, attributes: { status: '418', message: 'short and stout' } } as never, 'test');
    c.socket.write('GET /a/five HTTP/1.1\r\nHost: x\r\n\r\nGET /b/six HTTP/1.1\r\nHost: x\r\n\r\n');
    const r7 = await c.response();
    assert.equal(r7.status, 418);
    assert.match(r7.body, /short and stout/);
    const r8 = await c.response();
    assert.equal(json(r8.body)['path'], '/v2/six');
    yard.faultSet('web').remove('teapot');
    c.socket.write('GET /a/seven HTTP/1.1\r\nHost: x\r\n\r\n');
    const r9 = await c.response();
    assert.equal(json(r9.body)['server'], 'A');
    assert.equal(yard.routes.get('ra')!.requests, 3, '/a/one, /a/three and /a/seven reached route ra; /a/five was answered by the fault');
  } finally {
    c.socket.destroy();
    await yard.close();
    await Promise.all([a.close(), b.close()]);
  }
});

test('handed-over request frames: a slow upstream holds a 16 MiB upload back (bounded), byte-exact', async () => {
  const slow = await backend('S', true);
  const fast = await backend('F');
  const yard = await startYard({
    listeners: [{ id: 'web', listen: '127.0.0.1:0', protocol: 'http' }],
    clusters: [
      { id: 'slow', endpoints: [`127.0.0.1:${slow.port}`] },
      { id: 'fast', endpoints: [`127.0.0.1:${fast.port}`] },
    ],
    routes: [
      { id: 'up', listener: 'web', cluster: 'slow', match: { path: '/upload' } },
      { id: 'rest', listener: 'web', cluster: 'fast' },
    ],
  });
  const addr = yard.listeners.get('web')!.address!;
  const c = new RawClient(addr.kind === 'tcp' ? addr.port : 0);
  try {
    const size = 16 * 1024 * 1024;
    const piece = Buffer.alloc(256 * 1024);
    for (let i = 0; i < piece.length; i++) piece[i] = (i * 7) & 0xff;
    const hash = createHash('sha256');
    c.socket.write(`PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
    let sent = 0;
    let stalls = 0;
    while (sent < size) {
      hash.update(piece);
      sent += piece.length;
      if (!c.socket.write(piece)) {
        stalls++;
        await new Promise<void>((r) => c.socket.once('drain', () => r()));
      }
    }
    c.socket.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
    const r1 = await c.response();
    assert.deepEqual(JSON.parse(r1.body), { server: 'S', method: 'PUT', path: '/upload', bytes: size, sha: hash.digest('hex') });
    assert.ok(stalls > 0, 'the client was held back while the upstream read slowly');
    const r2 = await c.response();
    assert.equal(json(r2.body)['server'], 'F');
    await eventually(() => yard.routes.get('up')!.requests === 1, 'route up counted once');
  } finally {
    c.socket.destroy();
    await yard.close();
    await Promise.all([slow.close(), fast.close()]);
  }
});
