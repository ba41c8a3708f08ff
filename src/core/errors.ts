/**
 * Typed errors with stable codes. Code checks `err.code`, never `instanceof`:
 * errors cross module (and sometimes realm) boundaries.
 */
export const ErrorCodes = {
  // framing
  FRAME_TOO_LARGE: 'SWY_FRAME_TOO_LARGE',
  FRAME_MALFORMED: 'SWY_FRAME_MALFORMED',
  FRAME_TRUNCATED: 'SWY_FRAME_TRUNCATED',
  BUFFER_OVERFLOW: 'SWY_BUFFER_OVERFLOW',
  // upstream
  UPSTREAM_REFUSED: 'SWY_UPSTREAM_REFUSED',
  UPSTREAM_UNREACHABLE: 'SWY_UPSTREAM_UNREACHABLE',
  UPSTREAM_TIMEOUT: 'SWY_UPSTREAM_TIMEOUT',
  UPSTREAM_RESET: 'SWY_UPSTREAM_RESET',
  UPSTREAM_TLS: 'SWY_UPSTREAM_TLS',
  UPSTREAM_ERROR: 'SWY_UPSTREAM_ERROR',
  NO_UPSTREAM: 'SWY_NO_UPSTREAM',
  // client side
  CLIENT_RESET: 'SWY_CLIENT_RESET',
  CLIENT_ERROR: 'SWY_CLIENT_ERROR',
  IDLE_TIMEOUT: 'SWY_IDLE_TIMEOUT',
  MAX_CONNECTIONS: 'SWY_MAX_CONNECTIONS',
  MAX_CONNECTIONS_PER_SOURCE: 'SWY_MAX_CONNECTIONS_PER_SOURCE',
  // the process ran out of file descriptors (EMFILE/ENFILE), or came within the reserve of its limit
  FD_EXHAUSTED: 'SWY_FD_EXHAUSTED',
  // protocol listeners: a request too slow to arrive (requestHeaderTimeout, requestTimeout, minDataRate)
  REQUEST_HEADER_TIMEOUT: 'SWY_REQUEST_HEADER_TIMEOUT',
  REQUEST_TIMEOUT: 'SWY_REQUEST_TIMEOUT',
  REQUEST_TOO_SLOW: 'SWY_REQUEST_TOO_SLOW',
  // protocol listeners: the proxy answered in the protocol itself, then closed (one code per reason)
  REFUSED_MALFORMED: 'SWY_REFUSED_MALFORMED',
  REFUSED_TOO_LARGE: 'SWY_REFUSED_TOO_LARGE',
  REFUSED_UPSTREAM_UNAVAILABLE: 'SWY_REFUSED_UPSTREAM_UNAVAILABLE',
  REFUSED_UPSTREAM_TIMEOUT: 'SWY_REFUSED_UPSTREAM_TIMEOUT',
  REFUSED_UPSTREAM_LOST: 'SWY_REFUSED_UPSTREAM_LOST',
  REFUSED_HEADER_TIMEOUT: 'SWY_REFUSED_HEADER_TIMEOUT',
  REFUSED_REQUEST_TIMEOUT: 'SWY_REFUSED_REQUEST_TIMEOUT',
  REFUSED_TOO_SLOW: 'SWY_REFUSED_TOO_SLOW',
  // no route of the listener matches the connection, its startup or the request (answered in the protocol, counted per listener)
  NO_ROUTE: 'SWY_NO_ROUTE',
  /** A multi-key request (Redis MGET, DEL, ...) whose keys map to different clusters (per-command routing). */
  CROSS_CLUSTER: 'SWY_CROSS_CLUSTER',
  SHUTDOWN: 'SWY_SHUTDOWN',
  // faults
  FAULT_CLOSED: 'SWY_FAULT_CLOSED',
  // replication: the variants disagreed (or one failed) and the client's answer was blocked
  DIVERGENCE: 'SWY_DIVERGENCE',
  // udp
  FLOW_EVICTED: 'SWY_FLOW_EVICTED',
  // control plane
  CONFIG_INVALID: 'SWY_CONFIG_INVALID',
  BAD_REQUEST: 'SWY_BAD_REQUEST',
  NOT_FOUND: 'SWY_NOT_FOUND',
  CONFLICT: 'SWY_CONFLICT',
  UNAUTHORIZED: 'SWY_UNAUTHORIZED',
  FORBIDDEN: 'SWY_FORBIDDEN',
  LISTEN_FAILED: 'SWY_LISTEN_FAILED',
  INTERNAL: 'SWY_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SwitchyardError';
    this.code = code;
    this.details = options?.details;
  }
}

/** True when `err` carries the given switchyard error code. */
export function hasCode(err: unknown, code: ErrorCode): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/** The stable code of any error: a switchyard code, a Node system code (ECONNRESET...), or SWY_INTERNAL. */
export function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return code;
  }
  return ErrorCodes.INTERNAL;
}

/** Map a socket error raised while connecting to an upstream to a typed switchyard error. */
export function upstreamConnectError(err: NodeJS.ErrnoException, target: string): SwitchyardError {
  const sys = err.code ?? 'UNKNOWN';
  let code: ErrorCode = ErrorCodes.UPSTREAM_ERROR;
  if (sys === 'ECONNREFUSED' || sys === 'ENOENT') code = ErrorCodes.UPSTREAM_REFUSED;
  else if (sys === 'EMFILE' || sys === 'ENFILE') code = ErrorCodes.FD_EXHAUSTED;
  else if (['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL'].includes(sys)) code = ErrorCodes.UPSTREAM_UNREACHABLE;
  else if (sys === 'ETIMEDOUT') code = ErrorCodes.UPSTREAM_TIMEOUT;
  else if (sys === 'ECONNRESET') code = ErrorCodes.UPSTREAM_RESET;
  else if (/^ERR_(TLS|SSL)|CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME|ALTNAME/.test(sys)) code = ErrorCodes.UPSTREAM_TLS;
  return new SwitchyardError(code, `upstream ${target}: ${err.message}`, { cause: err, details: { syscode: sys, target } });
}
