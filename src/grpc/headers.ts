/** Header rules of the forwarding engine: what crosses the proxy, and how a status becomes trailers. */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { GrpcCode, GrpcStatusError, decodeGrpcMessage, encodeGrpcMessage, parseCode, statusForHttp } from './status.js';

/** Connection-specific headers HTTP/2 forbids, and `host` (`:authority` carries it). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings']);

/** The service of a gRPC method path (`/pkg.Service/Method` → `pkg.Service`; '' when it has none). */
export function serviceOf(method: string): string {
  return /^\/([^/]+)\//.exec(method)?.[1] ?? '';
}

/** Request metadata of an incoming stream: every regular header except hop-by-hop ones (pseudo-headers dropped). */
export function requestMetadata(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  // (for…in, not Object.entries: no array per header on the per-call path; Node's header objects have no prototype)
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined || k.charCodeAt(0) === 0x3a /* ':' */ || HOP_BY_HOP.has(k)) continue;
    if (k === 'te' && v !== 'trailers') continue;
    out[k] = v;
  }
  return out;
}

/** Response headers or trailers to pass on: pseudo-headers other than `:status` and hop-by-hop headers dropped. */
export function passHeaders(headers: IncomingHttpHeaders, keepStatus: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined || HOP_BY_HOP.has(k)) continue;
    if (k.charCodeAt(0) === 0x3a /* ':' */ && !(keepStatus && k === ':status')) continue;
    out[k] = v;
  }
  return out;
}

/**
 * OK statuses by message ('' and grpc-js's 'OK' are nearly every call's end), shared: an Error costs its stack trace.
 * Bounded; nothing may modify them.
 */
const OK_STATUSES = new Map<string, GrpcStatusError>();

function okStatus(message: string): GrpcStatusError {
  let s = OK_STATUSES.get(message);
  if (!s) {
    s = Object.freeze(new GrpcStatusError(GrpcCode.OK, message));
    if (OK_STATUSES.size < 16) OK_STATUSES.set(message, s);
  }
  return s;
}

/** The status a gRPC response's trailers (or Trailers-Only headers) carry. */
export function statusFromTrailers(trailers: IncomingHttpHeaders): GrpcStatusError {
  const raw = trailers['grpc-status'];
  if (raw === '0') {
    const m = trailers['grpc-message'];
    return okStatus(m === undefined ? '' : typeof m === 'string' ? decodeGrpcMessage(m) : '');
  }
  const message = typeof trailers['grpc-message'] === 'string' ? decodeGrpcMessage(trailers['grpc-message']) : '';
  const code = typeof raw === 'string' ? parseCode(raw) : undefined;
  if (code !== undefined) return new GrpcStatusError(code, message);
  const http = Number(trailers[':status']);
  if (Number.isInteger(http) && http !== 200) return new GrpcStatusError(statusForHttp(http), `Received HTTP status code ${http}`);
  return new GrpcStatusError(GrpcCode.UNKNOWN, 'No status received');
}

/** Trailers for a status the proxy answers with itself. */
export function statusTrailers(status: GrpcStatusError): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...status.metadata, 'grpc-status': String(status.code) };
  if (status.message.length > 0) out['grpc-message'] = encodeGrpcMessage(status.message);
  return out;
}

/** Frame one message: 1-byte compressed flag, 4-byte big-endian length, payload. */
export function frameMessage(payload: Buffer, compressed: number): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = compressed;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}
