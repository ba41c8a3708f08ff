import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpc, startGrpcServer, testClient, unary } from '../helpers/grpc.js';
import { startYard } from '../helpers/yard.js';
import { validateConfig } from '../../src/runtime/config.js';
import { testRegistry } from '../helpers/config-registry.js';

test('grpc routes match per call on method, service and metadata; no route answers UNIMPLEMENTED naming the method', async () => {
  const a = await startGrpcServer('a');
  const b = await startGrpcServer('b');
  const yard = await startYard({
    listeners: [{ id: 'g', listen: '127.0.0.1:0', protocol: 'grpc' }],
    clusters: [
      { id: 'ca', endpoints: [`127.0.0.1:${a.port}`] },
      { id: 'cb', endpoints: [`127.0.0.1:${b.port}`] },
    ],
    routes: [
      { id: 'tenant', listener: 'g', match: { metadata: { 'x-tenant': 'acme' } }, cluster: 'cb' },
      { id: 'pings', listener: 'g', match: { service: 'swtest.TestService', method: '/swtest.TestService/Ping' }, cluster: 'ca' },
    ],
  });
  const addr = yard.listeners.get('g')!.address!;
  assert.equal(addr.kind, 'tcp');
  const client = testClient(addr.kind === 'tcp' ? addr.port : 0);
  try {
    // One client connection: each call is routed on its own.
    const plain = await unary(client, 'Ping', { value: 'x' });
    assert.equal(plain.response?.server, 'a');
    const md = new grpc.Metadata();
    md.set('x-tenant', 'acme');
    const tenant = await unary(client, 'Ping', { value: 'y' }, md);
    assert.equal(tenant.response?.server, 'b');
    const err = await unary(client, 'PingError', { value: 'z' }, md);
    assert.equal(err.error?.code, grpc.status.FAILED_PRECONDITION, 'PingError reached a server (cluster cb) and its own error came back');
    assert.equal(b.received.at(-1)?.method.endsWith('PingError'), true);
    const none = await unary(client, 'PingError', { value: 'n' });
    assert.equal(none.error?.code, grpc.status.UNIMPLEMENTED);
    assert.match(none.error?.details ?? '', /no route for \/swtest\.TestService\/PingError on listener 'g'/);
    const counts = Object.fromEntries([...yard.routes.values()].map((r) => [r.id, r.requests]));
    assert.deepEqual(counts, { tenant: 2, pings: 1 });
    assert.equal(yard.listeners.get('g')!.stats.errors.get('SWY_NO_ROUTE'), 1);
  } finally {
    client.close();
    await yard.close();
    await a.close();
    await b.close();
  }
});

test('grpc route match keys are checked: unknown keys are config errors naming the path', () => {
  const r = validateConfig({
    listeners: [{ id: 'g', listen: '127.0.0.1:0', protocol: 'grpc' }],
    clusters: [{ id: 'c', endpoints: ['127.0.0.1:1'] }],
    routes: [{ id: 'r', listener: 'g', match: { path: '/x' }, cluster: 'c' }],
  }, testRegistry());
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.errors.some((i) => i.path === 'routes[0].match.path'), JSON.stringify(!r.ok && r.errors));
});
