// The gRPC comparator on what real grpc-js servers send (proto loaded with @grpc/proto-loader; the comparator never
// sees it): responses read with a node:http2 client, as the proxy's engine reads them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { buildGrpcComparator } from '../../src/compare/grpc-comparator.js';
import { grpcExchangeFrames, type GrpcExchange } from '../../src/compare/grpc-lifter.js';

const PROTO = `
syntax = "proto3";
package live.v1;
message Query { string id = 1; int32 count = 2; }
message Row { string id = 1; int64 seq = 2; string owner = 3; repeated string tags = 4; }
service Rows {
  rpc Get(Query) returns (Row);
  rpc List(Query) returns (stream Row);
}
`;

const dir = mkdtempSync(path.join(tmpdir(), 'swy-grpc-live-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const protoFile = path.join(dir, 'live.proto');
writeFileSync(protoFile, PROTO);
const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoFile, { longs: String })) as unknown as {
  live: { v1: { Rows: grpc.ServiceClientConstructor } };
};

interface Variant {
  owner: string;
  trailer?: string;
}

type Query = { id: string; count: number };

async function startServer(v: Variant): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(pkg.live.v1.Rows.service, {
    Get: (call: grpc.ServerUnaryCall<Query, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      if (call.request.id === 'missing') {
        const md = new grpc.Metadata();
        md.set('x-detail-bin', Buffer.from('0a0568656c6c6f', 'hex')); // {1: "hello"}
        cb({ code: grpc.status.NOT_FOUND, details: 'no row "missing" (100%)', metadata: md });
        return;
      }
      cb(null, { id: call.request.id, seq: '1', owner: v.owner, tags: ['a'] });
    },
    List: (call: grpc.ServerWritableStream<Query, unknown>) => {
      const header = new grpc.Metadata();
      header.set('x-served-by', v.owner);
      call.sendMetadata(header);
      for (let i = 0; i < call.request.count; i++) call.write({ id: `${call.request.id}-${i}`, seq: String(2 ** 53 + i * 2), owner: v.owner, tags: ['x', String(i)] });
      const trailer = new grpc.Metadata();
      if (v.trailer) trailer.set('x-checksum', v.trailer);
      call.end(trailer);
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { port, server };
}

/** One call with a bare node:http2 client: headers, DATA chunks and trailers as the engine sees them. */
async function call(port: number, method: string, request: Buffer): Promise<GrpcExchange> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise<GrpcExchange>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('call timed out')), 20_000);
      session.on('error', reject);
      const req = session.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers', 'grpc-accept-encoding': 'identity,deflate,gzip' });
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      const data: Buffer[] = [];
      req.on('response', (h) => {
        headers = h;
      });
      req.on('trailers', (t: http2.IncomingHttpHeaders) => {
        trailers = t;
      });
      req.on('data', (c: Buffer) => data.push(c));
      req.on('end', () => {
        clearTimeout(timer);
        resolve({ method, headers, trailers, data });
      });
      req.on('error', reject);
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(request.length, 1);
      req.end(Buffer.concat([prefix, request]));
    });
  } finally {
    session.close();
  }
}

const query = (id: string, count: number): Buffer => {
  const idBytes = Buffer.from(id);
  return Buffer.concat([Buffer.from([0x0a, idBytes.length]), idBytes, Buffer.from([0x10, count])]);
};

test('live grpc-js servers: equal answers agree, a differing field is named, masks by field number', async () => {
  const primary = await startServer({ owner: 'alice', trailer: 'c1' });
  const twin = await startServer({ owner: 'alice', trailer: 'c1' });
  const different = await startServer({ owner: 'bob', trailer: 'c2' });
  try {
    const cmp = buildGrpcComparator({ ignoreHeaders: ['x-served-by'] });
    const canon = async (port: number, q: Buffer) => cmp.canonical(grpcExchangeFrames(await call(port, '/live.v1.Rows/List', q)), 'response');
    const a = await canon(primary.port, query('r', 3));
    const g = await canon(twin.port, query('r', 3));
    const b = await canon(different.port, query('r', 3));
    const tree = a.tree as { messages: { [k: string]: unknown }[]; status: string; trailers: object };
    assert.equal(tree.status, 'OK');
    assert.equal(tree.messages.length, 3);
    assert.deepEqual(tree.messages[1], { '1': 'r-1', '2': '9007199254740994', '3': 'alice', '4': ['x', '1'] }, '64-bit values are exact');
    assert.deepEqual(tree.trailers, { 'x-checksum': 'c1' });
    assert.match(a.summary, /^OK 3 messages \d+ B \/live.v1.Rows\/List$/);
    assert.equal(a.digest, g.digest, 'another server with the same data agrees (x-served-by ignored)');
    assert.deepEqual(
      cmp.diff(a, b).map((d) => `${d.path} ${d.a} ${d.b}`),
      ['/messages/0/3 "alice" "bob"', '/messages/1/3 "alice" "bob"', '/messages/2/3 "alice" "bob"', '/trailers/x-checksum "c1" "c2"'],
    );
    const masked = buildGrpcComparator({ ignoreHeaders: ['x-served-by'], masks: ['/3', '/trailers/x-checksum'] });
    const ma = masked.canonical(grpcExchangeFrames(await call(primary.port, '/live.v1.Rows/List', query('r', 3))), 'response');
    const mb = masked.canonical(grpcExchangeFrames(await call(different.port, '/live.v1.Rows/List', query('r', 3))), 'response');
    assert.equal(ma.digest, mb.digest, '"/3" masks field 3 of every message');

    // a trailers-only error with -bin metadata
    const err = cmp.canonical(grpcExchangeFrames(await call(primary.port, '/live.v1.Rows/Get', query('missing', 0))), 'response');
    const et = err.tree as { status: string; message: string; messages: unknown[]; headers: { [k: string]: unknown }; trailers: { [k: string]: unknown } };
    assert.equal(et.status, 'NOT_FOUND');
    assert.equal(et.message, 'no row "missing" (100%)');
    assert.deepEqual(et.messages, []);
    assert.deepEqual({ ...et.headers, ...et.trailers }['x-detail-bin'], { '1': 'hello' });
    const ok = cmp.canonical(grpcExchangeFrames(await call(primary.port, '/live.v1.Rows/Get', query('r1', 0))), 'response');
    assert.deepEqual(
      cmp.diff(ok, err).map((d) => d.path).filter((p) => !p.startsWith('/headers') && !p.startsWith('/trailers')),
      ['/message', '/messages', '/messages/0/1', '/messages/0/2', '/messages/0/3', '/messages/0/4', '/status'],
    );
  } finally {
    for (const s of [primary, twin, different]) s.server.forceShutdown();
  }
});
