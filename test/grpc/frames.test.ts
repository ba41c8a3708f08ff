/**
 * What only the frame engine (src/grpc/frames/) can get wrong, against real peers: raw-socket HTTP/2 clients sending
 * bad frames get GOAWAY with the right error code while other clients' calls go on; a client that changes
 * SETTINGS_INITIAL_WINDOW_SIZE mid-stream; an upstream that sends GOAWAY with a last-stream-id below a call's
 * stream; an upstream whose maxConcurrentStreams makes the pool open more connections; live switching to the http2
 * engine when a fault arrives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { grpc, startGrpcServer, testClient, unary, type PingRequest, type PingResponse } from '../helpers/grpc.js';
import { eventually } from '../helpers/net.js';
import { sessionsByEngine, startGrpcProxy } from './stack.js';
import { grpcDirector } from '../../src/grpc/director.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0), length = payload.length): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** Connect, send `bytes`, and read frames until GOAWAY (or the socket ends): GOAWAY's error code, or undefined. */
async function goawayCode(port: number, bytes: Buffer): Promise<number | undefined> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  socket.write(bytes);
  let buf = Buffer.alloc(0);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, 10_000);
    const done = (code: number | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(code);
    };
    socket.on('error', () => undefined);
    socket.on('close', () => done(undefined));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) return;
        if (buf[3] === 0x7) return done(buf.readUInt32BE(13));
        buf = buf.subarray(9 + len);
      }
    });
  });
}

const SETTINGS = frame(0x4, 0, 0);

test('bad frames get GOAWAY with the right error code; another client on another connection goes on', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port, engine: 'frames' });
  const client = testClient(port);
  try {
    assert.equal((await unary(client, 'Ping', { value: 'before' })).error, undefined);
    const cases: [string, Buffer, number][] = [
      ['bad preface', Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n'), 0x1],
      ['first frame not SETTINGS', Buffer.concat([PREFACE, frame(0x6, 0, 0, Buffer.alloc(8))]), 0x1],
      ['DATA on stream 0', Buffer.concat([PREFACE, SETTINGS, frame(0x0, 0, 0, Buffer.from('x'))]), 0x1],
      ['HEADERS on an even stream id', Buffer.concat([PREFACE, SETTINGS, frame(0x1, 0x5, 2, Buffer.from([0x82]))]), 0x1],
      ['a frame over the maximum frame size', Buffer.concat([PREFACE, SETTINGS, frame(0x0, 0, 1, Buffer.alloc(0), 16_385)]), 0x6],
      ['a bad HPACK block (index 0)', Buffer.concat([PREFACE, SETTINGS, frame(0x1, 0x5, 1, Buffer.from([0x80]))]), 0x9],
      ['PING of 7 octets', Buffer.concat([PREFACE, SETTINGS, frame(0x6, 0, 0, Buffer.alloc(7))]), 0x6],
      ['WINDOW_UPDATE of 0 on the connection', Buffer.concat([PREFACE, SETTINGS, frame(0x8, 0, 0, Buffer.alloc(4))]), 0x1],
      ['CONTINUATION without HEADERS', Buffer.concat([PREFACE, SETTINGS, frame(0x9, 0x4, 1, Buffer.from([0x82]))]), 0x1],
    ];
    for (const [what, bytes, code] of cases) {
      const [got, r] = await Promise.all([goawayCode(port, bytes), unary(client, 'Ping', { value: what })]);
      assert.equal(got, code, `${what}: GOAWAY code`);
      assert.equal(r.error, undefined, `${what}: the other client's call`);
      assert.equal(r.response?.value, what);
    }
    assert.equal(sessionsByEngine(yard).http2, 0);
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

test('a client that raises SETTINGS_INITIAL_WINDOW_SIZE mid-stream gets the difference on its open stream (RFC 9113 §6.9.2)', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port, engine: 'frames' });
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 16 * 1024 } });
  try {
    await once(session, 'remoteSettings');
    session.setLocalWindowSize(32 * 1024 * 1024);
    const req = session.request({ ':method': 'POST', ':path': '/swtest.TestService/PingList', 'content-type': 'application/grpc', te: 'trailers' });
    // PingRequest {value: 'w', count: 8, blob_size: 256 KiB}: 2 MiB in all.
    const body = Buffer.from([0x0a, 1, 0x77, 0x10, 8, 0x28, 0x80, 0x80, 0x10]);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(body.length, 1);
    // (The trailers may arrive while the stream is paused: listened for from the start.)
    const trailers = once(req, 'trailers');
    req.end(Buffer.concat([head, body]));
    req.pause();
    await once(req, 'response');
    // Paused: the proxy may send one 16 KiB window and no more.
    await eventually(() => req.readableLength >= 16 * 1024, 'the first window arrived', 10_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(req.readableLength <= 16 * 1024 + 1024, `no more than the window (${req.readableLength})`);
    // The new initial window applies to the open stream: the proxy sends up to it without any WINDOW_UPDATE.
    session.settings({ initialWindowSize: 4 * 1024 * 1024 });
    await eventually(() => req.readableLength >= 2 * 1024 * 1024, 'the rest arrived after the settings change', 10_000);
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    const ended = once(req, 'end');
    req.resume();
    await ended;
    const [t] = (await trailers) as [http2.IncomingHttpHeaders];
    assert.equal(t['grpc-status'], '0');
    assert.ok(bytes >= 2 * 1024 * 1024, `all of it (${bytes})`);
  } finally {
    session.destroy();
    await yard.close();
    await backend.close();
  }
});

test('an upstream GOAWAY below a call\'s stream: that call fails UNAVAILABLE, the one under it finishes, the next call opens a new connection', async () => {
  let streams = 0;
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    streams++;
    const reply = (): void => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    };
    if (headers['x-goaway'] === 'yes') {
      // Not processed: GOAWAY names the stream before it as the last one.
      stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id! - 2);
      return;
    }
    if (headers['x-slow'] === 'yes') setTimeout(reply, 300);
    else reply();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { yard, port } = await startGrpcProxy({ primary: (server.address() as AddressInfo).port, engine: 'frames' });
  const client = testClient(port);
  try {
    const slow = new grpc.Metadata();
    slow.set('x-slow', 'yes');
    const bye = new grpc.Metadata();
    bye.set('x-goaway', 'yes');
    const first = unary(client, 'Ping', {}, slow);
    await eventually(() => streams === 1, 'the first call reached the upstream', 10_000);
    const refused = await unary(client, 'Ping', {}, bye);
    assert.equal(refused.error?.code, grpc.status.UNAVAILABLE);
    assert.equal((await first).error, undefined, 'the stream under last-stream-id finishes');
    assert.equal((await unary(client, 'Ping', {})).error, undefined);
    const pools = (yard.routes.get('r')!.toJSON()['grpc'] as { sessions: { sessionsOpened: number }[] }).sessions;
    assert.equal(pools[0]!.sessionsOpened, 2);
  } finally {
    client.close();
    await yard.close();
    server.close();
  }
});

test('100 concurrent calls on one connection, upstream maxConcurrentStreams 10: more upstream connections open, every call succeeds', async () => {
  const backend = await startGrpcServer('b', { serverOptions: { 'grpc.max_concurrent_streams': 10 } });
  const { yard, port } = await startGrpcProxy({ primary: backend.port, engine: 'frames' });
  const client = testClient(port);
  try {
    assert.equal((await unary(client, 'Ping', { value: 'warm-up' })).error, undefined);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => unary(client, 'Ping', { value: `v${i}`, sleep_ms: 200 })));
    results.forEach((r, i) => {
      assert.equal(r.error, undefined, r.error?.message);
      assert.equal(r.response?.value, `v${i}`);
    });
    const pools = (yard.routes.get('r')!.toJSON()['grpc'] as { sessions: { sessionsOpened: number }[] }).sessions;
    assert.ok(pools[0]!.sessionsOpened >= 2, `a second upstream connection opened (${pools[0]!.sessionsOpened})`);
    assert.deepEqual(sessionsByEngine(yard), { http2: 0, frames: 1 });
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

test('auto: a fault added live sends GOAWAY to frame-engine connections; a stream in flight finishes; new calls take the http2 engine and the fault', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port, engine: 'auto' });
  const client = testClient(port);
  try {
    assert.equal((await unary(client, 'Ping', { value: 'warm' })).error, undefined);
    assert.deepEqual(sessionsByEngine(yard), { http2: 0, frames: 1 });
    const got: PingResponse[] = [];
    const stream = new Promise<grpc.ServiceError | undefined>((resolve) => {
      const s = (client['PingList'] as unknown as (r: PingRequest) => grpc.ClientReadableStream<PingResponse>).call(client, { value: 's', count: 10, sleep_ms: 50 });
      s.on('data', (m: PingResponse) => got.push(m));
      s.on('error', resolve);
      s.on('end', () => resolve(undefined));
    });
    await eventually(() => got.length > 0, 'the stream started', 10_000);
    yard.faultSet('g').add({ name: 'deny', type: 'error', match: { method: '*Deny' }, attributes: { status: 'PERMISSION_DENIED' } });
    assert.equal(await stream, undefined, 'the stream in flight finished');
    assert.equal(got.length, 10);
    const r = await unary(client, 'Ping', { value: 'after' });
    assert.equal(r.error, undefined);
    await eventually(() => sessionsByEngine(yard).frames === 0 && sessionsByEngine(yard).http2 === 1, 'the client moved to the http2 engine', 10_000);
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});

test('engine frames: a route that gains a director is answered UNAVAILABLE naming why (no endless refusals)', async () => {
  const backend = await startGrpcServer('b');
  const { yard, port } = await startGrpcProxy({ primary: backend.port, engine: 'frames' });
  const client = testClient(port);
  try {
    assert.equal((await unary(client, 'Ping', { value: 'plain' })).error, undefined);
    yard.grpc.directors.set('r', grpcDirector((info) => info.defaults));
    const r = await unary(client, 'Ping', { value: 'directed' });
    assert.equal(r.error?.code, grpc.status.UNAVAILABLE);
    assert.match(r.error.details, /route 'r' is not plain .* engine "frames"/);
  } finally {
    client.close();
    await yard.close();
    await backend.close();
  }
});
