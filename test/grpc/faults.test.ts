/**
 * gRPC-native chaos on a grpc listener: per-call faults (error, delay, abort, hang) with gRPC semantics, matched on
 * method/service/metadata, seeded, changed live through the admin fault API; Toxiproxy toxics on the TCP connection
 * under HTTP/2. Real grpc-js clients and servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpc, startGrpcServer, testClient, unary, type PingRequest, type PingResponse, type TestClient } from '../helpers/grpc.js';
import { startGrpcProxy } from './stack.js';
import { AdminServer } from '../../src/admin/server.js';
import { validateConfig } from '../../src/runtime/config.js';
import { createFramerRegistry } from '../../src/framing/builtins.js';

const LOOPBACK = { kind: 'tcp', host: '127.0.0.1', port: 0 } as const;

function serverStream(client: TestClient, req: PingRequest): Promise<{ got: PingResponse[]; error: grpc.ServiceError | undefined }> {
  return new Promise((resolve) => {
    const got: PingResponse[] = [];
    const s = (client['PingList'] as unknown as (r: PingRequest) => grpc.ClientReadableStream<PingResponse>).call(client, req);
    s.on('data', (m: PingResponse) => got.push(m));
    s.on('error', (e: grpc.ServiceError) => resolve({ got, error: e }));
    s.on('end', () => resolve({ got, error: undefined }));
  });
}

test('error: Trailers-Only with the fault status (name or number) and message; match on method and metadata; the rest passes', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({
    primary: backend.port,
    listener: {
      faults: [
        { name: 'deny', type: 'error', match: { method: '/swtest.TestService/Ping' }, attributes: { status: 'PERMISSION_DENIED', message: 'chaos: denied 100%' } },
        { name: 'tenant', type: 'error', match: { 'metadata.x-tenant': 'acme', service: 'swtest.TestService' }, attributes: { status: 5 } },
      ],
    },
  });
  const client = testClient(port);
  try {
    const r = await unary(client, 'Ping', { value: 'x' });
    assert.equal(r.error?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(r.error?.details, 'chaos: denied 100%');
    assert.equal(r.headers, undefined, 'Trailers-Only: no response headers');
    assert.equal(backend.received.length, 0, 'the call never reached the server');
    const list = await serverStream(client, { value: 'l', count: 3 });
    assert.equal(list.error, undefined);
    assert.equal(list.got.length, 3);
    const md = new grpc.Metadata();
    md.set('x-tenant', 'acme');
    const t = await serverStream(client, { value: 'l', count: 3 });
    assert.equal(t.error, undefined);
    const t2 = await new Promise<grpc.ServiceError | undefined>((resolve) => {
      const s = (client['PingList'] as unknown as (r: PingRequest, m: grpc.Metadata) => grpc.ClientReadableStream<PingResponse>).call(client, { value: 'l', count: 3 }, md);
      s.on('data', () => undefined);
      s.on('error', (e: grpc.ServiceError) => resolve(e));
      s.on('end', () => resolve(undefined));
    });
    assert.equal(t2?.code, grpc.status.NOT_FOUND);
    assert.equal(t2?.details, 'error injected by switchyard');
    const faults = yard.faultSet('g').list();
    assert.equal(faults.find((f) => f.name === 'deny')?.injected, 1);
    assert.equal(faults.find((f) => f.name === 'tenant')?.injected, 1);
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

test('error without status answers UNAVAILABLE; delay holds the call; abort resets the stream; hang answers nothing until the deadline', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const client = testClient(port);
  const set = yard.faultSet('g');
  try {
    set.add({ name: 'e', type: 'error', match: { method: '*/Ping' } });
    let r = await unary(client, 'Ping', { value: 'x' });
    assert.equal(r.error?.code, grpc.status.UNAVAILABLE);
    set.remove('e');

    set.add({ name: 'slow', type: 'delay', attributes: { sleep: 0.5 } });
    const t0 = Date.now();
    r = await unary(client, 'Ping', { value: 'slow' });
    assert.equal(r.error, undefined);
    assert.equal(r.response?.value, 'slow');
    assert.ok(Date.now() - t0 >= 450, `the delay holds the call (${Date.now() - t0} ms)`);
    set.remove('slow');

    set.add({ name: 'cut', type: 'abort' });
    r = await unary(client, 'Ping', { value: 'cut' });
    assert.equal(r.error?.code, grpc.status.INTERNAL);
    assert.match(r.error?.details ?? '', /RST_STREAM with code 2/);
    set.remove('cut');

    set.add({ name: 'stuck', type: 'hang' });
    r = await unary(client, 'Ping', { value: 'stuck' }, new grpc.Metadata(), { deadline: Date.now() + 400 });
    assert.equal(r.error?.code, grpc.status.DEADLINE_EXCEEDED);
    set.remove('stuck');

    const before = backend.received.length;
    r = await unary(client, 'Ping', { value: 'ok' });
    assert.equal(r.error, undefined, 'without faults the call passes');
    assert.equal(backend.received.length, before + 1);
    assert.deepEqual(backend.received.map((x) => x.requests[0]?.value), ['slow', 'ok'], 'only the delayed call and the last one reached the server');
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

async function pattern(seed: number): Promise<string> {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port, listener: { faults: [{ type: 'error', toxicity: 0.5, attributes: { status: 'ABORTED' } }] }, options: { seed } });
  const client = testClient(port);
  try {
    let out = '';
    for (let i = 0; i < 40; i++) {
      const r = await unary(client, 'Ping', { value: String(i) });
      if (r.error) assert.equal(r.error.code, grpc.status.ABORTED);
      out += r.error ? 'x' : '.';
    }
    return out;
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
}

test('toxicity draws per call, reproducibly with a seed', async () => {
  const a = await pattern(7);
  const b = await pattern(7);
  assert.equal(a, b, 'same seed, same calls hit');
  const hits = [...a].filter((c) => c === 'x').length;
  assert.ok(hits >= 8 && hits <= 32, `about half the calls fail (${hits}/40: ${a})`);
});

async function adminCall(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

test('admin fault API: a fault added or removed applies to the next call; bad faults get a 400 naming the problem', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK });
  const a = admin.address!;
  const base = `http://127.0.0.1:${a.kind === 'tcp' ? a.port : 0}/api/v1/listeners/g/faults`;
  const client = testClient(port);
  try {
    assert.equal((await unary(client, 'Ping', { value: '1' })).error, undefined);
    const add = await adminCall(base, 'POST', '', { name: 'deny', type: 'error', match: { method: '*Ping' }, attributes: { status: 'UNAUTHENTICATED', message: 'who are you' } });
    assert.equal(add.status, 201, JSON.stringify(add.json));
    const r = await unary(client, 'Ping', { value: '2' });
    assert.equal(r.error?.code, grpc.status.UNAUTHENTICATED);
    assert.equal(r.error?.details, 'who are you');
    const upd = await adminCall(base, 'PATCH', '/deny', { attributes: { status: 'RESOURCE_EXHAUSTED' } });
    assert.ok(upd.status === 200, JSON.stringify(upd.json));
    assert.equal((await unary(client, 'Ping', { value: '3' })).error?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal((await adminCall(base, 'DELETE', '/deny')).status, 200);
    assert.equal((await unary(client, 'Ping', { value: '4' })).error, undefined);

    const bad = await adminCall(base, 'POST', '', { name: 'b1', type: 'latency', scope: 'request', attributes: { latency: 10 } });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.json), /cannot act per call on a grpc listener/);
    const badStatus = await adminCall(base, 'POST', '', { name: 'b2', type: 'error', attributes: { status: 'NOPE' } });
    assert.equal(badStatus.status, 400);
    assert.match(JSON.stringify(badStatus.json), /gRPC status code name/);
    const badKey = await adminCall(base, 'POST', '', { name: 'b3', type: 'error', match: { path: '/x' } });
    assert.equal(badKey.status, 400);
    assert.match(JSON.stringify(badKey.json), /unknown match key .{1,2}path/);
  } finally {
    client.close();
    await admin.close();
    await yard.close();
    await backend.close();
  }
});

test('Toxiproxy latency works on the TCP connection under HTTP/2, also added live to a connected client', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const client = testClient(port);
  try {
    assert.equal((await unary(client, 'Ping', { value: 'warm' })).error, undefined);
    yard.faultSet('g').add({ name: 'lag', type: 'latency', stream: 'downstream', attributes: { latency: 400 } });
    // The live HTTP/2 session was asked to go away; the client reconnects through the fault stage.
    let slow = 0;
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const r = await unary(client, 'Ping', { value: `l${i}` });
      assert.equal(r.error, undefined, r.error?.message);
      assert.equal(r.response?.value, `l${i}`);
      if (Date.now() - t0 >= 380) slow++;
    }
    assert.equal(slow, 3, 'every call after the toxic was added waits at least the latency');
    yard.faultSet('g').remove('lag');
    assert.equal((await unary(client, 'Ping', { value: 'after' })).error, undefined);
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

test('reset_peer and limit_data on the connection: the client sees UNAVAILABLE, the proxy keeps serving new connections', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port, listener: { faults: [{ name: 'cut', type: 'limit_data', stream: 'downstream', attributes: { bytes: 64 } }] } });
  try {
    const c1 = testClient(port);
    const r = await unary(c1, 'Ping', { value: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 3000 });
    assert.equal(r.error?.code, grpc.status.UNAVAILABLE, r.error?.message);
    c1.close();
    yard.faultSet('g').remove('cut');
    const c2 = testClient(port);
    const ok = await unary(c2, 'Ping', { value: 'y' });
    assert.equal(ok.error, undefined, ok.error?.message);
    c2.close();
  } finally {
    await yard.close();
    await backend.close();
  }
});

test('config: faults a grpc listener cannot run are refused, naming the fault and why', () => {
  const base = (faults: unknown[]): Record<string, unknown> => ({
    listeners: [{ id: 'g', listen: '127.0.0.1:0', protocol: 'grpc', faults }],
    clusters: [{ id: 'c', endpoints: ['127.0.0.1:1'] }],
    routes: [{ id: 'r', listener: 'g', cluster: 'c' }],
  });
  const errors = (faults: unknown[]): string => {
    const r = validateConfig(base(faults), createFramerRegistry());
    return r.ok ? '' : r.errors.map((e) => `${e.path}: ${e.message}`).join('\n');
  };
  assert.equal(errors([{ type: 'error', match: { method: '/a.B/*', 'metadata.x-tenant': 'acme' }, attributes: { status: 'permission_denied' } }, { type: 'latency', attributes: { latency: 5 } }]), '');
  assert.match(errors([{ type: 'latency', scope: 'request' }]), /faults\[0\]\.type: fault type "latency" cannot act per call/);
  assert.match(errors([{ type: 'error', attributes: { status: 'BOGUS' } }]), /faults\[0\]\.attributes\.status: expected a gRPC status code name/);
  assert.match(errors([{ type: 'delay', stream: 'downstream' }]), /faults\[0\]\.stream: per-call faults .* must be "upstream"/);
  assert.match(errors([{ type: 'latency', match: { method: '/a.B/C' } }]), /faults\[0\]\.match: a connection-scope fault/);
  assert.match(errors([{ type: 'down' }]), /"down" fault is not supported on grpc listeners/);
  assert.match(errors([{ type: 'error', match: { path: '/x' } }]), /unknown match key "path"/);
});
