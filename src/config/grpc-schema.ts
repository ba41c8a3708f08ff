/** The gRPC parts of the config: a `protocol: grpc` listener's options and a route's `grpc` block. */
import { z } from 'zod';
import type { FaultCatalog, ProtocolRouting } from './catalogs.js';
import { sizeOption } from '../core/units.js';
import type { GrpcRouteConfig } from './types.js';
import { field, invalid, oneOf, strings } from './fields.js';

/** The protocol name of HTTP/2 (gRPC) listeners: served by an HTTP/2 server, not by a codec on TCP. */
export const GRPC_PROTOCOL = 'grpc';

/** Options of `protocol: {type: grpc, ...}`. */
export const grpcListenerOptionsSchema = z.strictObject({
  /** `upstream` (default): `:authority` becomes the endpoint's HOST:PORT; `client`: kept as received; anything else: that value. */
  authority: field('"upstream", "client" or an authority like "api.example.com"', (v) => (typeof v === 'string' && v.length > 0 ? v : invalid('"upstream", "client" or an authority', v))).default('upstream'),
  /**
   * `auto` (default): the frame-level engine for connections accepted while the listener is plain (no TLS, no
   * faults, every route without director, secondaries, compare, replicate, mirror, TLS cluster), else node:http2;
   * `http2`: always node:http2; `frames`: always the frame engine (refused for a listener that cannot be plain).
   */
  engine: oneOf(['auto', 'http2', 'frames']).optional(),
});

/** Why a route keeps a grpc listener off the frame engine (`engine: frames` refuses it), or undefined. */
export function framesRouteProblem(route: unknown, clusterHasTls: (id: string) => boolean): string | undefined {
  const r = route as Record<string, unknown> | undefined;
  if (!r || typeof r !== 'object') return undefined;
  if (r['replicate'] !== undefined) return 'a replicate route';
  if (r['mirror'] !== undefined) return 'a mirror';
  const g = r['grpc'] as Record<string, unknown> | undefined;
  if (g && typeof g === 'object') {
    if (Array.isArray(g['secondaries']) && g['secondaries'].length > 0) return 'grpc.secondaries';
    const c = g['compare'] as Record<string, unknown> | undefined;
    if (c && typeof c === 'object' && ((c['policy'] !== undefined && c['policy'] !== 'off') || c['maxMessageSize'] !== undefined)) return 'grpc.compare';
  }
  if (typeof r['cluster'] === 'string' && clusterHasTls(r['cluster'])) return `TLS cluster ${JSON.stringify(r['cluster'])}`;
  return undefined;
}

const POLICIES = ['off', 'report', 'majority', 'unanimous', 'weighted'] as const;

/** A route's `grpc.compare` block (docs/grpc.md § compare and vote). */
const grpcCompareSchema = z
  .strictObject({
    policy: oneOf(POLICIES).default('off'),
    masks: z.array(field('a JSON pointer like "/1/3" (segments may be * or **)', (v) => (typeof v === 'string' && v.startsWith('/') ? v : invalid('a JSON pointer like "/1/3"', v)))).optional(),
    regex: z.array(z.strictObject({ pattern: z.string().min(1), flags: z.string().regex(/^[imsu]*$/).optional(), replace: z.string().optional() })).optional(),
    ignoreHeaders: z.array(z.string().min(1)).optional(),
    compareHeaders: z.boolean().optional(),
    descriptorSet: field('the path of a compiled FileDescriptorSet (.protoset)', (v) => (typeof v === 'string' && v.length > 0 ? v : invalid('a path', v))).optional(),
    maxMessageSize: sizeOption(1).optional(),
    /** Voting policies: the status a blocked call gets. */
    blockStatus: oneOf(['INTERNAL', 'UNAVAILABLE']).default('INTERNAL'),
    /** Voting policies: response bytes of one destination held until the decision; past it the call fails. */
    holdLimit: sizeOption(1).default(4 * 1024 * 1024),
  })
  .prefault({});

/** A route's `grpc` block. */
export const grpcRouteSchema: z.ZodType<GrpcRouteConfig> = z.strictObject({
  secondaries: strings('a list of cluster ids').default([]),
  secondaryErrors: oneOf(['swallow', 'fail']).default('swallow'),
  compare: grpcCompareSchema,
  mutators: field('a regular expression', (v) => {
    if (typeof v !== 'string' || v === '') invalid('a regular expression', v);
    try {
      new RegExp(v);
    } catch (err) {
      throw new Error(`invalid regular expression ${JSON.stringify(v)}: ${(err as Error).message}`, { cause: err });
    }
    return v;
  }).optional(),
  secondaryQueue: sizeOption(1).default(4 * 1024 * 1024),
});

/**
 * How routes of a `protocol: grpc` listener match (docs/grpc.md § routes): per call, on `method` (`/pkg.Service/Method`),
 * `service` (`pkg.Service`) and request metadata (`metadata: {x-tenant: acme}` → attribute `metadata.x-tenant`).
 */
export const GRPC_ROUTING: ProtocolRouting = { perRequest: true, maps: { metadata: 'metadata' } };

/**
 * `match` keys of faults on a grpc listener: the call's `method` (`/pkg.Service/Method`), `service` (`pkg.Service`)
 * and `metadata.<name>` for any request metadata key (a trailing `.*` marks a prefix).
 */
export const GRPC_FAULT_MATCH_KEYS: readonly string[] = ['method', 'service', 'metadata.*'];

/** Fault types that act per call with gRPC semantics (scope `request`, stream `upstream`) on grpc listeners. */
export const GRPC_CALL_FAULT_TYPES: readonly string[] = ['error', 'delay', 'abort', 'hang', 'dummy'];

/** gRPC status code names, in code order (0..16). */
export const GRPC_CODE_NAMES: readonly string[] = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

/** A fault of a grpc listener, as far as {@link grpcFaultProblems} reads it. */
export interface GrpcFaultShape {
  readonly type?: unknown;
  readonly scope?: unknown;
  readonly stream?: unknown;
  readonly group?: unknown;
  readonly match?: unknown;
  readonly attributes?: unknown;
}

/**
 * What a grpc listener cannot do with a fault (docs/grpc.md § faults): per-call faults (scope `request`, or an
 * exclusive group) are `error`, `delay`, `abort`, `hang` (and `dummy`) on stream `upstream`; connection faults
 * (scope `connection`: the Toxiproxy toxics) act on the TCP connection below HTTP/2 and cannot `match` calls;
 * `down` is refused; an `error`'s `status` must be a gRPC code name or number. `defaults`: the type's default
 * scope and stream (from the fault catalog). `where`: a fault of a route (`route`) acts on the calls routed to it
 * and has no connection to act on: only per-call faults are valid there.
 */
export function grpcFaultProblems(f: GrpcFaultShape, catalog: FaultCatalog, where: 'listener' | 'route' = 'listener'): { path: string[]; message: string }[] {
  const out: { path: string[]; message: string }[] = [];
  const type = typeof f.type === 'string' ? f.type : undefined;
  const entry = type === undefined ? undefined : catalog.get(type);
  if (!type || !entry) return out;
  if (type === 'down') {
    out.push({ path: ['type'], message: `the "down" fault is not supported on grpc listeners (use reset_peer or timeout on the ${where === 'route' ? "listener's " : ''}connection, or error per call)` });
    return out;
  }
  const scope = typeof f.scope === 'string' ? f.scope : (entry.defaultScope ?? 'request');
  const stream = typeof f.stream === 'string' ? f.stream.toLowerCase() : entry.defaultStream;
  const perCall = scope === 'request' || f.group !== undefined;
  if (perCall) {
    if (!GRPC_CALL_FAULT_TYPES.includes(type)) {
      out.push({ path: ['type'], message: `fault type "${type}" cannot act per call on a grpc listener (per-call faults: ${GRPC_CALL_FAULT_TYPES.join(', ')}); Toxiproxy toxics act on the TCP connection with scope "connection"` });
    }
    if (stream !== 'upstream') out.push({ path: ['stream'], message: 'per-call faults on a grpc listener act on the call as it arrives: stream must be "upstream"' });
    const status = typeof f.attributes === 'object' && f.attributes !== null ? (f.attributes as Record<string, unknown>)['status'] : undefined;
    if (type === 'error' && status !== undefined && status !== null && grpcCodeOf(status) === undefined) {
      out.push({ path: ['attributes', 'status'], message: `expected a gRPC status code name (${GRPC_CODE_NAMES.join(', ')}) or its number 0-16, got ${JSON.stringify(status)}` });
    }
  } else if (where === 'route') {
    out.push({ path: f.scope === undefined ? ['type'] : ['scope'], message: `a route of a grpc listener has no connection: the connection-scope fault "${type}" acts on the TCP connection under HTTP/2 and belongs on the listener; on a route use a per-call fault (scope "request": ${GRPC_CALL_FAULT_TYPES.join(', ')})` });
  } else if (f.match !== undefined) {
    out.push({ path: ['match'], message: 'a connection-scope fault acts on the TCP connection under HTTP/2 and cannot match calls: use scope "request" to match method, service or metadata' });
  }
  return out;
}

/** A gRPC status code name (any case) or number 0..16 → its number; undefined otherwise. */
export function grpcCodeOf(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 16 ? v : undefined;
  if (typeof v !== 'string' || v === '') return undefined;
  if (/^\d+$/.test(v)) return grpcCodeOf(Number(v));
  const i = GRPC_CODE_NAMES.indexOf(v.toUpperCase());
  return i < 0 ? undefined : i;
}
