/**
 * `compare: {policy: report}` on a gRPC route: the primary's answer is served at once; each secondary's answer is
 * lifted and normalised like the votes do (masks, regex, ignoreHeaders, descriptorSet) and a difference becomes a
 * divergence event with field paths and a readable diff. Real grpc-js servers: each puts its name in field 3
 * (`server`) of PingResponse and in the x-server-header / x-server-trailer metadata.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { grpc, startGrpcServer, testClient, unary, type PingRequest, type PingResponse, type TestClient, type TestGrpcServer } from '../helpers/grpc.js';
import { startGrpcProxy } from './stack.js';

const IGNORE_NAMES = ['x-server-header', 'x-server-trailer'];

async function stack(names: string[], compare: Record<string, unknown>): Promise<{ servers: TestGrpcServer[]; yard: Awaited<ReturnType<typeof startGrpcProxy>>['yard']; client: TestClient; close: () => Promise<void> }> {
  const servers = await Promise.all(names.map((n) => startGrpcServer(n)));
  const { yard, port } = await startGrpcProxy({ primary: servers[0]!.port, secondaries: servers.slice(1).map((s) => s.port), grpc: { compare: { policy: 'report', ...compare } } });
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

/** Wait (bounded) until every secondary saw `n` calls: the report is made once every destination ended. */
async function settle(servers: readonly TestGrpcServer[], n: number): Promise<void> {
  for (let i = 0; i < 100 && !servers.every((s) => s.received.length >= n); i++) await new Promise((r) => setTimeout(r, 20));
  // the comparison runs when the call is over; give it a few turns
  await new Promise((r) => setTimeout(r, 200));
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

test('report: a difference only in a masked field (and ignored metadata) records nothing; the primary is served', async () => {
  const s = await stack(['a', 'b'], { masks: ['/3'], ignoreHeaders: IGNORE_NAMES });
  try {
    const r = await unary(s.client, 'Ping', { value: 'v' });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.response?.server, 'a');
    assert.deepEqual(r.headers?.get('x-server-header'), ['a'], "the primary's own headers reach the client");
    const l = await list(s.client, { value: 'l', count: 3 });
    assert.equal(l.error, undefined);
    assert.deepEqual(l.got.map((m) => m.server), ['a', 'a', 'a']);
    await settle(s.servers, 2);
    assert.deepEqual(s.yard.divergences.list(), []);
  } finally {
    await s.close();
  }
});

test('report: an unmasked field difference is one event with the field path and a readable diff (mode grpc, decision reported)', async () => {
  const s = await stack(['a', 'b', 'a'], { masks: ['/2'], ignoreHeaders: IGNORE_NAMES });
  try {
    const r = await unary(s.client, 'Ping', { value: 'v' });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.response?.server, 'a');
    await settle(s.servers, 1);
    const events = s.yard.divergences.list();
    assert.equal(events.length, 1);
    const e = events[0]!;
    assert.equal(e.mode, 'grpc');
    assert.equal(e.policy, 'report');
    assert.equal(e.decision, 'reported');
    assert.equal(e.served, 'primary');
    assert.equal(e.request.summary, '/swtest.TestService/Ping');
    assert.deepEqual(e.fields, ['/messages/0/3']);
    assert.deepEqual(e.variants.map((v) => [v.name, v.status, v.agreed]), [['primary', 'ok', true], ['s0 (secondary)', 'ok', false], ['s1 (secondary)', 'ok', true]]);
    assert.match(e.diff, /\/messages\/0\/3/);
    assert.match(e.diff, /"a"/);
    assert.match(e.diff, /"b"/);
    // a server stream: the differing field of each message
    const l = await list(s.client, { value: 'l', count: 2 });
    assert.equal(l.error, undefined);
    await settle(s.servers, 2);
    const e2 = s.yard.divergences.list()[1]!;
    assert.deepEqual(e2.fields, ['/messages/0/3', '/messages/1/3']);
    // the same error from everyone is agreement
    const same = await unary(s.client, 'PingError', { value: 'x' });
    assert.equal(same.error?.code, grpc.status.FAILED_PRECONDITION);
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(s.yard.divergences.list().length, 2);
  } finally {
    await s.close();
  }
});

test('report: metadata is compared unless ignored; compareHeaders: false leaves initial metadata out', async () => {
  const s = await stack(['a', 'b'], { masks: ['/3'] });
  try {
    await unary(s.client, 'Ping', { value: 'v' });
    await settle(s.servers, 1);
    const e = s.yard.divergences.list()[0]!;
    assert.deepEqual(e.fields, ['/headers/x-server-header', '/trailers/x-server-trailer']);
  } finally {
    await s.close();
  }
  const h = await stack(['a', 'b'], { masks: ['/3'], compareHeaders: false, ignoreHeaders: ['x-server-trailer'] });
  try {
    await unary(h.client, 'Ping', { value: 'v' });
    await settle(h.servers, 1);
    assert.deepEqual(h.yard.divergences.list(), []);
  } finally {
    await h.close();
  }
});

test('report with a descriptorSet: field names in paths and masks', async () => {
  const root = protobuf.loadSync(path.join(import.meta.dirname, '../fixtures/grpc/test.proto'));
  const protoset = Buffer.from(descriptor.FileDescriptorSet.encode((root as unknown as { toDescriptor(s: string): protobuf.Message }).toDescriptor('proto3')).finish());
  const dir = mkdtempSync(path.join(tmpdir(), 'swy-report-'));
  const file = path.join(dir, 'test.protoset');
  writeFileSync(file, protoset);
  try {
    const s = await stack(['a', 'b'], { descriptorSet: file, ignoreHeaders: IGNORE_NAMES });
    try {
      await unary(s.client, 'Ping', { value: 'v' });
      await settle(s.servers, 1);
      const e = s.yard.divergences.list()[0]!;
      assert.deepEqual(e.fields, ['/messages/0/server']);
    } finally {
      await s.close();
    }
    const m = await stack(['a', 'b'], { descriptorSet: file, masks: ['/server'], ignoreHeaders: IGNORE_NAMES });
    try {
      await unary(m.client, 'Ping', { value: 'v' });
      await settle(m.servers, 1);
      assert.deepEqual(m.yard.divergences.list(), []);
    } finally {
      await m.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('report: answers over holdLimit are not compared (report holds nothing); the primary is served whole', async () => {
  const s = await stack(['a', 'b'], { holdLimit: 1024, ignoreHeaders: IGNORE_NAMES, masks: ['/3'] });
  try {
    const r = await unary(s.client, 'Ping', { value: 'v', blob_size: 4096 });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.response?.blob.length, 4096, 'the primary is served past holdLimit (report holds nothing)');
    await settle(s.servers, 1);
    assert.deepEqual(s.yard.divergences.list(), [], 'an oversized primary compares nothing');
  } finally {
    await s.close();
  }
});
