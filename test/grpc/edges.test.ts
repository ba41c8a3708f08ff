import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { grpc, startGrpcServer, testClient, unary, type PingRequest, type PingResponse } from '../helpers/grpc.js';
import { eventually } from '../helpers/net.js';
import { testCerts } from '../helpers/certs.js';
import { eachEngine, startGrpcProxy } from './stack.js';

/** A protobuf varint. */
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** One length-prefixed gRPC message of a PingRequest with the given fields. */
function pingMessage(fields: { value?: string; count?: number; sleepMs?: number; blobSize?: number }): Buffer {
  const parts: Buffer[] = [];
  if (fields.value !== undefined) parts.push(Buffer.from([0x0a, fields.value.length]), Buffer.from(fields.value));
  if (fields.count !== undefined) parts.push(Buffer.from([0x10]), varint(fields.count));
  if (fields.sleepMs !== undefined) parts.push(Buffer.from([0x20]), varint(fields.sleepMs));
  if (fields.blobSize !== undefined) parts.push(Buffer.from([0x28]), varint(fields.blobSize));
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

const GRPC_HEADERS = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' };

async function rawServer(onStream: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => void): Promise<{ server: http2.Http2Server; port: number }> {
  const server = http2.createServer();
  server.on('stream', onStream);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

eachEngine('grpc-timeout is enforced by the proxy: DEADLINE_EXCEEDED, and the upstream call is cancelled', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const req = session.request({ ...GRPC_HEADERS, ':path': '/swtest.TestService/Ping', 'grpc-timeout': '300m' });
    req.end(pingMessage({ value: 'late', sleepMs: 20_000 }));
    const [first, flags] = (await once(req, 'response')) as [http2.IncomingHttpHeaders, number];
    // The backend sent its headers before sleeping, so the status comes as trailers.
    const headers = flags & http2.constants.NGHTTP2_FLAG_END_STREAM ? first : ((await once(req, 'trailers')) as [http2.IncomingHttpHeaders])[0];
    assert.equal(headers['grpc-status'], '4');
    assert.match(decodeURIComponent(String(headers['grpc-message'])), /Deadline exceeded at the proxy/);
    await eventually(() => backend.cancelled.includes('Ping'), 'the backend call was cancelled', 10_000);
  } finally {
    session.destroy();
    await yard.close();
    await backend.close();
  }
});

eachEngine('cancel both ways: a client cancel reaches the backend; an upstream RST(NO_ERROR) without trailers is INTERNAL', async () => {
  const backend = await startGrpcServer('b');
  let proxy = await startGrpcProxy({ primary: backend.port });
  let client = testClient(proxy.port);
  try {
    const s = (client['PingList'] as unknown as (r: PingRequest) => grpc.ClientReadableStream<PingResponse>).call(client, { value: 'c', count: 1000, sleep_ms: 20 });
    s.on('error', () => undefined);
    await once(s, 'data');
    s.cancel();
    await eventually(() => backend.cancelled.includes('PingList'), 'the backend saw the cancel', 10_000);
  } finally {
    client.close();
    await proxy.yard.close();
    await backend.close();
  }
  const raw = await rawServer((stream, headers) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.write(Buffer.from([0, 0, 0, 0, 2, 0x0a, 0]));
    const code = headers['x-rst'] === 'cancel' ? http2.constants.NGHTTP2_CANCEL : http2.constants.NGHTTP2_NO_ERROR;
    setTimeout(() => stream.close(code), 20);
  });
  proxy = await startGrpcProxy({ primary: raw.port });
  client = testClient(proxy.port);
  try {
    const r0 = await unary(client, 'Ping', { value: 'x' });
    assert.equal(r0.error?.code, grpc.status.INTERNAL);
    assert.match(r0.error.details, /RST_STREAM with code 0/);
    // Node's http2 client reports a peer's RST_STREAM that arrives after the request was fully sent with rstCode 0
    // whatever its code, so RST(CANCEL) then looks like RST(NO_ERROR): INTERNAL too (docs/grpc.md, limits).
    const md = new grpc.Metadata();
    md.set('x-rst', 'cancel');
    const r = await unary(client, 'Ping', { value: 'x' }, md);
    assert.ok(r.error !== undefined && [grpc.status.CANCELLED, grpc.status.INTERNAL].includes(r.error.code));
  } finally {
    client.close();
    await proxy.yard.close();
    raw.server.close();
  }
});

eachEngine('GOAWAY from an upstream mid-stream: the call fails UNAVAILABLE and the next call gets a new session', async () => {
  let backend = await startGrpcServer('b');
  const port0 = backend.port;
  const { yard, port } = await startGrpcProxy({ primary: port0 });
  const client = testClient(port);
  try {
    const s = (client['PingList'] as unknown as (r: PingRequest) => grpc.ClientReadableStream<PingResponse>).call(client, { value: 'g', count: 1000, sleep_ms: 10 });
    const status = new Promise<grpc.ServiceError>((resolve) => s.on('error', resolve));
    await once(s, 'data');
    await backend.close();
    const err = await status;
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    backend = await startGrpcServer('b2', { port: port0 });
    const r = await unary(client, 'Ping', { value: 'after' });
    assert.equal(r.response?.server, 'b2');
    const pools = (yard.routes.get('r')!.toJSON()['grpc'] as { sessions: { sessionsOpened: number }[] }).sessions;
    assert.equal(pools[0]!.sessionsOpened, 2);
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

eachEngine('TLS with ALPN h2 on both sides', async () => {
  const certs = testCerts();
  const creds = grpc.ServerCredentials.createSsl(Buffer.from(certs.ca.cert), [{ private_key: Buffer.from(certs.server.key), cert_chain: Buffer.from(certs.server.cert) }], false);
  const backend = await startGrpcServer('tls', { credentials: creds });
  const { yard, port } = await startGrpcProxy({
    primary: backend.port,
    listener: { tls: { cert: certs.server.certPath, key: certs.server.keyPath } },
    cluster: { tls: { ca: certs.ca.certPath } },
  });
  const client = testClient(port, grpc.credentials.createSsl(Buffer.from(certs.ca.cert)));
  try {
    const r = await unary(client, 'Ping', { value: 'secure' });
    assert.equal(r.error, undefined);
    assert.equal(r.response?.server, 'tls');
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

eachEngine('flow control: a 64 MiB server stream to a paused reader holds the upstream back', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const req = session.request({ ...GRPC_HEADERS, ':path': '/swtest.TestService/PingList' });
    req.end(pingMessage({ value: 'f', count: 64, blobSize: 1024 * 1024 }));
    req.pause();
    await once(req, 'response');
    // Wait until the proxy stops receiving (the upstream is held by flow control while the client reads nothing).
    const received = (): number => yard.routes.get('r')!.stats.bytesToDownstream;
    let last = -1;
    for (let i = 0; i < 100 && received() !== last; i++) {
      last = received();
      await new Promise((r) => setTimeout(r, 300));
    }
    // What the proxy took from the upstream and could not hand on: at most one stream window (1 MiB) plus a write
    // buffer; the client's 64 KiB window holds the rest back.
    assert.ok(received() < 3 * 1024 * 1024, `the proxy holds little (${received()} bytes taken from the upstream of 64 MiB)`);
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    const ended = once(req, 'end');
    const trailersP = once(req, 'trailers');
    req.resume();
    const [trailers] = (await trailersP) as [http2.IncomingHttpHeaders];
    await ended;
    assert.equal(trailers['grpc-status'], '0');
    assert.ok(bytes > 64 * 1024 * 1024, `all 64 MiB arrived (${bytes})`);
    assert.equal(backend.sent, 64);
  } finally {
    session.destroy();
    await yard.close();
    await backend.close();
  }
});

eachEngine('plain HTTP/2 (not gRPC) passes through: headers, body, trailers', async () => {
  const raw = await rawServer((stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      stream.respond({ ':status': 201, 'content-type': 'text/plain', 'x-path': String(headers[':path']), 'x-authority': String(headers[':authority']) }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': String(Buffer.concat(chunks).length) }));
      stream.end(`echo:${Buffer.concat(chunks).toString()}`);
    });
  });
  const { yard, port } = await startGrpcProxy({ primary: raw.port });
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const req = session.request({ ':method': 'POST', ':path': '/api/items?x=1', 'content-type': 'text/plain' });
    req.end('hello');
    const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    const ended = once(req, 'end');
    const [trailers] = (await once(req, 'trailers')) as [http2.IncomingHttpHeaders];
    assert.equal(headers[':status'], 201);
    assert.equal(headers['x-path'], '/api/items?x=1');
    assert.equal(headers['x-authority'], `127.0.0.1:${raw.port}`, ':authority is rewritten to the upstream');
    assert.equal(trailers['x-checksum'], '5');
    await ended;
    assert.equal(body, 'echo:hello');
  } finally {
    session.destroy();
    await yard.close();
    raw.server.close();
  }
});

eachEngine("a new upstream session is opened when the peer's maxConcurrentStreams is reached", async () => {
  const backend = await startGrpcServer('b', { serverOptions: { 'grpc.max_concurrent_streams': 2 } });
  const { yard, port } = await startGrpcProxy({ primary: backend.port });
  const client = testClient(port);
  try {
    assert.equal((await unary(client, 'Ping', { value: 'warm-up' })).error, undefined);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => unary(client, 'Ping', { value: `c${i}`, sleep_ms: 1500 })));
    for (const r of results) assert.equal(r.error, undefined);
    const pools = (yard.routes.get('r')!.toJSON()['grpc'] as { sessions: { sessionsOpened: number }[] }).sessions;
    assert.equal(pools[0]!.sessionsOpened, 3, 'six concurrent calls over sessions of two streams each');
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

eachEngine('a secondary that falls behind its queue is cancelled and counted; the primary goes on', async () => {
  const primary = await startGrpcServer('p');
  // A secondary that never reads the request body: its flow-control window fills, the proxy's queue toward it grows.
  const stuck = await rawServer((stream) => {
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
  });
  const { yard, port } = await startGrpcProxy({ primary: primary.port, secondaries: [stuck.port], grpc: { secondaryQueue: '256KiB' } });
  const client = testClient(port);
  try {
    const sum = await new Promise<PingResponse>((resolve, reject) => {
      const s = (client['PingClientStream'] as unknown as (cb: (e: Error | null, r?: PingResponse) => void) => grpc.ClientWritableStream<PingRequest>).call(client, (e, r) => (e ? reject(e) : resolve(r!)));
      for (let i = 0; i < 32; i++) s.write({ count: 1, blob: Buffer.alloc(64 * 1024, i) });
      s.end();
    });
    assert.equal(sum.counter, 32);
    const view = yard.routes.get('r')!.toJSON()['grpc'] as { destinations: { cluster: string; queueOverflows: number; errors: Record<string, number> }[] };
    const s0 = view.destinations.find((d) => d.cluster === 's0')!;
    assert.equal(s0.queueOverflows, 1);
    assert.deepEqual(s0.errors, { RESOURCE_EXHAUSTED: 1 });
  } finally {
    client.close();
    await yard.close();
    await primary.close();
    stuck.server.close();
  }
});
