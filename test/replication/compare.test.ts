import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import zlib from 'node:zlib';
import { once } from 'node:events';
import Fastify, { type FastifyInstance } from 'fastify';
import fc from 'fast-check';
import { buildComparator } from '../../src/compare/comparator.js';
import { canonOf, type Canon } from '../../src/compare/canon.js';
import { canonicalJson } from '../../src/compare/canonical-json.js';
import { lifterFor } from '../../src/compare/lifters.js';
import { maskTree } from '../../src/compare/pointer-mask.js';
import { unifiedDiff } from '../../src/compare/unified-diff.js';
import type { Tree } from '../../src/protocols/lift.js';
import { DEFAULT_IGNORED_HEADERS } from '../../src/protocols/http/normalize.js';
import { BE, FE, encodeErrorResponse, encodeMessage, encodeReadyForQuery } from '../../src/protocols/postgres/messages.js';

// ---------------------------------------------------------------------------------------------------------------
// helpers

/** Send raw bytes to 127.0.0.1:port and collect everything until the peer closes (or `until` says done). */
function exchange(port: number, request: Buffer | string, until?: (got: Buffer) => boolean, timeoutMs = 3000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete answer from port ${port} within ${timeoutMs} ms (got ${Buffer.concat(chunks).length} bytes)`));
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(chunks));
    };
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (until && until(Buffer.concat(chunks))) finish();
    });
    s.on('end', finish);
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.write(request);
  });
}

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`;

function throwsConfig(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SWY_CONFIG_INVALID');
    assert.match(err.message, re);
    return true;
  });
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function need(available: boolean, what: string, t: { skip(msg: string): void }): boolean {
  if (available) return true;
  if (process.env['CI']) assert.fail(`${what} is not reachable`);
  t.skip(`${what} not reachable`);
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// real HTTP servers: node:http and fastify, answering the same data differently on the wire

const USER = { id: 1, name: 'alice', tags: ['a', 'b'], profile: { city: 'Oslo', since: 2019 } };
let nodeServer: http.Server;
let nodePort = 0;
let fastify: FastifyInstance;
let fastifyPort = 0;
let redisUp = false;
let pgUp = false;

before(async () => {
  nodeServer = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/users/1' || url === '/users/2') {
      // chunked, mixed-case headers in a different order, keys in a different order
      const body = JSON.stringify({ profile: { since: 2019, city: 'Oslo' }, tags: ['a', 'b'], name: url === '/users/1' ? 'alice' : 'bob', id: 1 });
      res.setHeader('X-Custom', 'yes');
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('X-Request-Id', String(Math.random()));
      res.write(body.slice(0, 10));
      res.end(body.slice(10));
    } else if (url === '/gz') {
      const gz = zlib.gzipSync(Buffer.from(JSON.stringify(USER)));
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Encoding': 'gzip', 'Content-Length': gz.length, 'x-custom': 'yes' });
      res.end(gz);
    } else if (url === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`line one\ngenerated at ${new Date().toISOString()}\nline three\n`);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  nodeServer.listen(0, '127.0.0.1');
  await once(nodeServer, 'listening');
  nodePort = (nodeServer.address() as net.AddressInfo).port;

  fastify = Fastify();
  fastify.get('/users/:id', async (_req, reply) => {
    reply.header('x-custom', 'yes');
    reply.header('x-powered-by', 'fastify');
    return USER;
  });
  fastify.get('/text', async (_req, reply) => {
    reply.type('text/plain');
    await new Promise((r) => setTimeout(r, 5)); // a different timestamp than node's
    return `line one\ngenerated at ${new Date(Date.now() + 1234).toISOString()}\nline three\n`;
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  fastifyPort = (fastify.server.address() as net.AddressInfo).port;

  [redisUp, pgUp] = await Promise.all([reachable(6379), reachable(5432)]);
});

after(async () => {
  await new Promise<void>((resolve) => nodeServer.close(() => resolve()));
  await fastify.close();
});

test('http: node:http (chunked, mixed case) and fastify (content-length, date, keep-alive) agree on the same JSON', async () => {
  const a = await exchange(nodePort, get('/users/1'));
  const b = await exchange(fastifyPort, get('/users/1'));
  assert.match(a.toString('latin1'), /Transfer-Encoding: chunked/i);
  assert.match(b.toString('latin1'), /content-length: \d+/i);
  assert.notDeepEqual(a, b);
  const cmp = buildComparator('http');
  const ca = cmp.canonical([a.subarray(0, 7), a.subarray(7)], 'response'); // frames may be split anywhere
  const cb = cmp.canonical([b], 'response');
  assert.deepEqual(ca.tree, {
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-custom': 'yes' },
    body: USER,
  });
  assert.equal(ca.digest, cb.digest);
  assert.deepEqual(cmp.diff(ca, cb), []);
  assert.match(ca.summary, /^200 application\/json \d+ B$/);
  assert.match(cmp.render(ca, cb, ['node', 'fastify']), /no differences/);
});

test('http: a different field value changes the digest; diff and render name the path', async () => {
  const cmp = buildComparator('http');
  const alice = cmp.canonical([await exchange(nodePort, get('/users/1'))], 'response');
  const bob = cmp.canonical([await exchange(nodePort, get('/users/2'))], 'response');
  assert.notEqual(alice.digest, bob.digest);
  assert.deepEqual(cmp.diff(alice, bob), [{ path: '/body/name', kind: 'changed', a: '"alice"', b: '"bob"' }]);
  const text = cmp.render(alice, bob, ['primary', 'candidate']);
  assert.match(text, /^primary \(200 application\/json \d+ B\) vs candidate \(200 application\/json \d+ B\): 1 differing path$/m);
  assert.match(text, /^~ \/body\/name: "alice" → "bob"$/m);
  // ignoring the path makes them agree
  assert.deepEqual(cmp.diff(alice, bob, new Set(['/body/name'])), []);
  assert.equal(cmp.digestWithout(alice, new Set(['/body/name'])), cmp.digestWithout(bob, new Set(['/body/name'])));
  assert.equal(cmp.digestWithout(alice, new Set()), alice.digest);
  assert.equal(cmp.digestWithout(alice, new Set(['/body/nope'])), alice.digest);
});

test('http: gzip bodies are compared decoded; extra ignored headers and compareHeaders: false', async () => {
  const gz = await exchange(nodePort, get('/gz'));
  const plain = await exchange(fastifyPort, get('/users/1'));
  assert.match(gz.toString('latin1'), /Content-Encoding: gzip/);
  const cmp = buildComparator('http');
  const a = cmp.canonical([gz], 'response');
  const b = cmp.canonical([plain], 'response');
  assert.deepEqual((a.tree as { body: Tree }).body, USER);
  assert.equal(a.digest, b.digest);
  // headers that differ (x-custom) stop mattering when ignored, or when headers are not compared at all
  const other = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\nX-Custom: no\r\ncontent-length: 2\r\n\r\n{}');
  const same = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\nX-Custom: yes\r\ncontent-length: 2\r\n\r\n{}');
  assert.notEqual(cmp.canonical([other], 'response').digest, cmp.canonical([same], 'response').digest);
  const lax = buildComparator('http', { ignoreHeaders: ['X-CUSTOM'] });
  assert.equal(lax.canonical([other], 'response').digest, lax.canonical([same], 'response').digest);
  const bodyOnly = buildComparator('http', { compareHeaders: false });
  assert.deepEqual(bodyOnly.canonical([other], 'response').tree, { status: 200, body: {} });
  assert.ok(DEFAULT_IGNORED_HEADERS.includes('date') && !DEFAULT_IGNORED_HEADERS.includes('set-cookie'));
});

test('http: repeated headers are joined, brotli/deflate decoded, 100 Continue skipped, requests lifted', () => {
  const cmp = buildComparator('http');
  const br = zlib.brotliCompressSync(Buffer.from('hello text'));
  const res = Buffer.concat([
    Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'),
    Buffer.from(`HTTP/1.1 201 Created\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Type: text/plain\r\nContent-Encoding: br\r\nContent-Length: ${br.length}\r\n\r\n`),
    br,
  ]);
  assert.deepEqual(cmp.canonical([res], 'response').tree, {
    status: 201,
    headers: { 'content-type': 'text/plain', 'set-cookie': 'a=1, b=2' },
    body: 'hello text',
  });
  const def = zlib.deflateSync(Buffer.from('[1,2]'));
  const res2 = Buffer.concat([Buffer.from(`HTTP/1.0 200 OK\r\nContent-Encoding: deflate\r\n\r\n`), def]); // read to the end
  assert.deepEqual(cmp.canonical([res2], 'response').tree, { status: 200, headers: {}, body: [1, 2] });
  const req = Buffer.from('POST /users?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2');
  const c = cmp.canonical([req], 'request');
  assert.deepEqual(c.tree, { method: 'POST', target: '/users?x=1', headers: { 'content-type': 'application/x-www-form-urlencoded', host: 'h' }, body: 'a=1&b=2' });
  assert.equal(c.summary, 'POST /users?x=1 7 B');
  // binary bodies: base64, or sha256 + length over 64 KiB
  const bin = Buffer.from([0, 1, 2, 255]);
  const res3 = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 4\r\n\r\n`), bin]);
  assert.deepEqual((cmp.canonical([res3], 'response').tree as { body: Tree }).body, { base64: 'AAEC/w==' });
  const big = Buffer.alloc(70 * 1024, 0);
  const res4 = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`), big]);
  const body4 = (cmp.canonical([res4], 'response').tree as { body: { sha256: string; length: number } }).body;
  assert.equal(body4.length, big.length);
  assert.match(body4.sha256, /^[0-9a-f]{64}$/);
});

test('http: masks remove /body/**/requestId at any depth; absent and masked compare equal', () => {
  const res = (body: unknown): Buffer => {
    const s = JSON.stringify(body);
    return Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(s)}\r\n\r\n${s}`);
  };
  const a = res({ requestId: 'r1', data: { items: [{ id: 1, requestId: 'x' }, { id: 2, meta: { requestId: 'y' } }] } });
  const b = res({ requestId: 'r2', data: { items: [{ id: 1, requestId: 'z' }, { id: 2, meta: {} }] } });
  const plain = buildComparator('http');
  assert.deepEqual(
    plain.diff(plain.canonical([a], 'response'), plain.canonical([b], 'response')).map((d) => `${d.kind} ${d.path}`),
    ['changed /body/data/items/0/requestId', 'extra /body/data/items/1/meta', 'missing /body/data/items/1/meta/requestId', 'changed /body/requestId'],
  );
  const masked = buildComparator('http', { masks: ['/body/**/requestId'] });
  const ca = masked.canonical([a], 'response');
  const cb = masked.canonical([b], 'response');
  assert.equal(ca.digest, cb.digest);
  assert.deepEqual((ca.tree as { body: Tree }).body, { data: { items: [{ id: 1 }, { id: 2, meta: {} }] } });
  // header masks are case-insensitive for http
  const h = buildComparator('http', { masks: ['/headers/Content-Type'] });
  assert.deepEqual((h.canonical([a], 'response').tree as { headers: Tree }).headers, {});
});

test('maskTree: * is one segment, ** any depth including zero, arrays lose masked elements, escapes', () => {
  const t: Tree = { a: { b: 1, c: { b: 2 } }, b: 3, list: [{ id: 1, x: 1 }, { id: 2, x: 2 }], 'we/ird~': 1 };
  assert.deepEqual(maskTree(t, ['/a/*']), { a: {}, b: 3, list: [{ id: 1, x: 1 }, { id: 2, x: 2 }], 'we/ird~': 1 });
  assert.deepEqual(maskTree(t, ['/**/b']), { a: { c: {} }, list: [{ id: 1, x: 1 }, { id: 2, x: 2 }], 'we/ird~': 1 });
  assert.deepEqual(maskTree(t, ['/list/*/x', '/we~1ird~0']), { a: { b: 1, c: { b: 2 } }, b: 3, list: [{ id: 1 }, { id: 2 }] });
  assert.deepEqual(maskTree(t, ['/list/0']), { a: { b: 1, c: { b: 2 } }, b: 3, list: [{ id: 2, x: 2 }], 'we/ird~': 1 });
  assert.equal(maskTree(t, []), t); // untouched trees are shared, not copied
  throwsConfig(() => maskTree(t, ['a/b']), /mask 0 "a\/b": a JSON pointer must start with "\/"/);
  throwsConfig(() => maskTree(t, ['/a~2']), /invalid escape/);
});

test('regex masks apply to text leaves: text bodies from real servers, JSON strings, raw text', async () => {
  const a = await exchange(nodePort, get('/text'));
  const b = await exchange(fastifyPort, get('/text'));
  const plain = buildComparator('http');
  const pa = plain.canonical([a], 'response');
  const pb = plain.canonical([b], 'response');
  assert.notEqual(pa.digest, pb.digest);
  const iso = { pattern: '\\d{4}-\\d{2}-\\d{2}T[\\d:.]+Z', replace: '<time>' };
  const cmp = buildComparator('http', { regex: [iso] });
  const ca = cmp.canonical([a], 'response');
  const cb = cmp.canonical([b], 'response');
  assert.equal((ca.tree as { body: Tree }).body, 'line one\ngenerated at <time>\nline three\n');
  assert.equal(ca.digest, cb.digest);
  // the readable diff of the unmasked texts is a unified diff
  const text = plain.render(pa, pb, ['node', 'fastify']);
  assert.match(text, /^~ \/body: text differs \(3 lines → 3 lines\)$/m);
  assert.match(text, /^--- node \/body$/m);
  assert.match(text, /^\+\+\+ fastify \/body$/m);
  assert.match(text, /^@@ -1,3 \+1,3 @@$/m);
  assert.match(text, /^-generated at .*Z$/m);
  assert.match(text, /^\+generated at .*Z$/m);
  assert.match(text, /^ line one$/m);
  const raw = buildComparator('line', { regex: [{ pattern: 'id=\\d+', flags: 'i' }] });
  assert.equal(raw.canonical([Buffer.from('ok ID=42\n')], 'response').tree, 'ok <masked>\n');
});

test('unifiedDiff: hunks with 3 lines of context, merged when close, empty when equal, bounded', () => {
  const a = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
  const b = a.replace('line 5\n', 'line five\n').replace('line 7\n', '').replace('line 18\n', 'line 18\nnew line\n');
  assert.equal(
    unifiedDiff(a, b, ['a.txt', 'b.txt']),
    [
      '--- a.txt',
      '+++ b.txt',
      '@@ -2,9 +2,8 @@',
      ' line 2',
      ' line 3',
      ' line 4',
      '-line 5',
      '+line five',
      ' line 6',
      '-line 7',
      ' line 8',
      ' line 9',
      ' line 10',
      '@@ -16,5 +15,6 @@',
      ' line 16',
      ' line 17',
      ' line 18',
      '+new line',
      ' line 19',
      ' line 20',
      '',
    ].join('\n'),
  );
  assert.equal(unifiedDiff(a, a, ['x', 'y']), '');
  assert.equal(unifiedDiff('', 'one\n', ['x', 'y']), '--- x\n+++ y\n@@ -0,0 +1 @@\n+one\n');
  assert.equal(unifiedDiff('a\nb\n', 'a\nc\n', ['x', 'y'], 0), '--- x\n+++ y\n@@ -2 +2 @@\n-b\n+c\n');
  const long = Array.from({ length: 2500 }, (_, i) => `${i}`).join('\n');
  const out = unifiedDiff(long, long.replace('\n1500\n', '\nX\n'), ['x', 'y']);
  assert.match(out, /too long to diff \(2500 and 2500 lines\); first difference at line 1501/);
  assert.match(out, /^-1500$/m);
  assert.match(out, /^\+X$/m);
});

test('render: missing / extra lines, long values shortened, output capped with a truncated line', () => {
  const cmp = buildComparator('raw');
  const A = (tree: Tree): Canon => canonOf(tree, 's');
  const a = A({ body: { secret: 'x', same: 1, long: 'y'.repeat(1000) } });
  const b = A({ body: { added: true, same: 1, long: 'z'.repeat(1000) } });
  const text = cmp.render(a, b, ['v0', 'v1']);
  assert.match(text, /^\+ \/body\/added: true$/m);
  assert.match(text, /^- \/body\/secret: "x"$/m);
  const longLine = text.split('\n').find((l) => l.startsWith('~ /body/long'))!;
  assert.ok(longLine.length < 450 && longLine.includes('…'), longLine);
  const many: Record<string, number> = {};
  const many2: Record<string, number> = {};
  for (let i = 0; i < 2000; i++) {
    many[`field${i}`] = i;
    many2[`field${i}`] = i + 1;
  }
  const big = cmp.render(A(many), A(many2), ['v0', 'v1']);
  assert.ok(big.length <= 8 * 1024 + 40, `${big.length}`);
  assert.match(big, /\n… \(truncated\)$/);
});

test('garbage never throws: it becomes an invalid tree with the raw bytes', () => {
  const junk = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x0d, 0x0a, 0x00]);
  for (const protocol of ['http', 'redis', 'postgres']) {
    const cmp = buildComparator(protocol);
    for (const kind of ['request', 'response'] as const) {
      const c = cmp.canonical([junk], kind);
      const tree = c.tree as { invalid: string; raw: string };
      assert.equal(typeof tree.invalid, 'string', `${protocol} ${kind}`);
      assert.match(tree.invalid, new RegExp(`^${protocol}: `));
      assert.equal(tree.raw, junk.toString('base64'));
      assert.match(c.summary, /^invalid: /);
    }
  }
  const cmp = buildComparator('http');
  const truncated = cmp.canonical([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc')], 'response');
  assert.match((truncated.tree as { invalid: string }).invalid, /body truncated \(Content-Length 10, 3 bytes present\)/);
  const badChunk = cmp.canonical([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')], 'response');
  assert.match((badChunk.tree as { invalid: string }).invalid, /invalid chunk size/);
  const huge = Buffer.alloc(10000, 0x41);
  const inv = buildComparator('redis').canonical([huge], 'response').tree as { raw: string; length: number; sha256: string };
  assert.equal(Buffer.from(inv.raw, 'base64').length, 4096);
  assert.equal(inv.length, 10000);
  // two different invalid inputs differ; the raw comparator takes anything
  assert.notEqual(cmp.canonical([Buffer.from('x\r\n\r\n')], 'response').digest, cmp.canonical([Buffer.from('y\r\n\r\n')], 'response').digest);
  assert.deepEqual(buildComparator('tcp').canonical([Buffer.from([0, 1, 2])], 'response').tree, { base64: 'AAEC' });
});

// ---------------------------------------------------------------------------------------------------------------
// redis

/** Send one RESP command followed by QUIT and return the bytes of the command's reply alone. */
async function redisReply(args: string[]): Promise<Buffer> {
  const enc = (a: string[]): string => `*${a.length}\r\n${a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`;
  const all = await exchange(6379, enc(args) + enc(['QUIT']));
  assert.ok(all.subarray(-5).equals(Buffer.from('+OK\r\n')), `QUIT answered: ${JSON.stringify(all.toString('latin1'))}`);
  return all.subarray(0, all.length - 5);
}

test('redis: replies captured from a real server lift to RESP value trees', async (t) => {
  if (!need(redisUp, 'Redis on 127.0.0.1:6379', t)) return;
  const key = `swy:compare:${process.pid}:${Date.now()}`;
  const cmp = buildComparator('redis');
  try {
    const set = cmp.canonical([await redisReply(['SET', key, 'héllo'])], 'response');
    assert.deepEqual(set.tree, { '+': 'OK' });
    assert.equal(set.summary, '+OK');
    assert.equal(cmp.canonical([await redisReply(['GET', key])], 'response').tree, 'héllo');
    assert.equal(cmp.canonical([await redisReply(['GET', `${key}:none`])], 'response').tree, null);
    assert.equal(cmp.canonical([await redisReply(['STRLEN', key])], 'response').tree, 6);
    await redisReply(['RPUSH', `${key}:l`, 'a', 'b']);
    assert.deepEqual(cmp.canonical([await redisReply(['LRANGE', `${key}:l`, '0', '-1'])], 'response').tree, ['a', 'b']);
    const err = cmp.canonical([await redisReply(['INCR', key])], 'response');
    assert.deepEqual(err.tree, { '-': 'ERR value is not an integer or out of range' });
    assert.match(err.summary, /^-ERR value is not an integer/);
    // RESP3 via HELLO 3: a map reply; the connection id differs between connections and is the only difference
    const h1 = cmp.canonical([await redisReply(['HELLO', '3'])], 'response');
    const h2 = cmp.canonical([await redisReply(['HELLO', '3'])], 'response');
    assert.equal((h1.tree as Record<string, Tree>)['server'], 'redis');
    assert.deepEqual(cmp.diff(h1, h2).map((d) => d.path), ['/id']);
  } finally {
    await redisReply(['DEL', key, `${key}:l`]);
  }
});

test('redis: RESP3 types, big integers, binary bulk, sets sorted, attributes dropped, requests', () => {
  const cmp = buildComparator('redis');
  const lift = (s: string | Buffer): Tree => cmp.canonical([Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1')], 'response').tree;
  assert.deepEqual(lift(':9007199254740993\r\n'), { ':': '9007199254740993' });
  assert.equal(lift(':-12\r\n'), -12);
  assert.equal(lift(',3.5\r\n'), 3.5);
  assert.deepEqual(lift(',inf\r\n'), { ',': 'inf' });
  assert.equal(lift('#t\r\n'), true);
  assert.equal(lift('_\r\n'), null);
  assert.equal(lift('*-1\r\n'), null);
  assert.deepEqual(lift('!11\r\nERR bad one\r\n'), { '-': 'ERR bad one' });
  assert.equal(lift('=8\r\ntxt:Some\r\n'), 'Some');
  assert.deepEqual(lift(Buffer.concat([Buffer.from('$2\r\n'), Buffer.from([0xff, 0x00]), Buffer.from('\r\n')])), { base64: '/wA=' });
  assert.deepEqual(lift('~3\r\n+c\r\n:1\r\n$1\r\na\r\n'), lift('~3\r\n$1\r\na\r\n+c\r\n:1\r\n'));
  assert.deepEqual(lift('%2\r\n$1\r\nb\r\n:2\r\n:7\r\n*0\r\n'), { b: 2, '7': [] });
  assert.deepEqual(lift('|1\r\n+ttl\r\n:3\r\n$2\r\nok\r\n'), 'ok');
  assert.deepEqual(lift('>2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n'), { '>': ['message', 'hi'] });
  assert.match((lift('$5\r\nabc\r\n') as { invalid: string }).invalid, /bulk string truncated/);
  assert.match((lift('+OK\r\n+OK\r\n') as { invalid: string }).invalid, /5 bytes after the reply/);
  assert.match((lift('*99999999\r\n') as { invalid: string }).invalid, /truncated/);
  assert.deepEqual(cmp.canonical([Buffer.from('*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n')], 'request').tree, ['set', 'k', 'v']);
  assert.deepEqual(cmp.canonical([Buffer.from('PING hello\r\n')], 'request').tree, ['PING', 'hello']);
});

// ---------------------------------------------------------------------------------------------------------------
// postgres

const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);
const i16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
function startupPacket(params: Record<string, string>): Buffer {
  const body = Buffer.concat([i32(196608), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.alloc(1)]);
  return Buffer.concat([i32(body.length + 4), body]);
}
/** Index after the first ReadyForQuery at or after `from`, or -1. */
function afterReady(buf: Buffer, from = 0): number {
  let pos = from;
  while (pos + 5 <= buf.length) {
    const len = buf.readUInt32BE(pos + 1);
    if (pos + 1 + len > buf.length) return -1;
    if (buf[pos] === BE.ReadyForQuery) return pos + 1 + len;
    pos += 1 + len;
  }
  return -1;
}

/** A raw PostgreSQL session: the startup answer and the answer to each simple query, as backend bytes. */
async function pgSession(appName: string, queries: string[]): Promise<Buffer[]> {
  const s = net.connect({ host: '127.0.0.1', port: 5432 });
  await once(s, 'connect');
  let buf = Buffer.alloc(0);
  let waiter: (() => void) | undefined;
  s.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    waiter?.();
  });
  const nextAnswer = async (): Promise<Buffer> => {
    const deadline = Date.now() + 3000;
    for (;;) {
      const end = afterReady(buf);
      if (end > 0) {
        const out = buf.subarray(0, end);
        buf = buf.subarray(end);
        return out;
      }
      if (Date.now() > deadline) throw new Error('no ReadyForQuery from PostgreSQL');
      await new Promise<void>((r) => {
        waiter = r;
        setTimeout(r, 100);
      });
    }
  };
  try {
    s.write(startupPacket({ user: 'postgres', database: 'test', application_name: appName }));
    const out = [await nextAnswer()];
    for (const q of queries) {
      s.write(encodeMessage(FE.Query, cstr(q)));
      out.push(await nextAnswer());
    }
    s.write(encodeMessage(FE.Terminate, Buffer.alloc(0)));
    return out;
  } finally {
    s.destroy();
  }
}

test('postgres: real sessions agree despite BackendKeyData, application_name and temp-table oids', async (t) => {
  if (!need(pgUp, 'PostgreSQL on 127.0.0.1:5432', t)) return;
  const queries = [
    'CREATE TEMP TABLE swy_cmp (id int, name text); INSERT INTO swy_cmp VALUES (1, \'a\'), (2, NULL)',
    'SELECT id, name FROM swy_cmp ORDER BY id',
    'SELECT * FROM swy_no_such_table',
  ];
  const [a, b] = await Promise.all([pgSession('variant-a', queries), pgSession('variant-b', queries)]);
  const cmp = buildComparator('postgres');
  // startup: BackendKeyData (pid, secret) differs on the wire, application_name too
  assert.notDeepEqual(a[0], b[0]);
  const sa = cmp.canonical([a[0]!], 'response');
  const sb = cmp.canonical([b[0]!], 'response');
  assert.equal(sa.digest, sb.digest);
  const types = (sa.tree as { type: string; name?: string }[]).map((m) => m.type);
  assert.ok(!types.includes('BackendKeyData'));
  assert.ok(types.includes('ParameterStatus') && types.at(-1) === 'ReadyForQuery');
  assert.ok(!(sa.tree as { name?: string }[]).some((m) => m.name === 'application_name'));
  // rows of a temp table: RowDescription carries each session's own table oid
  assert.notDeepEqual(a[2], b[2]);
  const ra = cmp.canonical([a[2]!], 'response');
  const rb = cmp.canonical([b[2]!], 'response');
  assert.equal(ra.digest, rb.digest);
  assert.deepEqual(ra.tree, [
    { type: 'RowDescription', fields: [{ name: 'id', typeOid: 23 }, { name: 'name', typeOid: 25 }] },
    { type: 'DataRow', values: ['1', 'a'] },
    { type: 'DataRow', values: ['2', null] },
    { type: 'CommandComplete', tag: 'SELECT 2' },
    { type: 'ReadyForQuery', status: 'I' },
  ]);
  assert.equal(ra.summary, 'CommandComplete SELECT 2');
  // errors: file / line / routine / position dropped
  const ea = cmp.canonical([a[3]!], 'response');
  assert.match(a[3]!.toString('latin1'), /Fparse_relation\.c/);
  assert.deepEqual(ea.tree, [
    { type: 'ErrorResponse', severity: 'ERROR', code: '42P01', message: 'relation "swy_no_such_table" does not exist' },
    { type: 'ReadyForQuery', status: 'I' },
  ]);
  assert.equal(ea.digest, cmp.canonical([b[3]!], 'response').digest);
  assert.match(ea.summary, /^ErrorResponse 42P01 /);
  // a different row value is a difference at its path
  const changed = Buffer.from(a[2]!);
  const at = changed.indexOf(Buffer.from([0, 0, 0, 1, 0x61])); // "a" of row 1
  changed[at + 4] = 0x62;
  assert.deepEqual(cmp.diff(ra, cmp.canonical([changed], 'response')).map((d) => `${d.path} ${d.a} ${d.b}`), ['/1/values/1 "a" "b"']);
});

test('postgres: built messages — notices, auth, parameter status list; requests of both query protocols', () => {
  const cmp = buildComparator('postgres');
  const notice = encodeErrorResponse(
    [
      ['S', 'NOTICE'],
      ['V', 'NOTICE'],
      ['C', '00000'],
      ['M', 'hi'],
      ['D', 'detail'],
      ['F', 'x.c'],
      ['L', '12'],
      ['R', 'fn'],
      ['P', '3'],
    ],
    BE.NoticeResponse,
  );
  const res = Buffer.concat([
    encodeMessage(BE.Authentication, i32(0)),
    encodeMessage(BE.ParameterStatus, Buffer.concat([cstr('is_superuser'), cstr('on')])),
    encodeMessage(BE.ParameterStatus, Buffer.concat([cstr('TimeZone'), cstr('UTC')])),
    encodeMessage(BE.BackendKeyData, Buffer.concat([i32(1234), i32(5678)])),
    notice,
    encodeReadyForQuery('I'),
  ]);
  assert.deepEqual(cmp.canonical([res], 'response').tree, [
    { type: 'Authentication', code: 0 },
    { type: 'ParameterStatus', name: 'TimeZone', value: 'UTC' },
    { type: 'NoticeResponse', severity: 'NOTICE', code: '00000', message: 'hi', detail: 'detail' },
    { type: 'ReadyForQuery', status: 'I' },
  ]);
  // extended protocol batch
  const batch = Buffer.concat([
    encodeMessage(FE.Parse, Buffer.concat([cstr('s1'), cstr('SELECT $1::int, $2'), i16(1), i32(23)])),
    encodeMessage(FE.Bind, Buffer.concat([cstr(''), cstr('s1'), i16(2), i16(0), i16(1), i16(3), i32(2), Buffer.from('42'), i32(2), Buffer.from([1, 2]), i32(-1), i16(0)])),
    encodeMessage(FE.Describe, Buffer.concat([Buffer.from('P'), cstr('')])),
    encodeMessage(FE.Execute, Buffer.concat([cstr(''), i32(0)])),
    encodeMessage(FE.Sync, Buffer.alloc(0)),
  ]);
  assert.deepEqual(cmp.canonical([batch], 'request').tree, [
    { type: 'Parse', name: 's1', sql: 'SELECT $1::int, $2', paramTypes: [23] },
    { type: 'Bind', portal: '', statement: 's1', formats: [0, 1], params: ['42', { base64: 'AQI=' }, null], resultFormats: [] },
    { type: 'Describe', target: 'P', name: '' },
    { type: 'Execute', portal: '', maxRows: 0 },
    { type: 'Sync' },
  ]);
  const start = cmp.canonical([startupPacket({ user: 'bob', database: 'shop', application_name: 'x', client_encoding: 'UTF8' })], 'request');
  assert.deepEqual(start.tree, [{ startup: { user: 'bob', database: 'shop' } }]);
  const pw = cmp.canonical([encodeMessage(FE.Password, cstr('secret'))], 'request');
  assert.deepEqual(pw.tree, [{ type: 'PasswordMessage' }]);
  assert.match((cmp.canonical([encodeMessage(FE.Query, cstr('SELECT 1')).subarray(0, 8)], 'request').tree as { invalid: string }).invalid, /Query truncated/);
});

// ---------------------------------------------------------------------------------------------------------------
// endpoints, options, properties

test('endpoint keys per protocol', () => {
  const http = buildComparator('http');
  const ep = (target: string, method = 'GET'): string => http.endpoint([Buffer.from(`${method} ${target} HTTP/1.1\r\nHost: h\r\n\r\n`)]);
  assert.equal(ep('/users/42?expand=1'), 'GET /users/:id');
  assert.equal(ep('/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301/orders/7', 'POST'), 'POST /users/:id/orders/:id');
  assert.equal(ep('/blobs/deadbeefdeadbeef00'), 'GET /blobs/:id');
  assert.equal(ep('/blobs/cafe'), 'GET /blobs/cafe');
  assert.equal(ep('http://example.com/a/1'), 'GET /a/:id');
  assert.equal(http.endpoint([Buffer.from([1, 2, 3])]), '*');
  const redis = buildComparator('redis');
  assert.equal(redis.endpoint([Buffer.from('*2\r\n$3\r\nget\r\n$1\r\nk\r\n')]), 'GET');
  assert.equal(redis.endpoint([Buffer.from('ping\r\n')]), 'PING');
  const pg = buildComparator('postgres');
  assert.equal(
    pg.endpoint([encodeMessage(FE.Query, cstr("SELECT *   FROM t WHERE id = 42 AND name = 'it''s' AND t2.x > -1.5"))]),
    'SELECT * FROM t WHERE id = ? AND name = ? AND t2.x > ?',
  );
  assert.equal(pg.endpoint([encodeMessage(FE.Query, cstr(`SELECT ${'a, '.repeat(40)}b`))]).length, 60);
  assert.equal(pg.endpoint([encodeMessage(FE.Parse, Buffer.concat([cstr(''), cstr('SELECT $1 + 1'), i16(0)])), encodeMessage(FE.Sync, Buffer.alloc(0))]), 'SELECT $1 + ?');
  assert.equal(buildComparator('line').endpoint([Buffer.from('anything\n')]), '*');
});

test('bad options throw SWY_CONFIG_INVALID naming what was wrong', () => {
  throwsConfig(() => buildComparator('http', { regex: [{ pattern: '(unclosed' }] }), /regex mask 0 "\(unclosed"/);
  throwsConfig(() => buildComparator('http', { regex: [{ pattern: 'a', flags: 'q' }] }), /invalid flags "q"/);
  throwsConfig(() => buildComparator('http', { masks: ['/ok', 'body/id'] }), /mask 1 "body\/id": a JSON pointer must start with "\/"/);
  throwsConfig(() => buildComparator('redis', { masks: [''] }), /must start with "\/"/);
  throwsConfig(() => buildComparator('http', { ignoreHeaders: ['bad header'] }), /ignoreHeaders 0/);
  throwsConfig(() => buildComparator('http', { compareHeaders: 'yes' as unknown as boolean }), /compareHeaders/);
});

/** Rebuild `v` with every object's keys in a shuffled order. */
function permuted(v: unknown, rnd: () => number): unknown {
  if (Array.isArray(v)) return v.map((x) => permuted(x, rnd));
  if (v === null || typeof v !== 'object') return v;
  const entries = Object.entries(v as Record<string, unknown>);
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of entries) Object.defineProperty(out, k, { value: permuted(x, rnd), enumerable: true, writable: true, configurable: true });
  return out;
}

test('property: canonical JSON and digests are invariant under object key permutation', () => {
  const cmp = buildComparator('http', { compareHeaders: false });
  const asResponse = (body: unknown): Buffer => {
    const s = JSON.stringify(body);
    return Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(s)}\r\n\r\n${s}`);
  };
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), fc.integer(), (value, seed) => {
      let x = seed | 0 || 1;
      const rnd = (): number => {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        return (x >>> 0) / 2 ** 32;
      };
      const shuffled = permuted(value, rnd);
      assert.equal(canonicalJson(shuffled as Tree), canonicalJson(value as Tree));
      const a = cmp.canonical([asResponse(value)], 'response');
      const b = cmp.canonical([asResponse(shuffled)], 'response');
      assert.equal(a.digest, b.digest);
      assert.deepEqual(cmp.diff(a, b), []);
    }),
    { numRuns: 200 },
  );
});

test('lifters registry: unknown protocols are raw; lift() equals the tree of liftWithSummary()', () => {
  assert.equal(lifterFor('smtp').protocol, 'raw');
  assert.equal(lifterFor('http').protocol, 'http');
  assert.equal(lifterFor('line').lift([Buffer.from('a'), Buffer.from('b\n')], 'response'), 'ab\n');
  const res = [Buffer.from('HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n')];
  assert.deepEqual(lifterFor('http').lift(res, 'response'), { status: 204, headers: {}, body: '' });
  // an answer to HEAD: Content-Length (or chunked) without body bytes
  const head = [Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 42\r\n\r\n')];
  assert.deepEqual(lifterFor('http').lift(head, 'response'), { status: 200, headers: { 'content-type': 'text/plain' }, body: '' });
  const head2 = [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')];
  assert.deepEqual(lifterFor('http').lift(head2, 'response'), { status: 200, headers: {}, body: '' });
});
