/**
 * Property: through `replicate` in front of three identical variants, any sequence of HTTP requests — random
 * methods, bodies, pipelining depth and TCP chunking — gets exactly the answers the variant itself gives, in order,
 * with no divergence recorded.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { startYard } from '../helpers/yard.js';

const servers: http.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function variant(): Promise<number> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const digest = createHash('sha256').update(body).digest('hex').slice(0, 16);
      const out = `${req.method} ${req.url} ${body.length} ${digest}`;
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(out) });
        res.end();
        return;
      }
      const chunked = (req.url ?? '').includes('chunked');
      res.writeHead(200, chunked ? { 'content-type': 'text/plain' } : { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return (server.address() as net.AddressInfo).port;
}

interface Req {
  method: 'GET' | 'POST' | 'PUT' | 'HEAD' | 'DELETE';
  path: string;
  body: number;
}

function wire(r: Req, last: boolean): Buffer {
  const body = r.method === 'GET' || r.method === 'HEAD' ? Buffer.alloc(0) : Buffer.alloc(r.body, 0x41 + (r.body % 26));
  const head = `${r.method} ${r.path} HTTP/1.1\r\nHost: t\r\n${body.length > 0 || r.method === 'POST' ? `Content-Length: ${body.length}\r\n` : ''}${last ? 'Connection: close\r\n' : ''}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** Send the requests (pipelined, cut into chunks), read until the server closes; return the raw answer bytes. */
async function exchange(port: number, reqs: Req[], cuts: number[]): Promise<string> {
  const all = Buffer.concat(reqs.map((r, i) => wire(r, i === reqs.length - 1)));
  const sock = net.connect(port, '127.0.0.1');
  const got: Buffer[] = [];
  sock.on('data', (c: Buffer) => got.push(c));
  sock.on('error', () => undefined);
  const closed = new Promise((r) => sock.on('close', r));
  await new Promise((r) => sock.once('connect', r));
  let at = 0;
  for (const c of cuts) {
    if (at >= all.length) break;
    const end = Math.min(all.length, at + c);
    sock.write(all.subarray(at, end));
    at = end;
    await new Promise((r) => setImmediate(r));
  }
  if (at < all.length) sock.write(all.subarray(at));
  await closed;
  return Buffer.concat(got).toString('latin1');
}

/** Answers with the volatile Date header removed. */
const stable = (raw: string): string => raw.replace(/^date: .*\r\n/gim, '');

for (const policy of ['unanimous', 'primary'] as const)
test(`replicate (${policy}) is transparent for any request sequence, pipelining and chunking (fast-check)`, async () => {
  const ports = [await variant(), await variant(), await variant()];
  const yard = await startYard({
    listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'http' }],
    routes: [{ id: 'r', listener: 'front', replicate: { variants: ports.map((p) => `127.0.0.1:${p}`), policy } }],
  });
  const a = yard.listeners.get('front')!.address!;
  const front = a.kind === 'tcp' ? a.port : 0;
  const req = fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'DELETE'),
    path: fc.constantFrom('/', '/a', '/chunked', '/x?y=1', '/chunked/z'),
    body: fc.integer({ min: 0, max: 70_000 }),
  });
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(req, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 8 }), async (reqs, cuts) => {
        const direct = stable(await exchange(ports[0]!, reqs, cuts));
        const proxied = stable(await exchange(front, reqs, cuts));
        assert.equal(proxied, direct);
      }),
      { numRuns: 40, interruptAfterTimeLimit: 60_000 },
    );
    assert.equal(yard.divergences.list().length, 0, JSON.stringify(yard.divergences.list()[0]));
  } finally {
    await yard.close();
  }
});
