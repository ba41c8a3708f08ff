import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Client, fetch } from 'undici';
import { startCodecTap, type CodecTap, type CodecTapOptions, type TappedFrame } from '../helpers/codec-tap.js';
import { startServer, pseudoRandomChunks } from '../helpers/net.js';
import { protocolConformance, type TranscriptStep } from '../conformance/protocol-suite.js';
import { httpProtocol, httpOptionsSchema } from '../../src/protocols/http/index.js';
import type { ProtocolCodecFactory } from '../../src/protocols/protocol.js';

const factory = httpProtocol.factory(httpOptionsSchema.parse({}));
const MIB = 1024 * 1024;

interface Upstream {
  server: http.Server;
  port: number;
  /** TCP connections the server accepted. */
  connections: number;
  close(): Promise<void>;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const BIG = Buffer.concat([...pseudoRandomChunks(5 * MIB, 42)]);
const BIG_SHA = sha256(BIG);

/** A node:http server with the routes the tests use. */
async function startUpstream(): Promise<Upstream> {
  const server = http.createServer((req, res) => void (async () => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (url.pathname.startsWith('/slow/')) {
      await new Promise((r) => setTimeout(r, 15));
      res.end(`${req.method} ${url.pathname} ${url.search}`);
    } else if (url.pathname === '/big') {
      res.setHeader('content-length', 100_000);
      res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(100_000, 0x62));
    } else if (url.pathname === '/chunked') {
      res.setHeader('trailer', 'x-sum');
      for (const piece of ['alpha ', 'beta ', 'gamma ', 'delta']) {
        res.write(piece);
        await new Promise((r) => setImmediate(r));
      }
      res.addTrailers({ 'x-sum': '4' });
      res.end();
    } else if (url.pathname === '/upload') {
      res.end(JSON.stringify({ bytes: body.length, sha: sha256(body), chunked: req.headers['transfer-encoding'] === 'chunked' }));
    } else if (url.pathname === '/download') {
      if (url.searchParams.get('mode') === 'chunked') {
        for (let off = 0; off < BIG.length; off += 100_000) {
          if (!res.write(BIG.subarray(off, off + 100_000))) await once(res, 'drain');
        }
        res.end();
      } else {
        res.setHeader('content-length', BIG.length);
        res.end(BIG);
      }
    } else {
      res.setHeader('content-type', 'text/plain');
      res.end(`ok ${req.method} ${url.pathname} ${body.length}`);
    }
  })());
  server.on('checkContinue', (req, res) => {
    res.writeContinue();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(`continued ${Buffer.concat(chunks).toString()}`));
  });
  server.on('upgrade', (req, socket, head) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\n');
    if (head.length > 0) socket.write(head.toString().toUpperCase());
    socket.on('data', (c: Buffer) => socket.write(c.toString().toUpperCase()));
    socket.on('end', () => socket.end());
  });
  const up: Upstream = {
    server,
    port: 0,
    connections: 0,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  server.on('connection', () => up.connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  up.port = (server.address() as net.AddressInfo).port;
  return up;
}

async function withTap(
  fn: (ctx: { up: Upstream; tap: CodecTap; url: string }) => Promise<void>,
  options: CodecTapOptions = {},
  f: ProtocolCodecFactory = factory,
): Promise<void> {
  const up = await startUpstream();
  const tap = await startCodecTap(f, { host: '127.0.0.1', port: up.port }, options);
  try {
    await fn({ up, tap, url: `http://127.0.0.1:${tap.port}` });
    assert.deepEqual(tap.errors, [], 'the codec accepted all traffic');
  } finally {
    await tap.close();
    await up.close();
  }
}

/** Requests and final responses per connection log, with how many requests were outstanding at most. */
function pairing(log: TappedFrame[]): { requests: string[]; responses: number; maxOutstanding: number } {
  const requests: string[] = [];
  let responses = 0;
  let outstanding = 0;
  let maxOutstanding = 0;
  for (const f of log) {
    if (f.info.opaque) continue;
    if (f.from === 'c' && f.info.start) {
      requests.push(`${f.info.attributes?.method} ${f.info.attributes?.path}${f.info.attributes?.query ? `?${f.info.attributes.query}` : ''}`);
      outstanding++;
      maxOutstanding = Math.max(maxOutstanding, outstanding);
    }
    if (f.from === 's' && f.info.end && !f.info.unsolicited) {
      responses++;
      outstanding--;
    }
  }
  return { requests, responses, maxOutstanding };
}

function wire(log: TappedFrame[], from: 'c' | 's'): string {
  return Buffer.concat(log.filter((f) => f.from === from).map((f) => f.frame)).toString('latin1');
}

test('undici Client with pipelining 4 and keep-alive: one connection, requests pipelined and paired in order', async () => {
  await withTap(async ({ up, tap, url }) => {
    const client = new Client(url, { pipelining: 4 });
    try {
      const results = await Promise.all(
        Array.from({ length: 12 }, async (_, i) => {
          const r = await client.request({ path: `/slow/${i}?n=${i}`, method: 'GET' });
          return { status: r.statusCode, body: await r.body.text() };
        }),
      );
      results.forEach((r, i) => assert.deepEqual(r, { status: 200, body: `GET /slow/${i} ?n=${i}` }));
    } finally {
      await client.close();
    }
    assert.equal(up.connections, 1, 'the server saw one keep-alive connection');
    assert.equal(tap.connections.length, 1);
    const p = pairing(tap.connections[0]!);
    assert.deepEqual(p.requests, Array.from({ length: 12 }, (_, i) => `GET /slow/${i}?n=${i}`));
    assert.equal(p.responses, 12);
    assert.ok(p.maxOutstanding >= 2, `requests were pipelined through the codec (at most ${p.maxOutstanding} outstanding)`);
    assert.equal(tap.connections[0]![0]!.info.attributes?.host, `127.0.0.1:${tap.port}`);
  });
});

/** node:http client requests over one keep-alive agent socket; resolves status, headers and body text. */
function agentRequest(agent: http.Agent, port: number, method: string, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket: req.socket as net.Socket }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('HEAD: no response body despite Content-Length (undici fetch); the kept-alive connection serves the next GET (node agent)', async () => {
  await withTap(async ({ up, tap, url }) => {
    // undici itself always closes a connection after a HEAD request, so connection reuse is checked with node's agent
    const head = await fetch(`${url}/big`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '100000');
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const h = await agentRequest(agent, tap.port, 'HEAD', '/big');
      assert.equal(h.headers['content-length'], '100000');
      assert.equal(h.body, '');
      const g = await agentRequest(agent, tap.port, 'GET', '/big');
      assert.equal(g.body.length, 100_000);
      assert.equal(g.socket, h.socket, 'the same socket served both requests');
    } finally {
      agent.destroy();
    }
    assert.equal(up.connections, 2, 'one connection for fetch, one for the agent');
    const log = tap.connections[1]!;
    const firstResponse = log.find((f) => f.from === 's')!;
    assert.deepEqual(firstResponse.info, { start: true, end: true }, 'the HEAD response is its head frame alone');
    assert.deepEqual(pairing(log).requests, ['HEAD /big', 'GET /big']);
    assert.equal(pairing(log).responses, 2);
    assert.deepEqual(tap.connections[0]!.find((f) => f.from === 's')!.info, { start: true, end: true });
  });
});

test('chunked response written in pieces with trailers: bytes unchanged, one message', async () => {
  await withTap(async ({ tap, url }) => {
    const client = new Client(url);
    try {
      const r = await client.request({ path: '/chunked', method: 'GET' });
      assert.equal(r.headers['transfer-encoding'], 'chunked');
      assert.equal(await r.body.text(), 'alpha beta gamma delta');
      assert.deepEqual(r.trailers, { 'x-sum': '4' });
    } finally {
      await client.close();
    }
    const resp = tap.connections[0]!.filter((f) => f.from === 's');
    assert.equal(resp[0]!.info.start, true);
    assert.equal(resp.filter((f) => f.info.end).length, 1);
    assert.equal(resp[resp.length - 1]!.info.end, true);
    assert.match(wire(tap.connections[0]!, 's'), /\r\n\r\n6\r\nalpha \r\n5\r\nbeta \r\n6\r\ngamma \r\n5\r\ndelta\r\n0\r\nx-sum: 4\r\n\r\n$/);
  });
});

test('5 MiB upload and download (Content-Length and chunked): intact, frames bounded by maxBodyFrame', async () => {
  const maxBodyFrame = 16 * 1024;
  const small = httpProtocol.factory(httpOptionsSchema.parse({ maxBodyFrame }));
  await withTap(
    async ({ up, tap, url }) => {
      const client = new Client(url);
      try {
        const fixed = await client.request({ path: '/upload', method: 'POST', body: BIG });
        assert.deepEqual(await fixed.body.json(), { bytes: BIG.length, sha: BIG_SHA, chunked: false });
        const streamed = await client.request({ path: '/upload', method: 'POST', body: Readable.from(pseudoRandomChunks(5 * MIB, 42, 50_000)) });
        assert.deepEqual(await streamed.body.json(), { bytes: BIG.length, sha: BIG_SHA, chunked: true });
        for (const mode of ['length', 'chunked']) {
          const r = await client.request({ path: `/download?mode=${mode}`, method: 'GET' });
          assert.equal(r.headers['transfer-encoding'], mode === 'chunked' ? 'chunked' : undefined);
          const got = Buffer.from(await r.body.arrayBuffer());
          assert.equal(got.length, BIG.length);
          assert.equal(sha256(got), BIG_SHA);
        }
      } finally {
        await client.close();
      }
      assert.equal(up.connections, 1);
      const log = tap.connections[0]!;
      const bodyFrames = log.filter((f) => !f.info.start);
      const largest = Math.max(...bodyFrames.map((f) => f.frame.length));
      assert.ok(largest <= maxBodyFrame + 16, `largest body frame ${largest} ≤ maxBodyFrame + a chunk-size line`);
      assert.ok(bodyFrames.length > (4 * 5 * MIB) / maxBodyFrame - 10, 'bodies were cut into many frames');
      assert.equal(pairing(log).responses, 4);
    },
    {},
    small,
  );
});

test('Expect: 100-continue with http.request: head, unsolicited 100, body, final response', async () => {
  await withTap(async ({ tap, up }) => {
    const agent = new http.Agent({ keepAlive: false });
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: tap.port, path: '/put', method: 'PUT', agent, headers: { expect: '100-continue', 'content-length': 5 } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.on('continue', () => req.end('12345'));
    });
    agent.destroy();
    assert.equal(body, 'continued 12345');
    assert.equal(up.connections, 1);
    const log = tap.connections[0]!;
    const marks = log
      .filter((f) => f.info.start || f.info.end)
      .map((f) => `${f.from}${f.info.start ? 'S' : ''}${f.info.end ? 'E' : ''}${f.info.unsolicited ? 'u' : ''}`);
    assert.deepEqual(marks, ['cS', 'sSEu', 'cE', 'sS', 'sE'], 'head, 100 Continue (unsolicited), body, final response');
    assert.match(log.find((f) => f.info.unsolicited)!.frame.toString(), /^HTTP\/1\.1 100 Continue\r\n/);
    assert.equal(pairing(log).responses, 1);
  });
});

test('Upgrade to a raw protocol: 101, then both directions opaque', async () => {
  await withTap(async ({ tap }) => {
    const req = http.request({ host: '127.0.0.1', port: tap.port, path: '/shout', headers: { connection: 'Upgrade', upgrade: 'shout' }, agent: false });
    req.end();
    const [res, socket] = (await once(req, 'upgrade')) as [http.IncomingMessage, net.Socket];
    assert.equal(res.statusCode, 101);
    socket.write('hello tunnel');
    const [echo] = (await once(socket, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'HELLO TUNNEL');
    socket.write('GET / HTTP/1.1\r\n\r\n');
    const [echo2] = (await once(socket, 'data')) as [Buffer];
    assert.equal(echo2.toString(), 'GET / HTTP/1.1\r\n\r\n');
    socket.end();
    await once(socket, 'close');
    const log = tap.connections[0]!;
    const switchAt = log.findIndex((f) => f.from === 's' && f.frame.toString().startsWith('HTTP/1.1 101'));
    assert.ok(switchAt >= 0);
    assert.deepEqual(log[switchAt]!.info, { start: true, end: true });
    const after = log.slice(switchAt + 1);
    assert.ok(after.length >= 4);
    assert.ok(after.every((f) => f.info.opaque === true && f.info.start && f.info.end), 'frames after the switch are opaque');
    assert.equal(wire(after, 'c'), 'hello tunnelGET / HTTP/1.1\r\n\r\n');
  });
});

test('close-delimited HTTP/1.0 response from a raw TCP server ends at EOF', async () => {
  const raw = await startServer((socket) => {
    let seen = '';
    socket.on('data', (c: Buffer) => {
      seen += c.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      socket.write('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, ');
      setImmediate(() => socket.end('second part'));
    });
  });
  const tap = await startCodecTap(factory, { host: '127.0.0.1', port: raw.port });
  try {
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: tap.port, path: '/legacy', agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    assert.equal(body, 'first part, second part');
    assert.deepEqual(tap.errors, []);
    const resp = tap.connections[0]!.filter((f) => f.from === 's');
    assert.equal(resp.filter((f) => f.info.end).length, 1);
    assert.equal(resp[resp.length - 1]!.info.end, true, 'the frame emitted at EOF ends the response');
    assert.equal(pairing(tap.connections[0]!).responses, 1);
  } finally {
    await tap.close();
    await raw.close();
  }
});

test('error reply: undici sees a 503 with the message, and the same connection serves the next requests', async () => {
  const failed: string[] = [];
  await withTap(
    async ({ up, tap, url }) => {
      const client = new Client(url);
      try {
        const ok1 = await client.request({ path: '/ok', method: 'GET' });
        assert.equal(await ok1.body.text(), 'ok GET /ok 0');
        const bad = await client.request({ path: '/fail', method: 'GET' });
        assert.equal(bad.statusCode, 503);
        assert.equal(bad.headers['content-type'], 'text/plain; charset=utf-8');
        assert.equal(bad.headers.connection, undefined);
        assert.equal(await bad.body.text(), 'injected by the test\n');
        const badPost = await client.request({ path: '/fail', method: 'POST', body: Buffer.alloc(200_000, 0x61) });
        assert.equal(badPost.statusCode, 503);
        assert.equal(await badPost.body.text(), 'injected by the test\n');
        const ok2 = await client.request({ path: '/ok', method: 'POST', body: 'abc' });
        assert.equal(await ok2.body.text(), 'ok POST /ok 3');
        const viaFetch = await fetch(`${url}/fail`, { dispatcher: client });
        assert.equal(viaFetch.status, 503);
        assert.equal(viaFetch.statusText, 'Service Unavailable');
        assert.equal(await viaFetch.text(), 'injected by the test\n');
      } finally {
        await client.close();
      }
      assert.deepEqual(failed, ['GET /fail', 'POST /fail', 'GET /fail']);
      assert.equal(tap.connections.length, 1, 'the client reused its connection');
      assert.equal(up.connections, 1, 'the server saw one connection');
      // HEAD: no body bytes but the Content-Length; node's keep-alive agent reuses the socket afterwards
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const h = await agentRequest(agent, tap.port, 'HEAD', '/fail');
        assert.equal(h.status, 503);
        assert.equal(h.headers['content-length'], '21');
        assert.equal(h.body, '');
        const g = await agentRequest(agent, tap.port, 'GET', '/ok');
        assert.equal(g.body, 'ok GET /ok 0');
        assert.equal(g.socket, h.socket, 'the same socket served the next request');
      } finally {
        agent.destroy();
      }
      assert.equal(tap.connections.length, 2);
    },
    {
      fail: (attrs) => {
        if (attrs?.path !== '/fail') return undefined;
        failed.push(`${attrs.method} ${attrs.path}`);
        return { request: attrs, message: 'injected by the test' };
      },
    },
  );
});

test('error reply with close: true and a custom status: the client sees connection: close and reconnects', async () => {
  await withTap(
    async ({ tap, url }) => {
      const client = new Client(url);
      try {
        const r = await client.request({ path: '/close', method: 'GET' });
        assert.equal(r.statusCode, 429);
        assert.equal(r.headers.connection, 'close');
        assert.equal(await r.body.text(), 'slow down\n');
        const next = await client.request({ path: '/ok', method: 'GET' });
        assert.equal(await next.body.text(), 'ok GET /ok 0');
      } finally {
        await client.close();
      }
      assert.equal(tap.connections.length, 2, 'a new connection after Connection: close');
    },
    { fail: (attrs) => (attrs?.path === '/close' ? { message: 'slow down', status: 429, close: true } : undefined) },
  );
});

// A transcript captured from real peers (undici → node:http), replayed through the conformance suite.
const captured: TranscriptStep[] = await (async () => {
  const steps: TranscriptStep[] = [];
  await withTap(async ({ tap, url }) => {
    const client = new Client(url, { pipelining: 3 });
    try {
      await Promise.all([1, 2, 3].map(async (i) => (await client.request({ path: `/slow/${i}`, method: 'GET' })).body.text()));
      await (await client.request({ path: '/chunked', method: 'GET' })).body.text();
      await (await client.request({ path: '/up', method: 'POST', body: Readable.from(['a', 'bc', 'def']) })).body.text();
      await (await client.request({ path: '/big', method: 'HEAD' })).body.text();
    } finally {
      await client.close();
    }
    for (const f of tap.connections[0]!) {
      const last = steps[steps.length - 1];
      if (last && last.from === f.from) last.bytes = Buffer.concat([last.bytes as Buffer, f.frame]);
      else steps.push({ from: f.from, bytes: Buffer.from(f.frame) });
    }
  });
  return steps;
})();
protocolConformance('http captured undici ↔ node:http conversation', factory, captured, { requests: 6, responses: 6 });
