/**
 * Voting compare policies on gRPC routes (majority, unanimous, weighted): the primary's answer is held until every
 * destination answered; the vote serves it, serves the majority's, or blocks the call with the configured status
 * naming only the divergence id. Real grpc-js servers (named alike to agree: the name is in field 3 and metadata).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpc, startGrpcServer, testClient, unary, type PingRequest, type PingResponse, type TestClient, type TestGrpcServer } from '../helpers/grpc.js';
import { startGrpcProxy } from './stack.js';

async function stack(names: string[], compare: Record<string, unknown>): Promise<{ servers: TestGrpcServer[]; yard: Awaited<ReturnType<typeof startGrpcProxy>>['yard']; client: TestClient; close: () => Promise<void> }> {
  const servers = await Promise.all(names.map((n) => startGrpcServer(n)));
  const { yard, port } = await startGrpcProxy({ primary: servers[0]!.port, secondaries: servers.slice(1).map((s) => s.port), grpc: { compare } });
  const client = testClient(port);
  return {
    servers,
    yard,
    client,
    close: async () => {
      client.close();
      await yard.close();
      for (const s of servers) await s.close();
    },
  };
}

function list(client: TestClient, req: PingRequest): Promise<{ got: PingResponse[]; error: grpc.ServiceError | undefined }> {
  return new Promise((resolve) => {
    const got: PingResponse[] = [];
    const s = (client['PingList'] as unknown as (r: PingRequest) => grpc.ClientReadableStream<PingResponse>).call(client, req);
    s.on('data', (m: PingResponse) => got.push(m));
    s.on('error', (e: grpc.ServiceError) => resolve({ got, error: e }));
    s.on('end', () => resolve({ got, error: undefined }));
  });
}

test('unanimous: equal answers are served (unary and a held server stream); a different one blocks the call INTERNAL naming the divergence', async () => {
  const s = await stack(['same', 'same', 'same'], { policy: 'unanimous' });
  try {
    const r = await unary(s.client, 'Ping', { value: 'v' });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.response?.value, 'v');
    assert.deepEqual(r.headers?.get('x-server-header'), ['same']);
    assert.deepEqual(r.trailers?.get('x-server-trailer'), ['same']);
    const l = await list(s.client, { value: 'l', count: 5 });
    assert.equal(l.error, undefined);
    assert.deepEqual(l.got.map((m) => m.counter), [0, 1, 2, 3, 4]);
    assert.equal(s.yard.divergences.list().length, 0);
  } finally {
    await s.close();
  }
  const d = await stack(['same', 'same', 'odd'], { policy: 'unanimous' });
  try {
    const r = await unary(d.client, 'Ping', { value: 'v' });
    assert.equal(r.error?.code, grpc.status.INTERNAL);
    const e = d.yard.divergences.list()[0]!;
    assert.equal(r.error?.details, `switchyard: the destinations' answers disagree (divergence ${e.id})`);
    assert.equal(e.mode, 'grpc');
    assert.equal(e.policy, 'unanimous');
    assert.equal(e.decision, 'blocked');
    assert.equal(e.served, undefined);
    assert.ok(e.fields.includes('/messages/0/3'), JSON.stringify(e.fields));
    assert.deepEqual(e.variants.map((v) => [v.name, v.agreed]), [['primary', true], ['s0 (secondary)', true], ['s1 (secondary)', false]]);
    assert.equal(r.headers, undefined, 'nothing of the held answer reached the client');
  } finally {
    await d.close();
  }
});

test('masks and ignoreHeaders make answers that differ only there agree', async () => {
  const s = await stack(['a', 'b'], { policy: 'unanimous', masks: ['/3'], ignoreHeaders: ['x-server-header', 'x-server-trailer'] });
  try {
    const r = await unary(s.client, 'Ping', { value: 'v' });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.response?.server, 'a', 'the primary is served');
    assert.equal(s.yard.divergences.list().length, 0);
  } finally {
    await s.close();
  }
});

test("weighted (Praefect's weights): with 2 secondaries the primary needs one of them; else blocked with blockStatus UNAVAILABLE", async () => {
  const s = await stack(['same', 'same', 'odd'], { policy: 'weighted', blockStatus: 'UNAVAILABLE' });
  try {
    const r = await unary(s.client, 'Ping', { value: 'v' });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.response?.server, 'same');
    const e = s.yard.divergences.list()[0]!;
    assert.equal(e.decision, 'outvoted', 'the odd secondary was out-voted');
    assert.equal(e.served, 'primary');
  } finally {
    await s.close();
  }
  const b = await stack(['same', 'odd', 'odd'], { policy: 'weighted', blockStatus: 'UNAVAILABLE' });
  try {
    const r = await unary(b.client, 'Ping', { value: 'v' });
    assert.equal(r.error?.code, grpc.status.UNAVAILABLE, 'the secondaries (weight 2) cannot out-vote the primary (3), and 3 < threshold 4');
    assert.match(r.error?.details ?? '', /divergence \d+/);
    assert.equal(b.yard.divergences.list()[0]!.decision, 'blocked');
  } finally {
    await b.close();
  }
});

test("majority: two agreeing secondaries out-vote the primary and the client gets their answer", async () => {
  const s = await stack(['odd', 'same', 'same'], { policy: 'majority' });
  try {
    const r = await unary(s.client, 'Ping', { value: 'v' });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.response?.server, 'same');
    assert.deepEqual(r.trailers?.get('x-server-trailer'), ['same']);
    const e = s.yard.divergences.list()[0]!;
    assert.equal(e.decision, 'outvoted');
    assert.equal(e.served, 's0 (secondary)');
  } finally {
    await s.close();
  }
});

test('a primary error everyone agrees on passes as is; an answer over holdLimit fails RESOURCE_EXHAUSTED', async () => {
  const s = await stack(['same', 'same'], { policy: 'unanimous', holdLimit: 1024 });
  try {
    const r = await unary(s.client, 'PingError', { value: 'x' });
    assert.equal(r.error?.code, grpc.status.FAILED_PRECONDITION);
    assert.deepEqual(r.error?.metadata.get('x-error-bin'), [Buffer.from([0xde, 0xad, 0xbe, 0xef])]);
    const big = await list(s.client, { value: 'l', count: 4, blob_size: 1000 });
    assert.equal(big.error?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(big.error?.details ?? '', /holdLimit/);
    assert.equal(big.got.length, 0);
    const ok = await unary(s.client, 'Ping', { value: 'after' });
    assert.equal(ok.error, undefined);
  } finally {
    await s.close();
  }
});

test('replicate on a grpc listener: variants[0] is the primary, the policy votes, normalise masks apply', async () => {
  const servers = await Promise.all(['same', 'same', 'odd'].map((n) => startGrpcServer(n)));
  const { startYard } = await import('../helpers/yard.js');
  const yard = await startYard({
    listeners: [{ id: 'g', listen: '127.0.0.1:0', protocol: 'grpc' }],
    clusters: servers.map((s, i) => ({ id: `v${i}`, endpoints: [`127.0.0.1:${s.port}`] })),
    routes: [{ id: 'r', listener: 'g', replicate: { variants: ['v0', 'v1', 'v2'], policy: 'majority', timeout: '2s' } }],
  });
  const a = yard.listeners.get('g')!.address!;
  const client = testClient(a.kind === 'tcp' ? a.port : 0);
  try {
    const r = await unary(client, 'Ping', { value: 'rep' });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.response?.server, 'same');
    assert.deepEqual(servers.map((s) => s.received.length), [1, 1, 1], 'every variant got the call');
    const e = yard.divergences.list()[0]!;
    assert.equal(e.mode, 'replicate');
    assert.equal(e.policy, 'majority');
    assert.equal(e.decision, 'outvoted');
    assert.deepEqual(e.variants.map((v) => v.agreed), [true, true, false]);
  } finally {
    client.close();
    await yard.close();
    for (const s of servers) await s.close();
  }
  const b = await Promise.all(['x', 'y'].map((n) => startGrpcServer(n)));
  const yard2 = await startYard({
    listeners: [{ id: 'g', listen: '127.0.0.1:0', protocol: 'grpc' }],
    clusters: b.map((s, i) => ({ id: `v${i}`, endpoints: [`127.0.0.1:${s.port}`] })),
    routes: [{ id: 'r', listener: 'g', replicate: { variants: ['v0', 'v1'], policy: 'unanimous', normalise: { masks: ['/3'], ignoreHeaders: ['x-server-header', 'x-server-trailer'] } } }],
  });
  const a2 = yard2.listeners.get('g')!.address!;
  const c2 = testClient(a2.kind === 'tcp' ? a2.port : 0);
  try {
    const r = await unary(c2, 'Ping', { value: 'm' });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.response?.server, 'x');
    assert.equal(yard2.divergences.list().length, 0);
  } finally {
    c2.close();
    await yard2.close();
    for (const s of b) await s.close();
  }
});

test('mirror on a grpc route: the shadow gets a copy, never holds the answer, and differences are reported (mode mirror)', async () => {
  const p = await startGrpcServer('p');
  const shadow = await startGrpcServer('shadow');
  const { startYard } = await import('../helpers/yard.js');
  const yard = await startYard({
    listeners: [{ id: 'g', listen: '127.0.0.1:0', protocol: 'grpc' }],
    clusters: [
      { id: 'prod', endpoints: [`127.0.0.1:${p.port}`] },
      { id: 'shadow', endpoints: [`127.0.0.1:${shadow.port}`] },
    ],
    routes: [{ id: 'r', listener: 'g', cluster: 'prod', mirror: { cluster: 'shadow', compare: true, timeout: '5s' } }],
  });
  const a = yard.listeners.get('g')!.address!;
  const client = testClient(a.kind === 'tcp' ? a.port : 0);
  const { eventually } = await import('../helpers/net.js');
  try {
    // The shadow is slow: the client's answer does not wait for it.
    const t0 = Date.now();
    const r = await unary(client, 'Ping', { value: 'm', sleep_ms: 0 });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.response?.server, 'p');
    assert.ok(Date.now() - t0 < 5000);
    await eventually(() => shadow.received.length === 1, 'the shadow got the call');
    await eventually(() => yard.divergences.list().length === 1, 'the difference is reported');
    const e = yard.divergences.list()[0]!;
    assert.equal(e.mode, 'mirror');
    assert.equal(e.decision, 'reported');
    assert.equal(e.served, 'prod');
    assert.ok(e.fields.includes('/messages/0/3'), JSON.stringify(e.fields));
    shadow.failWith = { code: grpc.status.INTERNAL, details: 'shadow broke' };
    const r2 = await unary(client, 'Ping', { value: 'm2' });
    assert.equal(r2.error, undefined, 'a failing shadow never fails the call');
  } finally {
    client.close();
    await yard.close();
    await p.close();
    await shadow.close();
  }
});
