/**
 * gRPC status codes, `grpc-message` percent-encoding, `grpc-timeout` parsing and the HTTP/2 RST_STREAM → status
 * mapping a transparent proxy needs (the same table grpc-js uses).
 */
import { constants } from 'node:http2';

export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcCodeName = keyof typeof GrpcCode;

const NAMES = new Map<number, GrpcCodeName>(Object.entries(GrpcCode).map(([k, v]) => [v, k as GrpcCodeName]));

/** `14` → `UNAVAILABLE`; an unknown number → its decimal form. */
export function codeName(code: number): string {
  return NAMES.get(code) ?? String(code);
}

/** A code name (`PERMISSION_DENIED`, any case) or a number 0–16 → the number; undefined when neither. */
export function parseCode(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 16 ? v : undefined;
  const byName = (GrpcCode as Record<string, number>)[v.toUpperCase()];
  if (byName !== undefined) return byName;
  return /^\d+$/.test(v) ? parseCode(Number(v)) : undefined;
}

/** A gRPC status to answer with: what a director throws, what the proxy synthesises. */
export class GrpcStatusError extends Error {
  readonly code: number;
  /** Extra trailing metadata (`-bin` keys carry base64 values, as on the wire). */
  readonly metadata: Readonly<Record<string, string | string[]>>;
  constructor(code: number | GrpcCodeName, message: string, metadata: Record<string, string | string[]> = {}) {
    super(message);
    this.name = 'GrpcStatusError';
    this.code = typeof code === 'number' ? code : GrpcCode[code];
    this.metadata = metadata;
  }
  get codeName(): string {
    return codeName(this.code);
  }
}

/** Percent-encode a status message as gRPC requires (bytes outside 0x20–0x7E, and `%`). */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Decode a `grpc-message` value (invalid escapes are kept as they are). */
export function decodeGrpcMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

const TIMEOUT_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** `grpc-timeout` (`100m`, `5S`, up to 8 digits and a unit) → milliseconds; undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * TIMEOUT_UNITS[m[2]!]!;
}

/**
 * The status a stream gets when it closed with this RST_STREAM code and no gRPC status (grpc-js's table);
 * `connectionLost`: the session went away under the stream (Node reports CANCEL for a dropped connection).
 */
export function statusForReset(rstCode: number, connectionLost: boolean): GrpcStatusError {
  switch (rstCode) {
    case constants.NGHTTP2_NO_ERROR:
      return new GrpcStatusError('INTERNAL', 'Received RST_STREAM with code 0 (Call ended without gRPC status)');
    case constants.NGHTTP2_REFUSED_STREAM:
      return new GrpcStatusError('UNAVAILABLE', 'Stream refused by server');
    case constants.NGHTTP2_CANCEL:
      return connectionLost ? new GrpcStatusError('UNAVAILABLE', 'Connection dropped') : new GrpcStatusError('CANCELLED', 'Call cancelled');
    case constants.NGHTTP2_ENHANCE_YOUR_CALM:
      return new GrpcStatusError('RESOURCE_EXHAUSTED', 'Bandwidth exhausted or memory limit exceeded');
    case constants.NGHTTP2_INADEQUATE_SECURITY:
      return new GrpcStatusError('PERMISSION_DENIED', 'Protocol not secure enough');
    default:
      return new GrpcStatusError('INTERNAL', `Received RST_STREAM with code ${rstCode}`);
  }
}

/** grpc-js's fallback when a response has no `grpc-status`: map the HTTP status. */
export function statusForHttp(status: number): number {
  switch (status) {
    case 400:
      return GrpcCode.INTERNAL;
    case 401:
      return GrpcCode.UNAUTHENTICATED;
    case 403:
      return GrpcCode.PERMISSION_DENIED;
    case 404:
      return GrpcCode.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcCode.UNAVAILABLE;
    default:
      return GrpcCode.UNKNOWN;
  }
}
