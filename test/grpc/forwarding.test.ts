import assert from 'node:assert/strict';
import { grpc, startGrpcServer, testClient, unary, type PingRequest, type PingResponse, type TestClient } from '../helpers/grpc.js';
import { eachEngine, sessionsByEngine, startGrpcProxy } from './stack.js';

type Stream = grpc.ClientDuplexStream<PingRequest, PingResponse>;

eachEngine('unary: client metadata reaches the server; headers and exactly the server trailers reach the client', async (_t, engine) => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const client = testClient(port);
  try {
    const md = new grpc.Metadata();
    md.set('test-client-header', 'hello');
    md.set('x-bin', Buffer.from([1, 2, 3]));
    const r = await unary(client, 'Ping', { value: 'ping' }, md);
    assert.equal(r.error, undefined);
    assert.equal(r.response?.value, 'ping');
    assert.equal(r.response?.server, 'b');
    assert.deepEqual(backend.received[0]!.metadata.get('test-client-header'), ['hello']);
    assert.deepEqual(backend.received[0]!.metadata.get('x-bin'), [Buffer.from([1, 2, 3])]);
    assert.deepEqual(r.headers?.get('x-server-header'), ['b']);
    assert.deepEqual(Object.keys(r.trailers!.getMap()), ['x-server-trailer']);
    assert.deepEqual(sessionsByEngine(yard), engine === 'frames' ? { http2: 0, frames: 1 } : { http2: 1, frames: 0 });
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

eachEngine('trailers-only errors pass with their code, percent-encoded message and -bin metadata', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const client = testClient(port);
  try {
    const r = await unary(client, 'PingError', { value: 'x' });
    assert.equal(r.error?.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(r.error?.details, 'Userspace error. ünïcode 100%');
    assert.deepEqual(r.error?.metadata.get('x-error-bin'), [Buffer.from([0xde, 0xad, 0xbe, 0xef])]);
    assert.deepEqual(r.error?.metadata.get('x-error-text'), ['userspace']);
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

eachEngine('server stream, client stream and bidi (20 round trips)', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const client = testClient(port);
  try {
    // server stream
    const got: PingResponse[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = (client['PingList'] as unknown as (r: PingRequest) => grpc.ClientReadableStream<PingResponse>).call(client, { value: 'l', count: 10 });
      s.on('data', (m: PingResponse) => got.push(m));
      s.on('error', reject);
      s.on('end', () => resolve());
    });
    assert.deepEqual(got.map((m) => m.counter), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // client stream
    const sum = await new Promise<PingResponse>((resolve, reject) => {
      const s = (client['PingClientStream'] as unknown as (cb: (e: Error | null, r?: PingResponse) => void) => grpc.ClientWritableStream<PingRequest>).call(client, (e, r) => (e ? reject(e) : resolve(r!)));
      for (let i = 1; i <= 5; i++) s.write({ count: i });
      s.end();
    });
    assert.equal(sum.counter, 15);
    // bidi: 20 round trips, header before the first message, a clean end after CloseSend
    const s = (client['PingStream'] as unknown as () => Stream).call(client);
    let headers: grpc.Metadata | undefined;
    s.on('metadata', (m: grpc.Metadata) => (headers = m));
    const it = s[Symbol.asyncIterator]();
    for (let i = 0; i < 20; i++) {
      s.write({ value: `m${i}` });
      const { value } = (await it.next()) as { value: PingResponse };
      assert.equal(value.value, `m${i}`);
      assert.equal(value.counter, i);
      if (i === 0) assert.ok(headers, 'headers arrive before the first message');
    }
    const status = new Promise<grpc.StatusObject>((r) => s.on('status', r));
    s.end();
    assert.equal((await it.next()).done, true);
    const st = await status;
    assert.equal(st.code, grpc.status.OK);
    assert.deepEqual(st.metadata.get('x-server-trailer'), ['b']);
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

eachEngine('4 MiB messages both ways', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const client = testClient(port);
  try {
    const blob = Buffer.alloc(4 * 1024 * 1024, 3);
    const r = await unary(client, 'Ping', { value: 'big', blob });
    assert.equal(r.error, undefined);
    assert.equal(r.response?.blob.length, blob.length);
    assert.ok(r.response.blob.equals(blob));
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

eachEngine('100 concurrent streams on one client connection share one upstream session', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const client = testClient(port);
  try {
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => unary(client, 'Ping', { value: `v${i}`, sleep_ms: 20 })));
    results.forEach((r, i) => {
      assert.equal(r.error, undefined);
      assert.equal(r.response?.value, `v${i}`);
    });
    const pools = (yard.routes.get('r')!.toJSON()['grpc'] as { sessions: { sessionsOpened: number }[] }).sessions;
    assert.equal(pools[0]!.sessionsOpened, 1);
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

eachEngine('stress: 50 sequential unary and bidi calls', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const client: TestClient = testClient(port);
  try {
    for (let i = 0; i < 50; i++) {
      const r = await unary(client, 'Ping', { value: `s${i}` });
      assert.equal(r.response?.value, `s${i}`);
      const s = (client['PingStream'] as unknown as () => Stream).call(client);
      const it = s[Symbol.asyncIterator]();
      s.write({ value: 'a' });
      assert.equal(((await it.next()) as { value: PingResponse }).value.value, 'a');
      s.end();
      assert.equal((await it.next()).done, true);
    }
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

eachEngine('a dead upstream answers UNAVAILABLE naming the cluster', async () => {
  const backend = await startGrpcServer('b');
  const port0 = backend.port;
  await backend.close();
  const { yard, port } = await startGrpcProxy({ primary: port0, cluster: { connectTimeout: '2s' } });
  const client = testClient(port);
  try {
    const r = await unary(client, 'Ping', { value: 'x' });
    assert.equal(r.error?.code, grpc.status.UNAVAILABLE);
    assert.match(r.error.details, /cluster 'primary'/);
  } finally {
    client.close();
    await yard.close();
  }
});

eachEngine('grpc-encoding and compressed messages pass unchanged (a gzip request)', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const client = testClient(port, undefined, { 'grpc.default_compression_algorithm': 2 });
  try {
    const blob = Buffer.alloc(256 * 1024, 1);
    const r = await unary(client, 'Ping', { value: 'zipped', blob });
    assert.equal(r.error, undefined);
    assert.ok(r.response!.blob.equals(blob));
    // The request crossed the proxy compressed and the server decompressed it (grpc-js consumes grpc-encoding
    // itself, so the byte count tells): far fewer bytes than the 256 KiB payload.
    const stats = yard.routes.get('r')!.stats;
    assert.ok(stats.bytesToUpstream < 64 * 1024, `request compressed on the wire (${stats.bytesToUpstream} bytes)`);
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});
