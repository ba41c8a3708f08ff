import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { request } from 'undici';
import { startYard } from '../helpers/yard.js';
import { eventually } from '../helpers/net.js';

interface Srv { port: number; server: http.Server; seen: string[] }
const servers: Srv[] = [];
after(() => {
  for (const s of servers) s.server.close();
});

async function service(opts: { version: string; delayMs?: number; hang?: boolean }): Promise<Srv> {
  const s: Srv = { port: 0, server: undefined as unknown as http.Server, seen: [] };
  s.server = http.createServer((req, res) => {
    s.seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      if (opts.hang) return;
      const send = (): void => {
        const url = new URL(req.url ?? '/', 'http://x');
        const body = JSON.stringify({ path: url.pathname, total: url.pathname === '/price' ? (opts.version === 'v2' ? 11 : 10) : 1 });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (opts.delayMs) setTimeout(send, opts.delayMs);
      else send();
    });
  });
  await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
  s.port = (s.server.address() as net.AddressInfo).port;
  servers.push(s);
  return s;
}

async function mirrorYard(prod: Srv, shadow: Srv, mirror: Record<string, unknown>) {
  const yard = await startYard({
    listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'http' }],
    clusters: [{ id: 'prod', endpoints: [`127.0.0.1:${prod.port}`] }, { id: 'canary', endpoints: [`127.0.0.1:${shadow.port}`] }],
    routes: [{ id: 'web', listener: 'front', cluster: 'prod', mirror: { cluster: 'canary', ...mirror } }],
  });
  const a = yard.listeners.get('front')!.address!;
  return { yard, url: a.kind === 'tcp' ? `http://127.0.0.1:${a.port}` : '' };
}

const waitFor = (cond: () => boolean): Promise<void> => eventually(cond, 'mirror condition', 10_000);

test('mirror 100 % with compare: the shadow gets every request, differences are reported, the client only sees prod', async () => {
  const prod = await service({ version: 'v1' });
  const canary = await service({ version: 'v2' });
  const { yard, url } = await mirrorYard(prod, canary, { fraction: 1, compare: true });
  try {
    for (const p of ['/a', '/price', '/b']) {
      const r = await request(`${url}${p}`);
      assert.equal(r.statusCode, 200);
      const body = (await r.body.json()) as { total: number };
      if (p === '/price') assert.equal(body.total, 10, 'the client gets prod');
    }
    await waitFor(() => canary.seen.length === 3);
    assert.deepEqual(canary.seen, ['GET /a', 'GET /price', 'GET /b']);
    await waitFor(() => yard.divergences.list().length === 1);
    const e = yard.divergences.list()[0]!;
    assert.equal(e.mode, 'mirror');
    assert.equal(e.decision, 'reported');
    assert.equal(e.served, 'prod');
    assert.deepEqual(e.fields, ['/body/total']);
    assert.match(e.diff, /10.*11/);
    assert.equal(yard.routes.get('web')!.mirrorStats!.mirrored, 3);
  } finally {
    await yard.close();
  }
});

test('a slow or hanging shadow never slows the primary; a full queue drops and counts', async () => {
  const prod = await service({ version: 'v1' });
  const canary = await service({ version: 'v1', hang: true });
  const { yard, url } = await mirrorYard(prod, canary, { fraction: 1, compare: true, timeout: '1s', queueSize: '1KiB' });
  try {
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) {
      const r = await request(`${url}/x${i}`);
      assert.equal(r.statusCode, 200);
      await r.body.text();
    }
    // held by the shadow, five requests would take five shadow timeouts (5 s); served alone, a few ms each
    const ms = performance.now() - t0;
    assert.ok(ms < 4000, `the primary is not held by the hanging shadow (five requests took ${ms.toFixed(0)} ms)`);
    // A request bigger than the shadow queue is not mirrored (dropped and counted), and still served.
    const big = await request(`${url}/upload`, { method: 'POST', body: Buffer.alloc(64 * 1024, 1) });
    assert.equal(big.statusCode, 200);
    await big.body.text();
    assert.ok(yard.routes.get('web')!.mirrorStats!.dropped >= 1);
    await waitFor(() => yard.divergences.list().some((e) => e.variants[1]!.status === 'timeout'));
  } finally {
    await yard.close();
  }
});

test('fraction: about that share of requests is mirrored (seeded), without compare nothing is recorded', async () => {
  const prod = await service({ version: 'v1' });
  const canary = await service({ version: 'v2' });
  const yard = await startYard({
    seed: 7,
    listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'http' }],
    clusters: [{ id: 'prod', endpoints: [`127.0.0.1:${prod.port}`] }, { id: 'canary', endpoints: [`127.0.0.1:${canary.port}`] }],
    routes: [{ id: 'web', listener: 'front', cluster: 'prod', mirror: { cluster: 'canary', fraction: '25%' } }],
  });
  const a = yard.listeners.get('front')!.address!;
  const url = a.kind === 'tcp' ? `http://127.0.0.1:${a.port}` : '';
  try {
    for (let i = 0; i < 200; i++) {
      const r = await request(`${url}/price`);
      await r.body.text();
    }
    const st = yard.routes.get('web')!.mirrorStats!;
    assert.equal(st.mirrored + st.sampledOut, 200);
    assert.ok(st.mirrored > 25 && st.mirrored < 80, `mirrored ${st.mirrored} of 200`);
    await waitFor(() => canary.seen.length === st.mirrored);
    assert.equal(yard.divergences.list().length, 0);
    const metrics = await yard.metrics.metrics();
    assert.match(metrics, new RegExp(`switchyard_mirror_requests_total\\{route="web",result="mirrored"\\} ${st.mirrored}`));
  } finally {
    await yard.close();
  }
});
