/**
 * The traffic tail of a grpc listener through the admin API: one record per sampled call (method, service, status
 * code name, latency, request/response bytes, route, cluster, endpoint), on by default, switched with PUT and the
 * listener's `traffic` key (hot reload in place). Real grpc-js client and servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpc, startGrpcServer, testClient, unary } from '../helpers/grpc.js';
import { startYard } from '../helpers/yard.js';
import { AdminServer } from '../../src/admin/server.js';
import { GrpcListener } from '../../src/grpc/listener.js';
import { validateConfig } from '../../src/runtime/config.js';
import { applyConfig } from '../../src/runtime/reload.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';
import { LOOPBACK } from '../helpers/admin.js';

interface TrafficRecord {
  seq: number;
  at: number;
  durationMs: number;
  request: Record<string, string | number | boolean>;
  answer: string;
  error?: string;
  route?: string;
  cluster?: string;
  endpoint?: string;
}
interface TrafficBody {
  enabled: boolean;
  perSecond: number;
  keep: number;
  records: TrafficRecord[];
  next: number;
}

async function api(admin: AdminServer, method: string, path: string, body?: unknown): Promise<{ status: number; body: TrafficBody }> {
  const res = await fetch(admin.url + path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as TrafficBody };
}

/** Poll the tail until `want` records with seq > since are there (bounded: 5 s). */
async function records(admin: AdminServer, want: number, since = 0): Promise<TrafficRecord[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = await api(admin, 'GET', `/api/v1/listeners/g/traffic?since=${since}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    if (r.body.records.length >= want || Date.now() > deadline) return r.body.records;
    await new Promise((res) => setTimeout(res, 50));
  }
}

const config = (port: number, traffic?: Record<string, unknown>): Record<string, unknown> => ({
  listeners: [{ id: 'g', listen: '127.0.0.1:0', protocol: 'grpc', ...(traffic ? { traffic } : {}) }],
  clusters: [{ id: 'ca', endpoints: [`127.0.0.1:${port}`] }],
  routes: [{ id: 'pings', listener: 'g', match: { service: 'swtest.TestService' }, cluster: 'ca', faults: [{ name: 'deny', type: 'error', match: { 'metadata.x-deny': 'yes' }, attributes: { status: 'PERMISSION_DENIED' } }] }],
});

test('grpc listener traffic tail: on by default, one record per call with method, status, bytes, route, cluster and endpoint', async () => {
  const server = await startGrpcServer('a');
  const yard = await startYard(config(server.port));
  const admin = await AdminServer.start(yard, { listen: LOOPBACK });
  const addr = yard.listeners.get('g')!.address!;
  const client = testClient(addr.kind === 'tcp' ? addr.port : 0);
  try {
    const ok = await unary(client, 'Ping', { value: 'hello' });
    assert.equal(ok.error, undefined, ok.error?.message);
    const failed = await unary(client, 'PingError', { value: 'x' });
    assert.equal(failed.error?.code, grpc.status.FAILED_PRECONDITION);
    const md = new grpc.Metadata();
    md.set('x-deny', 'yes');
    assert.equal((await unary(client, 'Ping', { value: 'd' }, md)).error?.code, grpc.status.PERMISSION_DENIED);
    const got = await records(admin, 3);
    assert.equal(got.length, 3, JSON.stringify(got));
    const [a, b, c] = got as [TrafficRecord, TrafficRecord, TrafficRecord];
    assert.equal(a.request['method'], '/swtest.TestService/Ping');
    assert.equal(a.request['service'], 'swtest.TestService');
    assert.ok((a.request['bytesIn'] as number) > 5 && (a.request['bytesOut'] as number) > 5, JSON.stringify(a.request));
    assert.equal(a.answer, 'OK');
    assert.equal(a.error, undefined);
    assert.equal(a.route, 'pings');
    assert.equal(a.cluster, 'ca');
    assert.equal(a.endpoint, `127.0.0.1:${server.port}`);
    assert.ok(a.durationMs >= 0 && a.at > 0);
    assert.equal(b.request['method'], '/swtest.TestService/PingError');
    assert.equal(b.answer, 'FAILED_PRECONDITION');
    assert.equal(c.answer, 'PERMISSION_DENIED', 'a fault answer is recorded with its status');
    assert.equal(c.request['bytesOut'], 0);
    // `since` pages on; PUT enabled false stops recording
    const off = await api(admin, 'PUT', '/api/v1/listeners/g/traffic', { enabled: false, perSecond: 5 });
    assert.equal(off.status, 200);
    assert.deepEqual({ enabled: off.body.enabled, perSecond: off.body.perSecond }, { enabled: false, perSecond: 5 });
    await unary(client, 'Ping', { value: 'unseen' });
    assert.deepEqual(await records(admin, 0, c.seq), []);
    assert.equal((await api(admin, 'PUT', '/api/v1/listeners/g/traffic', { enabled: true })).status, 200);
    await unary(client, 'Ping', { value: 'seen' });
    const more = await records(admin, 1, c.seq);
    assert.equal(more.length, 1);
    assert.equal(more[0]!.answer, 'OK');
  } finally {
    client.close();
    await admin.close();
    await yard.close();
    await server.close();
  }
});

test('grpc traffic tail: a call no route takes is SWY_NO_ROUTE; the traffic key sets the tail and a hot reload of it is in place', async () => {
  const server = await startGrpcServer('a');
  const framers = createFramerRegistry();
  const yard = await startYard(config(server.port, { keep: 5 }));
  const admin = await AdminServer.start(yard, { listen: LOOPBACK });
  const addr = yard.listeners.get('g')!.address!;
  const client = testClient(addr.kind === 'tcp' ? addr.port : 0);
  try {
    const other = new grpc.Client(`127.0.0.1:${addr.kind === 'tcp' ? addr.port : 0}`, grpc.credentials.createInsecure());
    const none = await new Promise<grpc.ServiceError | null>((resolve) =>
      other.makeUnaryRequest('/other.Svc/Call', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (err) => resolve(err)),
    );
    other.close();
    assert.equal(none?.code, grpc.status.UNIMPLEMENTED);
    const [r] = await records(admin, 1);
    assert.equal(r?.request['method'], '/other.Svc/Call');
    assert.equal(r?.answer, 'UNIMPLEMENTED');
    assert.equal(r?.error, 'SWY_NO_ROUTE');
    const before = yard.listeners.get('g') as GrpcListener;
    assert.deepEqual(before.traffic.settings(), { enabled: true, perSecond: 50, keep: 5 });
    const next = validateConfig(config(server.port, { enabled: false, keep: 9 }), framers);
    assert.ok(next.ok);
    await applyConfig(yard, next.config);
    const after = yard.listeners.get('g') as GrpcListener;
    assert.equal(after, before, 'the same listener (updated in place)');
    assert.deepEqual(after.traffic.settings(), { enabled: false, perSecond: 50, keep: 9 });
    assert.equal((await unary(client, 'Ping', { value: 'x' })).error, undefined, 'the listener still serves');
  } finally {
    client.close();
    await admin.close();
    await yard.close();
    await server.close();
  }
});
