/**
 * The gRPC step of `switchyard demo`: a tiny gRPC accounts service (served with node:http2, protobuf encoded by hand:
 * the proxy never sees a .proto) on three "storage" nodes, one of which lost a write and answers a different
 * balance, behind a switchyard grpc listener whose route sends every call to the primary and both secondaries and
 * votes with Praefect's weights. The call succeeds with the primary's answer; the odd secondary becomes a divergence
 * event naming the field that differs.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Switchyard } from '../../runtime/switchyard.js';
import { validateConfig } from '../../runtime/config.js';
import { createFramerRegistry } from '../../framing/builtins.js';
import type { Logger } from '../../core/log.js';
import type { DivergenceEvent } from '../../replication/events.js';

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

function stringField(field: number, s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
}

function varintField(field: number, n: number): Buffer {
  return Buffer.concat([varint(field << 3), varint(n)]);
}

function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** Field 1 (a string) of a protobuf message, the request's account id. */
function firstString(message: Buffer): string {
  if (message[0] !== 0x0a) return '';
  const len = message[1] ?? 0;
  return message.subarray(2, 2 + len).toString('utf8');
}

/** demo.Accounts/Get on one storage node: {1: id, 2: owner, 3: balance}; `stale` lost the last deposit. */
async function startNode(name: string, stale: boolean): Promise<http2.Http2Server> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const id = body.length >= 5 ? firstString(body.subarray(5)) : '';
      if (headers[':path'] !== '/demo.Accounts/Get' || id !== '1') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'no such account' }, { endStream: true });
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-node': name }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(Buffer.concat([stringField(1, '1'), stringField(2, 'alice'), varintField(3, stale ? 100 : 120)])));
    });
    stream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** One unary call of demo.Accounts/Get through the proxy, with node:http2 as the client. */
function getAccount(port: number, id: string): Promise<{ status: string; message: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': '/demo.Accounts/Get', 'content-type': 'application/grpc', te: 'trailers' });
    let status = '';
    let message = '';
    let bytes = 0;
    req.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
    });
    req.on('trailers', (h: http2.IncomingHttpHeaders) => {
      status = String(h['grpc-status'] ?? status);
      message = decodeURIComponent(String(h['grpc-message'] ?? ''));
    });
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      session.close();
      resolve({ status, message, bytes });
    });
    req.on('error', reject);
    req.end(frame(stringField(1, id)));
  });
}

export interface GrpcDemo {
  /** Run the self-check, print it; true when it went as expected. */
  check(out: NodeJS.WritableStream): Promise<boolean>;
  /** Lines for the "Try:" list. */
  tryLines(): string[];
  close(): Promise<void>;
}

/** Start the gRPC part of the demo (everything on loopback, free ports). */
export async function startGrpcDemo(logger: Logger): Promise<GrpcDemo> {
  const nodes: http2.Http2Server[] = [];
  for (const [name, stale] of [['storage-1', false], ['storage-2', false], ['storage-3', true]] as const) nodes.push(await startNode(name, stale));
  const port = (s: http2.Http2Server): number => (s.address() as AddressInfo).port;
  const framers = createFramerRegistry();
  const result = validateConfig(
    {
      listeners: [{ id: 'grpc', listen: '127.0.0.1:0', protocol: 'grpc' }],
      clusters: nodes.map((s, i) => ({ id: `storage-${i + 1}`, endpoints: [`127.0.0.1:${port(s)}`] })),
      routes: [{ id: 'accounts', listener: 'grpc', cluster: 'storage-1', grpc: { secondaries: ['storage-2', 'storage-3'], compare: { policy: 'weighted', ignoreHeaders: ['x-node'] } } }],
    },
    framers,
  );
  const closeNodes = async (): Promise<void> => {
    for (const s of nodes) await new Promise<void>((r) => s.close(() => r()));
  };
  if (!result.ok) {
    await closeNodes();
    throw new Error(`grpc demo config: ${result.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  }
  const yard = await Switchyard.start(result.config, { framers, logger });
  const a = yard.listeners.get('grpc')!.address!;
  const proxyPort = a.kind === 'tcp' ? a.port : 0;
  return {
    async check(out) {
      out.write(`\ngRPC self-check: demo.Accounts/Get on storage-1 (primary) 127.0.0.1:${port(nodes[0]!)}, storage-2 127.0.0.1:${port(nodes[1]!)} and\n`);
      out.write(`  storage-3 127.0.0.1:${port(nodes[2]!)} (it lost a write: its balance is 100, not 120), behind the grpc listener 127.0.0.1:${proxyPort}\n`);
      out.write(`  (route "accounts": every call goes to the primary and both secondaries; compare policy weighted, as Praefect's votes)\n`);
      let event: DivergenceEvent | undefined;
      const unsubscribe = yard.divergences.subscribe((e) => (event = e));
      let ok = false;
      try {
        const r = await getAccount(proxyPort, '1');
        ok = r.status === '0' && r.bytes > 0;
        out.write(`  Get {id: "1"} -> grpc-status ${r.status}, ${r.bytes} bytes  ${ok ? '(ok: the primary and storage-2 agree, weight 4 of threshold 4)' : '(UNEXPECTED)'}\n`);
      } catch (err) {
        out.write(`  Get {id: "1"} failed: ${(err as Error).message} (UNEXPECTED)\n`);
      } finally {
        unsubscribe();
      }
      const e = event;
      const eventOk = e !== undefined && e.mode === 'grpc' && e.variants.find((v) => v.name.startsWith('storage-3'))?.agreed === false;
      out.write(eventOk ? `  divergence ${e.id}: ${e.decision}, storage-3 differs at ${e.fields.join(', ')}\n` : '  no divergence event naming storage-3 (UNEXPECTED)\n');
      if (e) for (const line of e.diff.split('\n')) out.write(`    ${line}\n`);
      return ok && eventOk;
    },
    tryLines() {
      return [`  # gRPC: any client to 127.0.0.1:${proxyPort} (demo.Accounts/Get); every call is voted on, storage-3 is reported each time`];
    },
    async close() {
      await yard.close({ drainTimeout: 0 });
      await closeNodes();
    },
  };
}
