import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpc, startGrpcServer, testClient, unary, type PingRequest, type PingResponse, type TestGrpcServer } from '../helpers/grpc.js';
import { eventually } from '../helpers/net.js';
import { startGrpcProxy, type GrpcStackOptions } from './stack.js';
import { grpcDirector, type GrpcDirector } from '../../src/grpc/director.js';
import { GrpcStatusError } from '../../src/grpc/status.js';

/** PingRequest{value} in protobuf wire format (field 1, length-delimited). */
function pingBytes(value: string): Buffer {
  const v = Buffer.from(value);
  return Buffer.concat([Buffer.from([0x0a, v.length]), v]);
}

async function withStack(
  secondaries: number,
  opts: Omit<GrpcStackOptions, 'primary' | 'secondaries'> & { director?: GrpcDirector },
  body: (s: { p: TestGrpcServer; sec: TestGrpcServer[]; client: ReturnType<typeof testClient>; yard: Awaited<ReturnType<typeof startGrpcProxy>>['yard'] }) => Promise<void>,
): Promise<void> {
  const p = await startGrpcServer('p');
  const sec = await Promise.all(Array.from({ length: secondaries }, (_, i) => startGrpcServer(`s${i}`)));
  const { yard, port } = await startGrpcProxy({
    primary: p.port,
    secondaries: sec.map((s) => s.port),
    ...opts,
    options: opts.director ? { grpcDirectors: { r: opts.director } } : undefined,
  });
  const client = testClient(port);
  try {
    await body({ p, sec, client, yard });
  } finally {
    client.close();
    await yard.close();
    await p.close();
    for (const s of sec) await s.close();
  }
}

test('secondaries get a copy of the request stream; only the primary answers the client', () =>
  withStack(2, {}, async ({ p, sec, client }) => {
    const r = await unary(client, 'Ping', { value: 'copy' });
    assert.equal(r.response?.server, 'p');
    assert.deepEqual(r.headers?.get('x-server-header'), ['p']);
    assert.deepEqual(r.trailers?.get('x-server-trailer'), ['p']);
    await eventually(() => sec.every((s) => s.received.length === 1), 'both secondaries called');
    for (const s of [p, ...sec]) assert.equal(s.received[0]!.requests[0]!.value, 'copy');
    // a client stream reaches every destination whole
    const sum = await new Promise<PingResponse>((resolve, reject) => {
      const s = (client['PingClientStream'] as unknown as (cb: (e: Error | null, r?: PingResponse) => void) => grpc.ClientWritableStream<PingRequest>).call(client, (e, res) => (e ? reject(e) : resolve(res!)));
      for (let i = 1; i <= 4; i++) s.write({ count: i });
      s.end();
    });
    assert.equal(sum.counter, 10);
    await eventually(() => sec.every((s) => s.received.length === 2 && s.received[1]!.requests.length === 4), 'secondaries got the client stream');
  }));

test('a secondary error is swallowed by default (counted), or fails the call INTERNAL with secondaryErrors: fail', async () => {
  await withStack(1, {}, async ({ sec, client, yard }) => {
    sec[0]!.failWith = { code: grpc.status.UNAVAILABLE, details: 'secondary down' };
    const r = await unary(client, 'Ping', { value: 'x' });
    assert.equal(r.error, undefined);
    assert.equal(r.response?.server, 'p');
    const view = yard.routes.get('r')!.toJSON()['grpc'] as { destinations: { cluster: string; errors: Record<string, number> }[] };
    assert.deepEqual(view.destinations.find((d) => d.cluster === 's0')!.errors, { UNAVAILABLE: 1 });
  });
  await withStack(1, { grpc: { secondaryErrors: 'fail' } }, async ({ sec, client }) => {
    sec[0]!.failWith = { code: grpc.status.UNAVAILABLE, details: 'secondary down' };
    const r = await unary(client, 'Ping', { value: 'x' });
    assert.equal(r.error?.code, grpc.status.INTERNAL);
    assert.equal(r.error?.details, 'failed proxying to secondary: secondary down');
  });
});

test('a primary error is returned as is and cancels the secondaries', () =>
  withStack(1, {}, async ({ p, sec, client }) => {
    p.failWith = { code: grpc.status.RESOURCE_EXHAUSTED, details: 'primary says no' };
    const r = await unary(client, 'Ping', { value: 'x', sleep_ms: 30_000 });
    assert.equal(r.error?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(r.error?.details, 'primary says no');
    assert.deepEqual(r.error?.metadata.get('x-fail-bin'), [Buffer.from([0, 1, 2, 255])]);
    await eventually(() => sec[0]!.cancelled.includes('Ping'), 'the secondary was cancelled', 10_000);
  }));

test('mutators: only matching methods go to the secondaries', () =>
  withStack(1, { grpc: { mutators: 'ClientStream$' } }, async ({ sec, client }) => {
    const r = await unary(client, 'Ping', { value: 'read' });
    assert.equal(r.error, undefined);
    await new Promise<void>((resolve, reject) => {
      const s = (client['PingClientStream'] as unknown as (cb: (e: Error | null) => void) => grpc.ClientWritableStream<PingRequest>).call(client, (e) => (e ? reject(e) : resolve()));
      s.write({ count: 1 });
      s.end();
    });
    await eventually(() => sec[0]!.received.length === 1, 'the mutator reached the secondary');
    assert.equal(sec[0]!.received[0]!.method, 'PingClientStream');
  }));

test('director error: the client gets the thrown status (PERMISSION_DENIED) and no backend is called', () =>
  withStack(
    0,
    {
      director: grpcDirector((call) => {
        if (call.metadata['test-reject-rpc-if-in-context'] !== undefined) throw new GrpcStatusError('PERMISSION_DENIED', 'testing rejection');
        return { primary: call.defaults.primary };
      }),
    },
    async ({ p, client }) => {
      const md = new grpc.Metadata();
      md.set('test-reject-rpc-if-in-context', 'true');
      const r = await unary(client, 'Ping', { value: 'x' }, md);
      assert.equal(r.error?.code, grpc.status.PERMISSION_DENIED);
      assert.equal(r.error?.details, 'testing rejection');
      assert.equal(p.received.length, 0);
      const ok = await unary(client, 'Ping', { value: 'y' });
      assert.equal(ok.response?.value, 'y');
    },
  ));

test('peek does not disturb what the backend receives (unary and bidi)', () => {
  const peeked: Buffer[] = [];
  const seen: { method: string; service: string; peer: string; attributes: Readonly<Record<string, string>> }[] = [];
  return withStack(
    0,
    {
      director: grpcDirector(async (call) => {
        peeked.push(await call.peek());
        seen.push({ method: call.method, service: call.service, peer: call.peer, attributes: call.attributes });
        return { primary: 'primary' };
      }),
    },
    async ({ p, client }) => {
      const r = await unary(client, 'Ping', { value: 'peeked' });
      assert.equal(r.response?.value, 'peeked');
      assert.deepEqual(peeked[0], pingBytes('peeked'));
      assert.deepEqual(seen[0]!.method, '/swtest.TestService/Ping');
      assert.deepEqual(seen[0]!.service, 'swtest.TestService');
      assert.match(seen[0]!.peer, /^127\.0\.0\.1:\d+$/);
      assert.equal(seen[0]!.attributes['method'], '/swtest.TestService/Ping');
      assert.equal(seen[0]!.attributes['service'], 'swtest.TestService');
      assert.equal(seen[0]!.attributes['metadata.content-type'], 'application/grpc');
      const s = (client['PingStream'] as unknown as () => grpc.ClientDuplexStream<PingRequest, PingResponse>).call(client);
      const it = s[Symbol.asyncIterator]();
      for (let i = 0; i < 5; i++) {
        s.write({ value: `b${i}` });
        assert.equal(((await it.next()) as { value: PingResponse }).value.value, `b${i}`);
      }
      s.end();
      assert.equal((await it.next()).done, true);
      assert.deepEqual(p.received[1]!.requests.map((q) => q.value), ['b0', 'b1', 'b2', 'b3', 'b4']);
    },
  );
});

test('injection: each destination gets its own first message and metadata', () =>
  withStack(
    1,
    {
      director: grpcDirector(async (call) => {
        await call.peek();
        return {
          primary: { cluster: 'primary', message: pingBytes('to-primary') },
          secondaries: [{ cluster: 's0', message: pingBytes('to-secondary'), metadata: { 'x-node': 'secondary' } }],
        };
      }),
    },
    async ({ p, sec, client }) => {
      const r = await unary(client, 'Ping', { value: 'original' });
      assert.equal(r.response?.value, 'to-primary');
      await eventually(() => sec[0]!.received.length === 1, 'secondary called');
      assert.equal(p.received[0]!.requests[0]!.value, 'to-primary');
      assert.equal(sec[0]!.received[0]!.requests[0]!.value, 'to-secondary');
      assert.deepEqual(sec[0]!.received[0]!.metadata.get('x-node'), ['secondary']);
    },
  ));

test('error precedence: finalizer alone, backend over finalizer, swallowed backend error surfaces the finalizer', async () => {
  let runs = 0;
  let mode: 'finalizer' | 'backend' | 'swallow' = 'finalizer';
  const director = grpcDirector(() => ({
    primary: { cluster: 'primary', errorHandler: mode === 'swallow' ? () => undefined : undefined },
    finalizer: () => {
      runs++;
      throw new GrpcStatusError('ABORTED', 'finalizer failed');
    },
  }));
  await withStack(0, { director }, async ({ p, client }) => {
    let r = await unary(client, 'Ping', { value: 'x' });
    assert.equal(r.error?.code, grpc.status.ABORTED, 'finalizer error alone');
    assert.equal(r.error?.details, 'finalizer failed');
    mode = 'backend';
    p.failWith = { code: grpc.status.NOT_FOUND, details: 'no such thing' };
    r = await unary(client, 'Ping', { value: 'x' });
    assert.equal(r.error?.code, grpc.status.NOT_FOUND, 'backend error over finalizer error');
    mode = 'swallow';
    r = await unary(client, 'Ping', { value: 'x' });
    assert.equal(r.error?.code, grpc.status.ABORTED, 'a swallowed backend error lets the finalizer error surface');
    assert.equal(runs, 3);
  });
});

test('an error handler that swallows the primary error makes the call OK without a message', () =>
  withStack(0, { director: grpcDirector(() => ({ primary: { cluster: 'primary', errorHandler: () => undefined } })) }, async ({ p, client }) => {
    p.failWith = { code: grpc.status.NOT_FOUND, details: 'gone' };
    const r = await unary(client, 'Ping', { value: 'x' });
    // grpc-js reports a unary call that ended OK without a message as UNIMPLEMENTED/INTERNAL-like: it is not the backend's error.
    assert.notEqual(r.error?.code, grpc.status.NOT_FOUND);
    assert.equal(r.trailers?.get('grpc-status').length ?? 0, 0);
  }));

test('the finalizer runs even when the call ends (deadline, client cancel) while the director is still deciding', async () => {
  let finalized = 0;
  const director = grpcDirector(async () => {
    await new Promise((r) => setTimeout(r, 1500));
    return { primary: 'primary', finalizer: () => void finalized++ };
  });
  await withStack(0, { director }, async ({ p, client }) => {
    // The channel connects first: a deadline that ran out while grpc-js was still connecting would end the call in the
    // client, before the proxy (and its director) ever saw it.
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())));
    const r = await unary(client, 'Ping', { value: 'x' }, new grpc.Metadata(), { deadline: Date.now() + 300 });
    assert.equal(r.error?.code, grpc.status.DEADLINE_EXCEEDED);
    await eventually(() => finalized === 1, 'the finalizer ran', 10_000);
    assert.equal(p.received.length, 0);
  });
});

test('compare: report — a secondary answering differently becomes a divergence event; the primary is served', () =>
  withStack(1, { grpc: { compare: { policy: 'report', ignoreHeaders: ['x-server-header', 'x-server-trailer'] } } }, async ({ client, yard }) => {
    // The test servers put their name in field 3 of PingResponse (and in metadata, ignored): primary "p", secondary "s0".
    const r = await unary(client, 'Ping', { value: 'cmp' });
    assert.equal(r.response?.server, 'p');
    await eventually(() => yard.divergences.list().length === 1, 'one divergence event');
    const e = yard.divergences.list()[0]!;
    assert.equal(e.route, 'r');
    assert.equal(e.mode, 'grpc');
    assert.equal(e.decision, 'reported');
    assert.equal(e.served, 'primary');
    assert.equal(e.request.summary, '/swtest.TestService/Ping');
    assert.deepEqual(e.fields, ['/messages/0/3']);
    assert.deepEqual(e.variants.map((v) => [v.name, v.agreed]), [['primary', true], ['s0 (secondary)', false]]);
    // Identical answers (the same error from both) record nothing.
    const same = await unary(client, 'PingError', { value: 'x' });
    assert.equal(same.error?.code, grpc.status.FAILED_PRECONDITION);
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(yard.divergences.list().length, 1);
  }));

test('stress: 50 unary and 50 bidi calls with two secondaries', () =>
  withStack(2, {}, async ({ sec, client, yard }) => {
    for (let i = 0; i < 50; i++) {
      const r = await unary(client, 'Ping', { value: `u${i}` });
      assert.equal(r.response?.value, `u${i}`);
      const s = (client['PingStream'] as unknown as () => grpc.ClientDuplexStream<PingRequest, PingResponse>).call(client);
      const it = s[Symbol.asyncIterator]();
      s.write({ value: `b${i}` });
      assert.equal(((await it.next()) as { value: PingResponse }).value.value, `b${i}`);
      s.end();
      assert.equal((await it.next()).done, true);
    }
    await eventually(() => sec.every((s) => s.received.length === 100), 'every call reached both secondaries', 20_000);
    const view = yard.routes.get('r')!.toJSON()['grpc'] as { calls: Record<string, Record<string, number>> };
    assert.deepEqual(view.calls, { '/swtest.TestService/Ping': { OK: 50 }, '/swtest.TestService/PingStream': { OK: 50 } });
  }));
