/**
 * `switchyard grpc` as a real process: a primary and a secondary grpc-js server behind it, --mutators choosing which
 * methods reach the secondary, the admin API showing the route's destinations and the gRPC metric; bad flags exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnCli, runCli } from '../helpers/cli.js';
import { freePort, eventually } from '../helpers/net.js';
import { grpc, startGrpcServer, testClient, unary, type PingRequest } from '../helpers/grpc.js';

test('switchyard grpc: primary + secondary, --mutators, admin view and switchyard_grpc_requests_total', async (t) => {
  const p = await startGrpcServer('p');
  const s = await startGrpcServer('s');
  const [port, adminPort] = [await freePort(), await freePort()];
  const cli = spawnCli(['grpc', '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${p.port}`, '--secondary', `127.0.0.1:${s.port}`, '--mutators', 'ClientStream$', '--secondary-errors', 'fail', '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'silent']);
  t.after(async () => {
    cli.kill();
    await cli.exited;
    await p.close();
    await s.close();
  });
  await cli.waitFor(/switchyard grpc: .*secondaries/);
  const client = testClient(port);
  try {
    const r = await unary(client, 'Ping', { value: 'read' });
    assert.equal(r.response?.server, 'p');
    await new Promise<void>((resolve, reject) => {
      const w = (client['PingClientStream'] as unknown as (cb: (e: Error | null) => void) => grpc.ClientWritableStream<PingRequest>).call(client, (e) => (e ? reject(e) : resolve()));
      w.write({ count: 2 });
      w.end();
    });
    await eventually(() => s.received.length === 1, 'the mutator reached the secondary');
    assert.equal(s.received[0]!.method, 'PingClientStream');
    assert.equal(p.received.length, 2);
    s.failWith = { code: grpc.status.DATA_LOSS, details: 'broken disk' };
    const failed = await new Promise<grpc.ServiceError>((resolve) => {
      const w = (client['PingClientStream'] as unknown as (cb: (e: grpc.ServiceError | null) => void) => grpc.ClientWritableStream<PingRequest>).call(client, (e) => resolve(e!));
      w.end();
    });
    assert.equal(failed.code, grpc.status.INTERNAL);
    assert.equal(failed.details, 'failed proxying to secondary: broken disk');
    const route = (await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/routes/grpc`)).json()) as { grpc: { primary: string; secondaries: string[]; destinations: { cluster: string; role: string; calls: number }[] } };
    assert.equal(route.grpc.primary, 'primary');
    assert.deepEqual(route.grpc.secondaries, ['secondary-1']);
    assert.deepEqual(route.grpc.destinations.map((d) => [d.cluster, d.role, d.calls]), [['primary', 'primary', 3], ['secondary-1', 'secondary', 2]]);
    const refused = await fetch(`http://127.0.0.1:${adminPort}/api/v1/listeners/grpc/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'latency', scope: 'request', attributes: { latency: 10 } }) });
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /fault type "latency" cannot act per call on a grpc listener/);
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    assert.match(metrics, /switchyard_grpc_requests_total\{route="grpc",method="\/swtest.TestService\/Ping",code="OK"\} 1/);
    assert.match(metrics, /switchyard_grpc_requests_total\{route="grpc",method="\/swtest.TestService\/PingClientStream",code="INTERNAL"\} 1/);
    assert.match(metrics, /switchyard_variant_response_seconds_count\{route="grpc",variant="primary"\} 3/);
    assert.match(metrics, /switchyard_variant_response_seconds_count\{route="grpc",variant="secondary-1 \(secondary\)"\} 2/);
  } finally {
    client.close();
  }
});

test('switchyard grpc: bad flags exit 2 naming the flag', async () => {
  let r = await runCli(['grpc', '--listen', '127.0.0.1:0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /missing --upstream/);
  r = await runCli(['grpc', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', '--compare', 'vote']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--compare: /);
  r = await runCli(['grpc', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', '--secondary-errors', 'ignore']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--secondary-errors/);
  r = await runCli(['grpc', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', '--engine', 'fast']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--engine: expected one of "auto", "http2", "frames"/);
});

test('switchyard grpc --compare unanimous: a secondary that answers differently blocks the call, naming the divergence', async (t) => {
  const p = await startGrpcServer('same');
  const s1 = await startGrpcServer('same');
  const s2 = await startGrpcServer('odd');
  const [port, adminPort] = [await freePort(), await freePort()];
  const cli = spawnCli(['grpc', '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${p.port}`, '--secondary', `127.0.0.1:${s1.port}`, '--secondary', `127.0.0.1:${s2.port}`, '--compare', 'unanimous', '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'silent']);
  t.after(async () => {
    cli.kill();
    await cli.exited;
    for (const x of [p, s1, s2]) await x.close();
  });
  await cli.waitFor(/switchyard grpc: .*secondaries/);
  const client = testClient(port);
  try {
    const r = await unary(client, 'Ping', { value: 'v' });
    assert.equal(r.error?.code, grpc.status.INTERNAL);
    const m = /divergence (\d+)/.exec(r.error?.details ?? '');
    assert.ok(m, r.error?.details);
    const events = (await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/divergences`)).json()) as { events?: { id: number; decision: string; mode: string }[] } | { id: number; decision: string; mode: string }[];
    const list = Array.isArray(events) ? events : (events.events ?? []);
    const e = list.find((x) => x.id === Number(m[1]));
    assert.equal(e?.decision, 'blocked');
    assert.equal(e?.mode, 'grpc');
  } finally {
    client.close();
  }
});
