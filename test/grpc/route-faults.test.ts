/**
 * Faults on routes of a grpc listener: per-call faults (error, delay, abort, hang) act on the calls routed to that
 * route only, after the listener's faults, matched on method/service/metadata, seeded, and edited live through the
 * listener's admin fault API; connection-scope faults are refused on a route. Real grpc-js clients and servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpc, startGrpcServer, testClient, unary, type TestClient, type TestGrpcServer } from '../helpers/grpc.js';
import { startYard } from '../helpers/yard.js';
import { AdminServer } from '../../src/admin/server.js';
import type { Switchyard, SwitchyardOptions } from '../../src/runtime/switchyard.js';
import { validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';

const LOOPBACK = { kind: 'tcp', host: '127.0.0.1', port: 0 } as const;

/** Listener g: route `pings` (method Ping → server a) with `pingFaults`, route `rest` (everything else → server b). */
async function stack(o: { pingFaults?: unknown[]; listenerFaults?: unknown[]; restFaults?: unknown[]; options?: SwitchyardOptions }): Promise<{ yard: Switchyard; client: TestClient; a: TestGrpcServer; b: TestGrpcServer; close: () => Promise<void> }> {
  const a = await startGrpcServer('a');
  const b = await startGrpcServer('b');
  const yard = await startYard(
    {
      listeners: [{ id: 'g', listen: '127.0.0.1:0', protocol: 'grpc', ...(o.listenerFaults ? { faults: o.listenerFaults } : {}) }],
      clusters: [
        { id: 'ca', endpoints: [`127.0.0.1:${a.port}`] },
        { id: 'cb', endpoints: [`127.0.0.1:${b.port}`] },
      ],
      routes: [
        { id: 'pings', listener: 'g', match: { method: '/swtest.TestService/Ping' }, cluster: 'ca', ...(o.pingFaults ? { faults: o.pingFaults } : {}) },
        { id: 'rest', listener: 'g', cluster: 'cb', ...(o.restFaults ? { faults: o.restFaults } : {}) },
      ],
    },
    o.options,
  );
  const addr = yard.listeners.get('g')!.address!;
  const client = testClient(addr.kind === 'tcp' ? addr.port : 0);
  return {
    yard,
    client,
    a,
    b,
    close: async () => {
      client.close();
      await yard.close();
      await a.close();
      await b.close();
    },
  };
}

test('a route fault acts on the calls routed to that route only; the other routes pass', async () => {
  const s = await stack({ pingFaults: [{ name: 'deny', type: 'error', attributes: { status: 'PERMISSION_DENIED', message: 'route says no' } }] });
  try {
    const r = await unary(s.client, 'Ping', { value: 'x' });
    assert.equal(r.error?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(r.error?.details, 'route says no');
    assert.equal(r.headers, undefined, 'Trailers-Only');
    assert.equal(s.a.received.length, 0, 'the call never reached the route’s cluster');
    // PingError goes to route `rest`: its own answer (the server's FAILED_PRECONDITION), not the fault's
    const other = await unary(s.client, 'PingError', { value: 'y' });
    assert.equal(other.error?.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(s.b.received.length, 1);
    assert.equal(s.yard.faultSet('g').get('deny')?.injected, 1);
  } finally {
    await s.close();
  }
});

test("route faults come after the listener's (a listener error wins); match keys work on a route", async () => {
  const s = await stack({
    listenerFaults: [{ name: 'l-err', type: 'error', match: { 'metadata.x-tenant': 'acme' }, attributes: { status: 'UNAUTHENTICATED' } }],
    pingFaults: [
      { name: 'r-err', type: 'error', match: { service: 'swtest.TestService' }, attributes: { status: 'RESOURCE_EXHAUSTED' } },
      { name: 'r-meta', type: 'abort', match: { 'metadata.x-kind': 'abort' } },
    ],
  });
  try {
    const md = new grpc.Metadata();
    md.set('x-tenant', 'acme');
    const l = await unary(s.client, 'Ping', { value: 'x' }, md);
    assert.equal(l.error?.code, grpc.status.UNAUTHENTICATED, "the listener's fault comes first and ends the call");
    const r = await unary(s.client, 'Ping', { value: 'x' });
    assert.equal(r.error?.code, grpc.status.RESOURCE_EXHAUSTED);
    const set = s.yard.faultSet('g');
    assert.equal(set.get('l-err')?.injected, 1);
    assert.equal(set.get('r-err')?.injected, 1);
    set.remove('r-err');
    const ab = new grpc.Metadata();
    ab.set('x-kind', 'abort');
    const a = await unary(s.client, 'Ping', { value: 'x' }, ab);
    assert.equal(a.error?.code, grpc.status.INTERNAL, 'abort resets the stream');
    const ok = await unary(s.client, 'Ping', { value: 'ok' });
    assert.equal(ok.error, undefined, ok.error?.message);
    assert.equal(ok.response?.server, 'a');
  } finally {
    await s.close();
  }
});

test('a route delay holds its calls; a route hang answers nothing until the deadline', async () => {
  const s = await stack({ pingFaults: [{ name: 'slow', type: 'delay', attributes: { sleep: 0.3 } }], restFaults: [{ name: 'stuck', type: 'hang' }] });
  try {
    const r = await unary(s.client, 'Ping', { value: 'x' });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.response?.server, 'a');
    assert.equal(s.yard.faultSet('g').get('slow')?.injected, 1);
    const h = await unary(s.client, 'PingError', { value: 'y' }, new grpc.Metadata(), { deadline: Date.now() + 300 });
    assert.equal(h.error?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(s.b.received.length, 0);
  } finally {
    await s.close();
  }
});

async function pattern(seed: number): Promise<string> {
  const s = await stack({ pingFaults: [{ type: 'error', toxicity: 0.5, attributes: { status: 'ABORTED' } }], options: { seed } });
  try {
    let out = '';
    for (let i = 0; i < 40; i++) {
      const r = await unary(s.client, 'Ping', { value: String(i) });
      if (r.error) assert.equal(r.error.code, grpc.status.ABORTED);
      out += r.error ? 'x' : '.';
    }
    return out;
  } finally {
    await s.close();
  }
}

test('route fault toxicity draws per call, reproducibly with a seed', async () => {
  const a = await pattern(11);
  const b = await pattern(11);
  assert.equal(a, b, 'same seed, same calls hit');
  const hits = [...a].filter((c) => c === 'x').length;
  assert.ok(hits >= 8 && hits <= 32, `about half the calls fail (${hits}/40: ${a})`);
});

async function adminCall(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

test('admin API: a route fault is listed with its listener’s faults and edited live; it cannot become connection-scope', async () => {
  const s = await stack({ pingFaults: [{ name: 'deny', type: 'error', attributes: { status: 'PERMISSION_DENIED' } }] });
  const admin = await AdminServer.start(s.yard, { listen: LOOPBACK });
  const addr = admin.address!;
  const root = `http://127.0.0.1:${addr.kind === 'tcp' ? addr.port : 0}/api/v1`;
  const base = `${root}/listeners/g/faults`;
  try {
    const list = await fetch(base).then((r) => r.json() as Promise<{ name: string }[]>);
    assert.deepEqual(list.map((f) => f.name), ['deny']);
    assert.equal((await unary(s.client, 'Ping', { value: '1' })).error?.code, grpc.status.PERMISSION_DENIED);
    const upd = await adminCall(base, 'PATCH', '/deny', { attributes: { status: 'NOT_FOUND' } });
    assert.equal(upd.status, 200, JSON.stringify(upd.json));
    assert.equal((await unary(s.client, 'Ping', { value: '2' })).error?.code, grpc.status.NOT_FOUND);
    assert.equal((await unary(s.client, 'PingError', { value: '3' })).error?.code, grpc.status.FAILED_PRECONDITION, 'still only on its route');
    const scope = await adminCall(base, 'PATCH', '/deny', { scope: 'connection' });
    assert.equal(scope.status, 400);
    assert.match(JSON.stringify(scope.json), /a route of a grpc listener has no connection/);
    assert.equal((await adminCall(base, 'PATCH', '/deny', { toxicity: 0 })).status, 200);
    assert.equal((await unary(s.client, 'Ping', { value: '4' })).error, undefined);
    assert.equal((await adminCall(base, 'DELETE', '/deny')).status, 200);
    assert.equal((await unary(s.client, 'Ping', { value: '5' })).error, undefined);
    // A route added through the admin API with faults: per-call ones act on it, a connection fault is refused naming it.
    const bad = await adminCall(`${root}/routes`, 'POST', '', { id: 'r2', listener: 'g', cluster: 'ca', match: { method: '/swtest.TestService/PingList' }, faults: [{ type: 'latency', attributes: { latency: 5 } }] });
    assert.equal(bad.status, 400, JSON.stringify(bad.json));
    assert.match(JSON.stringify(bad.json), /a route of a grpc listener has no connection/);
  } finally {
    await admin.close();
    await s.close();
  }
});

test('config: a grpc route takes per-call faults; connection faults, down and unknown match keys are refused, naming the fault', () => {
  const errors = (faults: unknown[]): string => {
    const r = validateConfig(
      {
        listeners: [{ id: 'g', listen: '127.0.0.1:0', protocol: 'grpc' }],
        clusters: [{ id: 'c', endpoints: ['127.0.0.1:1'] }],
        routes: [{ id: 'r', listener: 'g', cluster: 'c', faults }],
      },
      createFramerRegistry(),
    );
    return r.ok ? '' : r.errors.map((e) => `${e.path}: ${e.message}`).join('\n');
  };
  assert.equal(errors([{ type: 'error', match: { method: '/a.B/*', service: 'a.B', 'metadata.x-tenant': 'acme' }, attributes: { status: 'permission_denied' } }, { type: 'delay', attributes: { sleep: 0.1 } }, { type: 'abort', toxicity: 0.5 }, { type: 'hang' }]), '');
  assert.match(errors([{ type: 'latency', attributes: { latency: 5 } }]), /^routes\[0\]\.faults\[0\]\.type: a route of a grpc listener has no connection: the connection-scope fault "latency" .*belongs on the listener/);
  assert.match(errors([{ type: 'reset_peer', scope: 'connection' }]), /^routes\[0\]\.faults\[0\]\.scope: a route of a grpc listener has no connection/);
  assert.match(errors([{ type: 'down' }]), /"down" fault is not supported on grpc listeners/);
  assert.match(errors([{ type: 'error', match: { path: '/x' } }]), /routes\[0\]\.faults\[0\]\.match\.path: unknown match key "path" \(a grpc listener's calls report: method, service, metadata\.\*\)/);
  assert.match(errors([{ type: 'error', attributes: { status: 'BOGUS' } }]), /routes\[0\]\.faults\[0\]\.attributes\.status: expected a gRPC status code name/);
});
