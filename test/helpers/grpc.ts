/**
 * gRPC test peers: a real @grpc/grpc-js server implementing swtest.TestService (test/fixtures/grpc/test.proto) that
 * records what it received, and clients for it. The proxy under test never sees the proto.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

const PROTO = fileURLToPath(new URL('../fixtures/grpc/test.proto', import.meta.url));
const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: true });
const pkg = grpc.loadPackageDefinition(definition) as unknown as { swtest: { TestService: grpc.ServiceClientConstructor } };
export const TestService = pkg.swtest.TestService;

export interface PingRequest {
  value?: string;
  count?: number;
  blob?: Buffer;
  sleep_ms?: number;
  blob_size?: number;
}
export interface PingResponse {
  value: string;
  counter: number;
  server: string;
  blob: Buffer;
}

export interface Received {
  method: string;
  metadata: grpc.Metadata;
  requests: PingRequest[];
}

export interface TestGrpcServer {
  name: string;
  port: number;
  server: grpc.Server;
  received: Received[];
  /** Calls the server saw cancelled. */
  cancelled: string[];
  /** Every call fails with this status (a misbehaving secondary). */
  failWith: { code: grpc.status; details: string } | undefined;
  /** Stream messages written so far (PingList). */
  sent: number;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startGrpcServer(name: string, options: { port?: number; credentials?: grpc.ServerCredentials; serverOptions?: grpc.ServerOptions } = {}): Promise<TestGrpcServer> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024, ...options.serverOptions });
  const t: TestGrpcServer = {
    name,
    port: 0,
    server,
    received: [],
    cancelled: [],
    failWith: undefined,
    sent: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
  const record = (method: string, call: { metadata: grpc.Metadata; on(e: 'cancelled', f: () => void): unknown }): Received => {
    const r: Received = { method, metadata: call.metadata, requests: [] };
    t.received.push(r);
    call.on('cancelled', () => t.cancelled.push(method));
    return r;
  };
  const trailer = (): grpc.Metadata => {
    const m = new grpc.Metadata();
    m.set('x-server-trailer', name);
    return m;
  };
  const fail = (): grpc.ServiceError | undefined => {
    if (!t.failWith) return undefined;
    const md = new grpc.Metadata();
    md.set('x-fail-bin', Buffer.from([0, 1, 2, 255]));
    return Object.assign(new Error(t.failWith.details), { code: t.failWith.code, details: t.failWith.details, metadata: md });
  };
  server.addService(TestService.service, {
    Ping: (call: grpc.ServerUnaryCall<PingRequest, PingResponse>, cb: grpc.sendUnaryData<PingResponse>) => {
      const r = record('Ping', call);
      r.requests.push(call.request);
      const header = new grpc.Metadata();
      header.set('x-server-header', name);
      call.sendMetadata(header);
      const early = fail();
      if (early) return cb(early);
      const answer = (): void => {
        const err = fail();
        if (err) return cb(err);
        const blob = call.request.blob_size ? Buffer.alloc(call.request.blob_size, 7) : (call.request.blob ?? Buffer.alloc(0));
        cb(null, { value: call.request.value ?? '', counter: 1, server: name, blob }, trailer());
      };
      if (call.request.sleep_ms) setTimeout(answer, call.request.sleep_ms);
      else answer();
    },
    PingError: (call: grpc.ServerUnaryCall<PingRequest, PingResponse>, cb: grpc.sendUnaryData<PingResponse>) => {
      record('PingError', call).requests.push(call.request);
      const md = new grpc.Metadata();
      md.set('x-error-bin', Buffer.from([0xde, 0xad, 0xbe, 0xef]));
      md.set('x-error-text', 'userspace');
      cb(Object.assign(new Error('Userspace error.'), { code: grpc.status.FAILED_PRECONDITION, details: 'Userspace error. ünïcode 100%', metadata: md }));
    },
    PingList: (call: grpc.ServerWritableStream<PingRequest, PingResponse>) => {
      record('PingList', call).requests.push(call.request);
      const err = fail();
      if (err) return call.destroy(err);
      const blob = Buffer.alloc(call.request.blob_size ?? 0, 9);
      const run = async (): Promise<void> => {
        for (let i = 0; i < (call.request.count ?? 0); i++) {
          if (call.cancelled) return;
          if (call.request.sleep_ms) await sleep(call.request.sleep_ms);
          t.sent++;
          if (!call.write({ value: call.request.value ?? '', counter: i, server: name, blob })) await new Promise<void>((r) => call.once('drain', () => r()));
        }
        call.end(trailer());
      };
      run().catch(() => undefined);
    },
    PingClientStream: (call: grpc.ServerReadableStream<PingRequest, PingResponse>, cb: grpc.sendUnaryData<PingResponse>) => {
      const r = record('PingClientStream', call);
      let total = 0;
      call.on('data', (req: PingRequest) => {
        r.requests.push(req);
        total += req.count ?? 0;
      });
      call.on('end', () => {
        const err = fail();
        if (err) return cb(err);
        cb(null, { value: 'sum', counter: total, server: name, blob: Buffer.alloc(0) }, trailer());
      });
    },
    PingStream: (call: grpc.ServerDuplexStream<PingRequest, PingResponse>) => {
      const r = record('PingStream', call);
      let n = 0;
      call.on('data', (req: PingRequest) => {
        r.requests.push(req);
        const err = fail();
        if (err) {
          call.destroy(err);
          return;
        }
        call.write({ value: req.value ?? '', counter: n++, server: name, blob: Buffer.alloc(0) });
      });
      call.on('end', () => call.end(trailer()));
    },
  });
  t.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, options.credentials ?? grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  return t;
}

export type TestClient = grpc.Client & Record<string, (...args: never[]) => unknown>;

export function testClient(port: number, credentials?: grpc.ChannelCredentials, options: grpc.ChannelOptions = {}): TestClient {
  return new TestService(`127.0.0.1:${port}`, credentials ?? grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    ...options,
  }) as unknown as TestClient;
}

export interface UnaryResult {
  error: grpc.ServiceError | undefined;
  response: PingResponse | undefined;
  headers: grpc.Metadata | undefined;
  trailers: grpc.Metadata | undefined;
}

/** A unary call with its headers and trailers. */
export function unary(client: TestClient, method: string, request: PingRequest, metadata = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    const out: UnaryResult = { error: undefined, response: undefined, headers: undefined, trailers: undefined };
    let pending = 2;
    const done = (): void => {
      if (--pending === 0) resolve(out);
    };
    const fn = client[method] as unknown as (req: PingRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: PingResponse) => void) => grpc.ClientUnaryCall;
    const call = fn.call(client, request, metadata, options, (err, res) => {
      out.error = err ?? undefined;
      out.response = res;
      done();
    });
    call.on('metadata', (md: grpc.Metadata) => (out.headers = md));
    call.on('status', (s: grpc.StatusObject) => {
      out.trailers = s.metadata;
      done();
    });
  });
}

export { grpc };
