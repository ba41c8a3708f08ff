/**
 * The gRPC director: code that decides, per call, which cluster is the primary, which clusters get a copy of the
 * request stream (secondaries), what each one receives first, how each one's failure counts, and what runs at the
 * end (the finalizer). Registered per route from code; a route without one uses its config (`cluster`,
 * `grpc.secondaries`, `grpc.secondaryErrors`, `grpc.mutators`).
 */
import type { GrpcStatusError } from './status.js';
import { serviceOf } from './headers.js';

/** Request metadata as it arrived (lower-case keys; `-bin` values are base64 as on the wire). */
export type GrpcMetadata = Readonly<Record<string, string | readonly string[]>>;

/** What a destination's error handler returns: the error to record, or undefined to swallow it. */
export type GrpcErrorHandler = (error: GrpcStatusError) => GrpcStatusError | undefined;

/** Where one copy of the call goes. */
export interface GrpcDestination {
  /** Cluster id. */
  readonly cluster: string;
  /**
   * The first request message toward this destination (without the 5-byte prefix), replacing the one the client
   * sent. Usually the result of `call.peek()`, possibly rewritten. Absent: the client's own first message.
   */
  readonly message?: Buffer | undefined;
  /** Request metadata toward this destination instead of the client's (pseudo-headers and `te` are the proxy's). */
  readonly metadata?: Readonly<Record<string, string | string[]>> | undefined;
  /**
   * Called when proxying to this destination fails (its status is not OK, its stream was reset, it could not be
   * reached, its queue overflowed). Return the error to keep it, or undefined to swallow it. Overrides the
   * parameters' `errorHandler`.
   */
  readonly errorHandler?: GrpcErrorHandler | undefined;
}

/** The director's answer. Strings are cluster ids with no options. */
export interface GrpcStreamParameters {
  readonly primary: GrpcDestination | string;
  readonly secondaries?: readonly (GrpcDestination | string)[] | undefined;
  /** Always runs once the call is over; its error reaches the client only when nothing else failed. */
  readonly finalizer?: (() => void | Promise<void>) | undefined;
  /** Error handler for destinations without their own; `role` tells which one failed. */
  readonly errorHandler?: ((error: GrpcStatusError, destination: { cluster: string; role: 'primary' | 'secondary' }) => GrpcStatusError | undefined) | undefined;
}

/** What the director sees of a call. */
export interface GrpcCallInfo {
  /** Full method path: `/package.Service/Method`. */
  readonly method: string;
  /** `package.Service`. */
  readonly service: string;
  /** The client's request metadata. */
  readonly metadata: GrpcMetadata;
  /** The client's address, `HOST:PORT`. */
  readonly peer: string;
  /**
   * The call's matching attributes: `method` (full path), `service`, and `metadata.<name>` for each request
   * metadata key (several values joined with `, `).
   */
  readonly attributes: Readonly<Record<string, string>>;
  /** The route's id. */
  readonly route: string;
  /** What the route's config would do: its cluster and, for mutators, its secondaries. */
  readonly defaults: { readonly primary: string; readonly secondaries: readonly string[] };
  /**
   * Read the first request message (payload without the 5-byte prefix; compressed as sent when the client
   * compressed it). The message is consumed: it reaches the destinations as each one's `message`, or as it was when
   * a destination has none. Rejects when the client ends or fails before a whole message arrived.
   */
  peek(): Promise<Buffer>;
}

/** The matching attributes of a call (see {@link GrpcCallInfo.attributes}). */
export function grpcAttributes(method: string, metadata: GrpcMetadata): Record<string, string> {
  const out: Record<string, string> = { method, service: serviceOf(method) };
  for (const [k, v] of Object.entries(metadata)) out[`metadata.${k}`] = typeof v === 'string' ? v : v.join(', ');
  return out;
}

export type GrpcDirectorFn = (call: GrpcCallInfo) => GrpcStreamParameters | Promise<GrpcStreamParameters>;

/** A director registered for a route (`new Switchyard({grpcDirectors: {route: d}})` or `yard.grpcDirectors.set`). */
export interface GrpcDirector {
  readonly kind: 'grpc-director';
  readonly direct: GrpcDirectorFn;
}

/**
 * Make a director. It may throw (or reject with) a `GrpcStatusError`: the client gets that status, e.g.
 * `throw new GrpcStatusError('PERMISSION_DENIED', 'not allowed')`; anything else thrown becomes INTERNAL.
 */
export function grpcDirector(fn: GrpcDirectorFn): GrpcDirector {
  if (typeof fn !== 'function') throw new TypeError('grpcDirector(fn): fn must be a function');
  return { kind: 'grpc-director', direct: fn };
}
