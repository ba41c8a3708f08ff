import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { request } from 'undici';
import { startYard } from '../helpers/yard.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { eventually, freePort } from '../helpers/net.js';

interface Srv { port: number; server: http.Server; hits: number }

/** A small service; `flaw` changes the answer for /secret?x=1; `silent` never answers /hang. */
async function service(opts: { flaw?: boolean; noise?: boolean; silent?: boolean; bigBody?: number } = {}): Promise<Srv> {
  const s: Srv = { port: 0, server: undefined as unknown as http.Server, hits: 0 };
  s.server = http.createServer((req, res) => {
    s.hits++;
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (url.pathname === '/hang' && opts.silent) return;
      if (url.pathname === '/big') {
        const n = Number(url.searchParams.get('n') ?? 1024);
        const buf = Buffer.alloc(n, 0x61);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
        res.end(buf);
        return;
      }
      if (url.pathname === '/echo') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(body);
        return;
      }
      if (url.pathname === '/secret') {
        const leak = opts.flaw && url.searchParams.get('x') === '1';
        res.writeHead(leak ? 200 : 403, { 'content-type': 'application/json' });
        res.end(JSON.stringify(leak ? { secret: 'hunter2' } : { error: 'forbidden' }));
        return;
      }
      const payload: Record<string, unknown> = { path: url.pathname, method: req.method };
      if (opts.noise) payload['requestId'] = Math.random().toString(36).slice(2);
      res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': String(process.hrtime.bigint()) });
      res.end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
  s.port = (s.server.address() as net.AddressInfo).port;
  return s;
}

async function yardFor(services: Srv[], replicate: Record<string, unknown>): Promise<{ yard: Switchyard; url: string }> {
  const yard = await startYard({
    listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'http' }],
    routes: [{ id: 'app', listener: 'front', replicate: { variants: services.map((s) => `127.0.0.1:${s.port}`), normalise: { ignoreHeaders: ['x-served-by'] }, ...replicate } }],
  });
  const a = yard.listeners.get('front')!.address!;
  return { yard, url: a.kind === 'tcp' ? `http://127.0.0.1:${a.port}` : '' };
}

const services: Srv[] = [];
after(() => {
  for (const s of services) s.server.close();
});

async function three(flawAt = 2, extra: Parameters<typeof service>[0] = {}): Promise<Srv[]> {
  const out: Srv[] = [];
  for (let i = 0; i < 3; i++) out.push(await service({ ...extra, flaw: i === flawAt }));
  services.push(...out);
  return out;
}

test('unanimous: agreeing answers pass; the crafted request is blocked with a 502 that reveals nothing, and recorded', async () => {
  const svc = await three();
  const { yard, url } = await yardFor(svc, { policy: 'unanimous' });
  try {
    const ok = await request(`${url}/hello`);
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(await ok.body.json(), { path: '/hello', method: 'GET' });
    const normal = await request(`${url}/secret`);
    assert.equal(normal.statusCode, 403);
    await normal.body.text();
    const crafted = await request(`${url}/secret?x=1`);
    assert.equal(crafted.statusCode, 502);
    const text = await crafted.body.text();
    assert.doesNotMatch(text, /hunter2|forbidden/);
    assert.match(text, /divergence \d+/);
    const events = yard.divergences.list();
    assert.equal(events.length, 1);
    const e = events[0]!;
    assert.equal(e.decision, 'blocked');
    assert.equal(e.route, 'app');
    assert.match(e.request.summary, /\/secret\?x=1/);
    assert.ok(e.fields.some((f) => f.includes('status')), `fields: ${e.fields.join(', ')}`);
    assert.match(e.diff, /hunter2/);
    assert.deepEqual(e.variants.map((v) => v.agreed), [true, true, false]);
  } finally {
    await yard.close();
  }
});

test('majority: the odd variant is out-voted (and quarantined when asked); no majority blocks', async () => {
  const svc = await three();
  const { yard, url } = await yardFor(svc, { policy: 'majority', quarantine: true });
  try {
    const crafted = await request(`${url}/secret?x=1`);
    assert.equal(crafted.statusCode, 403);
    await crafted.body.text();
    const e = yard.divergences.list().at(-1)!;
    assert.equal(e.decision, 'outvoted');
    assert.equal(e.served, `127.0.0.1:${svc[0]!.port}`);
    const rep = yard.routes.get('app')!.engine!.toJSON() as { variants: Array<{ state: string }> };
    assert.deepEqual(rep.variants.map((v) => v.state), ['active', 'active', 'quarantined']);
    const before = svc[2]!.hits;
    const again = await request(`${url}/hello`);
    assert.equal(again.statusCode, 200);
    await again.body.text();
    assert.equal(svc[2]!.hits, before, 'a quarantined variant gets no traffic');
  } finally {
    await yard.close();
  }
});

test('a silent variant times out: unanimous blocks, primary serves the primary and reports', async () => {
  const svc = [await service(), await service(), await service({ silent: true })];
  services.push(...svc);
  const { yard, url } = await yardFor(svc, { policy: 'unanimous', timeout: '300ms' });
  try {
    const t0 = Date.now();
    const r = await request(`${url}/hang`);
    assert.equal(r.statusCode, 502);
    await r.body.text();
    assert.ok(Date.now() - t0 >= 250);
    const e = yard.divergences.list().at(-1)!;
    assert.equal(e.variants[2]!.status, 'timeout');
    assert.match(e.diff, /no answer \(timeout\)/);
  } finally {
    await yard.close();
  }
  const p = await yardFor(svc, { policy: 'primary', timeout: '300ms' });
  try {
    const r = await request(`${p.url}/hang`);
    assert.equal(r.statusCode, 404 === r.statusCode ? 404 : r.statusCode);
    await r.body.text();
    await new Promise((res) => setTimeout(res, 400));
    const e = p.yard.divergences.list().at(-1)!;
    assert.equal(e.decision, 'reported');
    assert.equal(e.variants[2]!.status, 'timeout');
  } finally {
    await p.yard.close();
  }
});

test('keep-alive + pipelining + 10 MiB bodies both ways', async () => {
  const svc = await three(-1);
  const { yard, url } = await yardFor(svc, { policy: 'unanimous' });
  try {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x62);
    const up = await request(`${url}/echo`, { method: 'POST', body: big });
    assert.equal(up.statusCode, 200);
    const echoed = Buffer.from(await up.body.arrayBuffer());
    assert.equal(echoed.length, big.length);
    assert.ok(echoed.equals(big));
    const down = await request(`${url}/big?n=${10 * 1024 * 1024}`);
    assert.equal(down.statusCode, 200);
    assert.equal(Buffer.from(await down.body.arrayBuffer()).length, 10 * 1024 * 1024);
    // Raw pipelining: three requests in one write, three answers in order.
    const port = Number(new URL(url).port);
    const sock = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    sock.on('data', (c) => got.push(c));
    sock.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await new Promise((r) => sock.on('close', r));
    const text = Buffer.concat(got).toString();
    const order = [...text.matchAll(/"path":"(\/[abc])"/g)].map((m) => m[1]);
    assert.deepEqual(order, ['/a', '/b', '/c']);
    assert.equal(yard.divergences.list().length, 0);
  } finally {
    await yard.close();
  }
});

test('filter pair: random ids stop looking like divergences', async () => {
  const svc = [await service({ noise: true }), await service({ noise: true }), await service({ noise: true })];
  services.push(...svc);
  const { yard, url } = await yardFor(svc, { policy: 'unanimous', filterPair: true });
  try {
    for (let i = 0; i < 5; i++) {
      const r = await request(`${url}/item/${i}`);
      assert.equal(r.statusCode, 200);
      await r.body.text();
    }
    assert.equal(yard.divergences.list().length, 0);
  } finally {
    await yard.close();
  }
  // Without the filter pair the same noise blocks.
  const plain = await yardFor(svc, { policy: 'unanimous' });
  try {
    const r = await request(`${plain.url}/item/1`);
    assert.equal(r.statusCode, 502);
    await r.body.text();
  } finally {
    await plain.yard.close();
  }
});

/** A "variant" that answers any request with fixed raw bytes. */
async function rawVariant(bytes: string | Buffer): Promise<number> {
  const server = net.createServer((s) => {
    s.once('data', () => s.write(bytes));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  rawServers.push(server);
  return (server.address() as net.AddressInfo).port;
}
const rawServers: net.Server[] = [];
after(() => {
  for (const s of rawServers) s.close();
});

test('a variant answering garbage, an oversized answer, or refusing the connection never crashes the proxy or leaks', async () => {
  const good = [await service(), await service()];
  services.push(...good);
  const garbage = await rawVariant('\x00\x01NOT HTTP AT ALL secret-garbage\r\n\r\n');
  const closedPort = await freePort();
  const variants = (third: string) => [`127.0.0.1:${good[0]!.port}`, `127.0.0.1:${good[1]!.port}`, third];
  for (const [third, status] of [[`127.0.0.1:${garbage}`, 'malformed'], [`127.0.0.1:${closedPort}`, 'refused']] as const) {
    const yard = await startYard({
      listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'http' }],
      routes: [{ id: 'app', listener: 'front', replicate: { variants: variants(third), policy: 'unanimous', normalise: { ignoreHeaders: ['x-served-by'] } } }],
    });
    const a = yard.listeners.get('front')!.address!;
    const url = `http://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}`;
    try {
      const r = await request(`${url}/x`);
      assert.equal(r.statusCode, 502);
      assert.doesNotMatch(await r.body.text(), /garbage/);
      const e = yard.divergences.list().at(-1)!;
      assert.equal(e.variants[2]!.status, status);
      // The proxy goes on serving.
      const again = await request(`${url}/y`);
      assert.equal(again.statusCode, 502);
      await again.body.text();
    } finally {
      await yard.close();
    }
  }
  // majority: the refused variant is out-voted; an oversized answer counts as diverging.
  const yard = await startYard({
    listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'http' }],
    routes: [{ id: 'app', listener: 'front', replicate: { variants: variants(`127.0.0.1:${closedPort}`), policy: 'majority', maxMessageSize: '64KiB', normalise: { ignoreHeaders: ['x-served-by'] } } }],
  });
  const a = yard.listeners.get('front')!.address!;
  const url = `http://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}`;
  try {
    const r = await request(`${url}/hello`);
    assert.equal(r.statusCode, 200);
    await r.body.text();
    assert.equal(yard.divergences.list().at(-1)!.decision, 'outvoted');
    const big = await request(`${url}/big?n=${200 * 1024}`);
    assert.equal(big.statusCode, 502, 'all three oversized or refused: no majority');
    await big.body.text();
    assert.equal(yard.divergences.list().at(-1)!.variants[0]!.status, 'oversized');
  } finally {
    await yard.close();
  }
});

test('a malformed request gets a 400 from the proxy and reaches no variant', async () => {
  const svc = await three(-1);
  const { yard, url } = await yardFor(svc, { policy: 'unanimous' });
  try {
    const before = svc.map((s) => s.hits);
    const sock = net.connect(Number(new URL(url).port), '127.0.0.1');
    const got: Buffer[] = [];
    sock.on('data', (c) => got.push(c));
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n');
    await new Promise((r) => sock.on('close', r));
    assert.match(Buffer.concat(got).toString(), /^HTTP\/1\.1 400 /);
    assert.deepEqual(svc.map((s) => s.hits), before);
  } finally {
    await yard.close();
  }
});

test('no leaks: a client leaving mid-request closes its variant connections; the listener forgets the session', async () => {
  const svc = [await service(), await service(), await service({ silent: true })];
  services.push(...svc);
  const { yard, url } = await yardFor(svc, { policy: 'unanimous', timeout: '5s' });
  try {
    const port = Number(new URL(url).port);
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    sock.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    const listener = yard.listeners.get('front') as unknown as { sessions: Set<unknown> };
    await eventually(() => svc[2]!.hits > 0, 'the silent variant got the request');
    assert.equal(listener.sessions.size, 1);
    const clusters = (yard.routes.get('app')!.engine as unknown as { variants: Array<{ cluster: { stats: { active: number } } }> }).variants;
    assert.deepEqual(clusters.map((v) => v.cluster.stats.active), [1, 1, 1]);
    sock.destroy();
    await eventually(() => listener.sessions.size === 0, 'the listener forgot the session');
    assert.equal(listener.sessions.size, 0);
    await eventually(() => clusters.every((v) => v.cluster.stats.active === 0), 'variant connections closed');
    assert.deepEqual(clusters.map((v) => v.cluster.stats.active), [0, 0, 0]);
    assert.equal((yard.listeners.get('front')!.stats as { active: number }).active, 0);
  } finally {
    await yard.close();
  }
});

test('backpressure: a client that stops reading two pipelined 10 MiB answers gets both, later, without false timeouts', async () => {
  const svc = await three(-1);
  const { yard, url } = await yardFor(svc, { policy: 'unanimous', timeout: '2s' });
  try {
    const port = Number(new URL(url).port);
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    const n = 10 * 1024 * 1024;
    // The client stops reading for 4.5 s, more than twice the 2 s timeout: the proxy holds the variants instead of
    // blaming them. (Once it reads again, the rest has to arrive within the timeout: 2 s leaves room on a busy machine.)
    sock.pause();
    sock.write(`GET /big?n=${n} HTTP/1.1\r\nHost: x\r\n\r\nGET /big?n=${n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 4500));
    let bytes = 0;
    sock.on('data', (c: Buffer) => (bytes += c.length));
    sock.resume();
    await new Promise((r) => sock.on('close', r));
    assert.ok(bytes > 2 * n && bytes < 2 * n + 2000, `got ${bytes} bytes; ${JSON.stringify(yard.divergences.list().map((e) => e.variants))}`);
    assert.equal(yard.divergences.list().length, 0, JSON.stringify(yard.divergences.list()[0]?.variants));
  } finally {
    await yard.close();
  }
});

test("the listener's idleTimeout closes an idle replicated connection, but not one whose request the variants are still answering", async () => {
  const slow = async (): Promise<number> => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => res.end('done'), req.url === '/slow' ? 600 : 0));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    services.push({ port: 0, server, hits: 0 });
    return (server.address() as net.AddressInfo).port;
  };
  const ports = [await slow(), await slow(), await slow()];
  const yard = await startYard({
    listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'http', idleTimeout: '300ms' }],
    routes: [{ id: 'app', listener: 'front', replicate: { variants: ports.map((p) => `127.0.0.1:${p}`), timeout: '2s' } }],
  });
  const a = yard.listeners.get('front')!.address!;
  const port = a.kind === 'tcp' ? a.port : 0;
  try {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    sock.on('data', (c: Buffer) => (got += c.toString()));
    const closedAt = new Promise<number>((r) => sock.on('close', () => r(performance.now())));
    await new Promise((r) => sock.once('connect', r));
    const t0 = performance.now();
    sock.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    const closed = await closedAt;
    assert.match(got, /done$/, 'the slow answer arrived: the connection was not idle while it was being answered');
    assert.ok(closed - t0 >= 850, `closed ${Math.round(closed - t0)} ms after the request: 600 ms answer + 300 ms idle`);
    assert.equal(yard.listeners.get('front')!.stats.errors.get('SWY_IDLE_TIMEOUT'), 1);
  } finally {
    await yard.close();
  }
});
