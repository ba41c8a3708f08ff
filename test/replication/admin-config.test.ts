import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { AdminServer } from '../../src/admin/server.js';
import { validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { startYard } from '../helpers/yard.js';
import { LOOPBACK } from '../helpers/admin.js';
import { eventually } from '../helpers/net.js';

const servers: http.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function variant(answer: (path: string) => [number, string]): Promise<number> {
  const server = http.createServer((req, res) => {
    const [status, body] = answer(req.url ?? '/');
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return (server.address() as net.AddressInfo).port;
}

function errorsOf(raw: unknown): string[] {
  const r = validateConfig(raw, createFramerRegistry());
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

test('config: replicate/merge/mirror are validated with paths and clear messages', () => {
  const base = { listeners: [{ id: 'l', listen: '127.0.0.1:0', protocol: 'http' }], clusters: [{ id: 'c', endpoints: ['127.0.0.1:1'] }] };
  assert.deepEqual(errorsOf({ ...base, routes: [{ id: 'r', listener: 'l', replicate: { variants: ['127.0.0.1:1', '127.0.0.1:2'] } }] }), []);
  const one = errorsOf({ ...base, routes: [{ id: 'r', listener: 'l', replicate: { variants: ['127.0.0.1:1'] } }] });
  assert.ok(one.some((e) => e.startsWith('routes[0].replicate.variants') && /at least 2/.test(e)), one.join('\n'));
  const typo = errorsOf({ ...base, routes: [{ id: 'r', listener: 'l', replicate: { variants: ['c', 'c'], policy: 'unanimus' } }] });
  assert.ok(typo.some((e) => /routes\[0\]\.replicate\.policy/.test(e) && /did you mean "unanimous"/.test(e)), typo.join('\n'));
  const both = errorsOf({ ...base, routes: [{ id: 'r', listener: 'l', cluster: 'c', replicate: { variants: ['c', 'c'] } }] });
  assert.ok(both.some((e) => e.startsWith('routes[0].cluster') && /replicate/.test(e)), both.join('\n'));
  const unknown = errorsOf({ ...base, routes: [{ id: 'r', listener: 'l', replicate: { variants: ['c', 'nope'] } }] });
  assert.ok(unknown.some((e) => e.startsWith('routes[0].replicate.variants[1]') && /no cluster with id "nope"/.test(e)), unknown.join('\n'));
  const badMask = errorsOf({ ...base, routes: [{ id: 'r', listener: 'l', replicate: { variants: ['c', 'c'], normalise: { masks: ['body.id'], regex: [{ pattern: '(' }] } } }] });
  assert.ok(badMask.some((e) => e.startsWith('routes[0].replicate.normalise.masks[0]')), badMask.join('\n'));
  assert.ok(badMask.some((e) => e.startsWith('routes[0].replicate.normalise.regex[0].pattern') && /invalid regular expression/.test(e)), badMask.join('\n'));
  const mirror = errorsOf({ ...base, routes: [{ id: 'r', listener: 'l', cluster: 'c', mirror: { cluster: 'shadow', fraction: 2 } }] });
  assert.ok(mirror.some((e) => e.startsWith('routes[0].mirror.cluster') && /no cluster/.test(e)), mirror.join('\n'));
  assert.ok(mirror.some((e) => e.startsWith('routes[0].mirror.fraction')), mirror.join('\n'));
  const merge = errorsOf({
    listeners: [{ id: 'a', listen: '127.0.0.1:0', protocol: 'postgres' }],
    clusters: [{ id: 'db', endpoints: ['127.0.0.1:5432'] }],
    routes: [{ id: 'm', listener: 'a', merge: { listeners: ['a', 'b'], postgres: { auth: { method: 'md5' } } } }],
  });
  const mergeKeys = errorsOf({
    listeners: [{ id: 'a', listen: '127.0.0.1:0', protocol: 'postgres' }, { id: 'b', listen: '127.0.0.1:0', protocol: 'postgres' }],
    clusters: [{ id: 'db', endpoints: ['127.0.0.1:5432'] }],
    routes: [{ id: 'm', listener: 'a', merge: { listeners: ['a', 'b'] } }],
  });
  assert.ok(mergeKeys.some((e) => e.startsWith('routes[0].listener') && /merge/.test(e)), mergeKeys.join('\n'));
  assert.ok(mergeKeys.some((e) => e.startsWith('routes[0].cluster') && /backend/.test(e)), mergeKeys.join('\n'));
  assert.ok(merge.some((e) => e.startsWith('routes[0].merge.listeners[1]') && /no listener with id "b"/.test(e)), merge.join('\n'));
  assert.ok(merge.some((e) => e.startsWith('routes[0].merge.postgres.auth.users')), merge.join('\n'));
});

test('admin API: divergences (list, filter, one, clear), live SSE events, variants quarantine/restore, noise, metrics, JSONL file', async () => {
  const ports = [await variant(() => [200, 'same']), await variant(() => [200, 'same']), await variant((p) => (p === '/odd' ? [200, 'different'] : [200, 'same']))];
  const dir = await mkdtemp(join(tmpdir(), 'swy-div-'));
  const file = join(dir, 'divergences.jsonl');
  const yard = await startYard({
    divergences: { capacity: 50, file },
    listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'http' }],
    clusters: ports.map((p, i) => ({ id: `v${i + 1}`, endpoints: [`127.0.0.1:${p}`] })),
    routes: [{ id: 'app', listener: 'front', replicate: { variants: ['v1', 'v2', 'v3'], policy: 'majority' } }],
  });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK });
  const a = admin.address!;
  const base = `http://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}`;
  const fa = yard.listeners.get('front')!.address!;
  const front = `http://127.0.0.1:${fa.kind === 'tcp' ? fa.port : 0}`;
  try {
    // Subscribe to the live stream first.
    const sse: string[] = [];
    const req = http.get(`${base}/api/v1/events`);
    const res = await new Promise<http.IncomingMessage>((r) => req.on('response', r));
    assert.equal(res.headers['content-type'], 'text/event-stream');
    res.setEncoding('utf8');
    res.on('data', (d: string) => sse.push(d));

    const ok = await request(`${front}/fine`);
    assert.equal(await ok.body.text(), 'same');
    const odd = await request(`${front}/odd`);
    assert.equal(await odd.body.text(), 'same', 'majority serves the majority');

    const list = (await (await request(`${base}/api/v1/divergences`)).body.json()) as Array<{ id: number; decision: string; route: string; diff: string }>;
    assert.equal(list.length, 1);
    assert.equal(list[0]!.decision, 'outvoted');
    assert.match(list[0]!.diff, /different/);
    const one = await request(`${base}/api/v1/divergences/${list[0]!.id}`);
    assert.equal(one.statusCode, 200);
    await one.body.text();
    const none = (await (await request(`${base}/api/v1/divergences?route=other`)).body.json()) as unknown[];
    assert.equal(none.length, 0);
    const missing = await request(`${base}/api/v1/divergences/9999`);
    assert.equal(missing.statusCode, 404);
    await missing.body.text();
    const badq = await request(`${base}/api/v1/divergences?limit=x`);
    assert.equal(badq.statusCode, 400);
    await badq.body.text();

    // SSE delivered the event.
    await eventually(() => sse.join('').includes('event: divergence'), 'the SSE stream delivered the event');
    const stream = sse.join('');
    assert.match(stream, /id: \d+\nevent: divergence\ndata: \{/);
    req.destroy();

    // Variants: quarantine v3, traffic skips it, restore it.
    const vs = (await (await request(`${base}/api/v1/routes/app/variants`)).body.json()) as Array<{ name: string; state: string; role: string }>;
    assert.deepEqual(vs.map((v) => [v.name, v.role, v.state]), [['v1', 'primary', 'active'], ['v2', 'variant', 'active'], ['v3', 'variant', 'active']]);
    const q = await request(`${base}/api/v1/routes/app/variants/v3/quarantine`, { method: 'POST' });
    assert.equal(((await q.body.json()) as { state: string }).state, 'quarantined');
    const after1 = await request(`${front}/odd`);
    assert.equal(await after1.body.text(), 'same');
    const r = await request(`${base}/api/v1/routes/app/variants/v3/restore`, { method: 'POST' });
    assert.equal(((await r.body.json()) as { state: string }).state, 'active');
    const nov = await request(`${base}/api/v1/routes/app/variants/v9/restore`, { method: 'POST' });
    assert.equal(nov.statusCode, 404);
    await nov.body.text();
    const noise = await request(`${base}/api/v1/routes/app/noise`);
    assert.equal(noise.statusCode, 200);
    await noise.body.json();

    // The route shows its engine.
    const route = (await (await request(`${base}/api/v1/routes/app`)).body.json()) as { engine: { mode: string; policy: string } };
    assert.deepEqual([route.engine.mode, route.engine.policy], ['replicate', 'majority']);

    const metrics = await (await request(`${base}/metrics`)).body.text();
    assert.match(metrics, /switchyard_divergences_total\{route="app",decision="outvoted"\} 1/);
    assert.match(metrics, /switchyard_variant_response_seconds_bucket\{route="app",variant="v1",le="\+Inf"\} \d+/);
    assert.match(metrics, /switchyard_variant_response_seconds_count\{route="app",variant="v3"\} \d+/);

    const del = await request(`${base}/api/v1/divergences`, { method: 'DELETE' });
    assert.equal(del.statusCode, 200);
    await del.body.text();
    const empty = (await (await request(`${base}/api/v1/divergences`)).body.json()) as unknown[];
    assert.equal(empty.length, 0);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 1);
    assert.equal((JSON.parse(lines[0]!) as { decision: string }).decision, 'outvoted');
  } finally {
    await admin.close();
    await yard.close();
  }
});

test('admin API: a replicate route can be added at run time', async () => {
  const ports = [await variant(() => [200, 'x']), await variant(() => [200, 'x'])];
  const yard = await startYard({ listeners: [{ id: 'front', listen: '127.0.0.1:0', protocol: 'http' }] });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK });
  const a = admin.address!;
  const base = `http://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}`;
  try {
    const created = await request(`${base}/api/v1/routes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'live', listener: 'front', replicate: { variants: ports.map((p) => `127.0.0.1:${p}`) } }),
    });
    assert.equal(created.statusCode, 201, await created.body.text());
    const fa = yard.listeners.get('front')!.address!;
    const r = await request(`http://127.0.0.1:${fa.kind === 'tcp' ? fa.port : 0}/`);
    assert.equal(await r.body.text(), 'x');
  } finally {
    await admin.close();
    await yard.close();
  }
});
