/**
 * The validated, normalised configuration (what `loadConfig` returns after schema validation and defaults).
 * The zod schemas of this folder (schema.ts and the *-schema.ts parts) produce exactly these types; the runtime
 * consumes only these.
 * Durations are milliseconds, sizes bytes (the schema accepts "5s", "64KiB" etc. and normalises them).
 */

import type { Address } from '../core/address.js';
import type { ClientTlsConfig, ServerTlsConfig } from '../core/tls.js';
import type { FaultInput, MatchSpec } from './fault-input.js';
import type { DivergencesConfig, MergeConfig, MirrorConfig, ReplicateConfig } from './replication.js';


/** Framing for one connection: a framer name plus its options, per direction. */
export interface FramerSpec {
  type: string;
  options: Record<string, unknown>;
}

export interface FramingConfig {
  /** Framer for bytes client → upstream. */
  toUpstream: FramerSpec;
  /** Framer for bytes upstream → client. */
  toDownstream: FramerSpec;
}

export interface SocketOptions {
  noDelay: boolean;
  /** TCP keep-alive initial delay in ms; 0 disables. */
  keepAlive: number;
}

/** A listener's socket options. */
export interface ListenerSocketOptions extends SocketOptions {
  /**
   * 'auto': raw TCP passthrough connections (no framing, protocol, faults or TLS, TCP on both sides) are moved by
   * the splice(2) addon when it is built (Linux); 'off': always the JavaScript path.
   */
  splice: 'auto' | 'off';
}

export interface UdpOptions {
  /** A flow (one client address) expires after this long without a datagram either way. */
  flowIdleTimeout: number;
  /** Most tracked flows; the least recently active is evicted (and counted) beyond it. */
  maxFlows: number;
  /** Largest datagram accepted (up to 65507 for IPv4). */
  maxDatagramSize: number;
}

/** A listener's protocol module and its options (absent = raw TCP). */
export interface ProtocolSpec {
  type: string;
  options: Record<string, unknown>;
}

/** A request in progress slower than `bytesPerSecond` (measured once `grace` ms have passed) is refused; 0 = off. */
export interface MinDataRate {
  bytesPerSecond: number;
  grace: number;
}

export interface ListenerConfig {
  id: string;
  /** 'tcp' covers TCP and Unix sockets; 'udp' datagrams with flow tracking. */
  transport: 'tcp' | 'udp';
  listen: Address;
  /** Terminate TLS at the listener (tcp only). */
  tls?: ServerTlsConfig | undefined;
  framing: FramingConfig;
  /** Most simultaneous client connections; further ones are closed at once and counted. 0 = unlimited. */
  maxConnections: number;
  /** Most simultaneous connections from one source IP address; further ones are closed at once and counted. 0 = unlimited. */
  maxConnectionsPerSource: number;
  /** Close a connection idle (no bytes either way) for this long; 0 disables. */
  idleTimeout: number;
  /**
   * Protocol listeners: ms from a request's first byte (the first request: from the connection being opened) to its
   * head being complete; then the proxy answers in the protocol (HTTP 408) and closes. 0 disables.
   */
  requestHeaderTimeout: number;
  /** Protocol listeners: ms from a request's first byte to its last; 0 disables. */
  requestTimeout: number;
  /** Protocol listeners: the least rate a request in progress must arrive at, after a grace period. */
  minDataRate: MinDataRate;
  /** Listen backlog. */
  backlog: number;
  socket: ListenerSocketOptions;
  udp: UdpOptions;
  /** Protocol module (http, redis, postgres, ...): request/response framing, matching, protocol error replies. */
  protocol?: ProtocolSpec | undefined;
  /**
   * Faults applied to this listener's connections. When the key is present (even empty) every connection runs
   * through the fault stage from its first byte; when absent, connections take the fastest path while the listener
   * has no fault, and switch to the fault stage when one is added at run time.
   */
  faults?: FaultInput[] | undefined;
  /**
   * The traffic tail (docs/admin-api.md): `enabled` (default true on protocol listeners, false on raw TCP),
   * `perSecond` records sampled at most per second (default 50), `keep` records kept (default 200).
   */
  traffic?: { enabled?: boolean | undefined; perSecond?: number | undefined; keep?: number | undefined } | undefined;
}

export interface EndpointConfig {
  address: Address;
  /** Relative weight for the balancer (round robin repeats an endpoint `weight` times per cycle). */
  weight: number;
}

/** How a cluster picks an endpoint (docs/configuration.md#balancers). */
export type BalancerName = 'round_robin' | 'weighted' | 'random' | 'least_request' | 'least_connections' | 'ring_hash' | 'maglev';

/**
 * What the hash balancers (ring_hash, maglev) hash: the client's address, the request's key (Redis/memcache), the
 * database user (PostgreSQL/MySQL) or an HTTP header (`header:NAME`, NAME lowercased). The caller computes the value.
 */
export type HashKey = 'sourceAddress' | 'key' | 'user' | `header:${string}`;

/** When the HTTP request router retries a request on another endpoint. */
export type RetryOn = 'connect-failure' | 'reset' | '503' | '5xx';

interface HealthCheckBase {
  /** Time between two checks of one endpoint (ms). */
  interval: number;
  /** A check not finished after this long fails (ms). */
  timeout: number;
  /** Consecutive passing checks that make an endpoint healthy. */
  healthyThreshold: number;
  /** Consecutive failing checks that make an endpoint unhealthy. */
  unhealthyThreshold: number;
  /** Up to this many ms are added at random to each wait, so checks of many endpoints do not line up. */
  jitter: number;
}

export interface TcpHealthCheck extends HealthCheckBase {
  type: 'tcp';
}

export interface HttpHealthCheck extends HealthCheckBase {
  type: 'http';
  method: string;
  path: string;
  /** Accepted statuses as inclusive ranges (`200`, `[200, 204]`, `"200-399"` are normalised to these). */
  expectStatus: Array<[number, number]>;
  /** `Host` header (default: the endpoint's host:port). */
  host?: string | undefined;
}

export interface RedisHealthCheck extends HealthCheckBase {
  type: 'redis';
  /** AUTH before PING when set (with `username`: Redis 6 ACL form). */
  password?: string | undefined;
  username?: string | undefined;
}

export interface PostgresHealthCheck extends HealthCheckBase {
  type: 'postgres';
  user: string;
  database: string;
  password?: string | undefined;
}

export interface MysqlHealthCheck extends HealthCheckBase {
  type: 'mysql';
  user: string;
  password?: string | undefined;
  database?: string | undefined;
}

/** Active health checking of a cluster's endpoints. */
export type HealthCheckConfig = TcpHealthCheck | HttpHealthCheck | RedisHealthCheck | PostgresHealthCheck | MysqlHealthCheck;

/** Passive outlier ejection. */
export interface OutlierDetectionConfig {
  /** Consecutive failures (connect failures, or resets/protocol errors) that eject an endpoint. */
  consecutiveFailures: number;
  /** An ejection lasts this × the number of times the endpoint has been ejected (ms)... */
  baseEjectionTime: number;
  /** ...but at most this long (ms). */
  maxEjectionTime: number;
  /** An endpoint is ejected only while the ejected share of the cluster is below this percentage (at least one may always be). */
  maxEjectionPercent: number;
}

export interface ClusterConfig {
  id: string;
  endpoints: EndpointConfig[];
  balancer: BalancerName;
  /** ring_hash / maglev: what is hashed (absent: those balancers fall back to round robin). */
  hashKey?: HashKey | undefined;
  /** Give up connecting to an endpoint after this many ms. */
  connectTimeout: number;
  /** Originate TLS to the endpoints. */
  tls?: ClientTlsConfig | undefined;
  socket: SocketOptions;
  /** Active health checks (absent: endpoints stay `unknown` and eligible). */
  healthCheck?: HealthCheckConfig | undefined;
  /** Passive outlier ejection (absent: off). */
  outlierDetection?: OutlierDetectionConfig | undefined;
  /** A failed connect is retried this many times, each time on an endpoint not tried yet for this connection. */
  retries: number;
  /** Wait before the first retry (ms); doubles for each further one, up to 10 × this. */
  retryBackoff: number;
  /** HTTP request retries (the request router): which failures are retried. */
  retryOn: RetryOn[];
  /** Endpoints given by host name are resolved every this many ms and the answer cached; 0 = resolve at every connect. */
  dnsRefresh: number;
  /** The endpoints are WAMP routers behind a `protocol: wamp` listener (docs/wamp.md). */
  wamp?: WampClusterConfig | undefined;
}

export interface RouteConfig {
  id: string;
  /** Listener id the route applies to (merge routes: their first listener). */
  listener: string;
  /** Cluster id that receives the traffic (absent on replicate routes, whose variants are the destinations). */
  cluster?: string | undefined;
  /** Incoming N-variant execution: every request goes to every variant; answers are compared and voted on. */
  replicate?: ReplicateConfig | undefined;
  /** Outgoing merge: N variants' connections share one backend connection of `cluster`. */
  merge?: MergeConfig | undefined;
  /** Copy a share of requests to a shadow cluster (fire and forget, optionally compared). */
  mirror?: MirrorConfig | undefined;
  /** Faults for this route's traffic (added to its listener's faults while the route exists). */
  faults?: FaultInput[] | undefined;
  /**
   * Which connections / requests take this route (docs/routing.md); absent = everything. Same forms as a fault's
   * `match` (exact, `*` wildcards, `/regex/`, lists = any of, numbers/booleans, `not: {...}`), plus
   * `headers: {name: value}` and `query: {name: value}` maps on HTTP listeners (attributes `header.<name>` and
   * `query.<name>`) and CIDR values (`10.0.0.0/8`) for `sourceAddress`. A listener's routes are tried in config
   * order: the first whose match holds wins.
   */
  match?: MatchSpec | undefined;
  /** Redis keyless commands (PING, INFO) go to this route (else the first route). At most one per listener. */
  default?: boolean | undefined;
  /**
   * HTTP only: rewrite before forwarding. `pathPrefix` replaces the part of the path matched by a `path: '/x/*'`
   * prefix (or is prepended when path had no prefix match).
   */
  rewrite?: RouteRewrite | undefined;
  /** HTTP only: answer with a redirect, no upstream. status default 302. */
  redirect?: RouteRedirect | undefined;
  /** HTTP only: answer directly, no upstream. */
  directResponse?: RouteDirectResponse | undefined;
  /** Routes of `protocol: grpc` listeners: secondaries and how their errors count (docs/grpc.md). */
  grpc?: GrpcRouteConfig | undefined;
}

/** `rewrite` of an HTTP route. */
export interface RouteRewrite {
  host?: string | undefined;
  pathPrefix?: string | undefined;
}

/** `redirect` of an HTTP route. */
export interface RouteRedirect {
  status: 301 | 302 | 303 | 307 | 308;
  location: string;
}

/** `directResponse` of an HTTP route. */
export interface RouteDirectResponse {
  status: number;
  body: string;
  headers?: Record<string, string> | undefined;
}

/** A gRPC route's `grpc` block: `cluster` is the primary; each secondary gets a copy of the request stream. */
/** A gRPC route's `compare` block (docs/grpc.md § compare and vote). */
export interface GrpcCompareConfig {
  /** `off`; `report` (primary served, differences recorded); `majority`, `unanimous`, `weighted` (the answer is held until the vote). */
  policy: 'off' | 'report' | 'majority' | 'unanimous' | 'weighted';
  masks?: string[] | undefined;
  regex?: { pattern: string; flags?: string | undefined; replace?: string | undefined }[] | undefined;
  ignoreHeaders?: string[] | undefined;
  compareHeaders?: boolean | undefined;
  /** Path of a compiled FileDescriptorSet: field names instead of numbers. */
  descriptorSet?: string | undefined;
  maxMessageSize?: number | undefined;
  /** The status of a call the vote blocked. */
  blockStatus: 'INTERNAL' | 'UNAVAILABLE';
  /** Response bytes held per destination until the decision; past it the call fails RESOURCE_EXHAUSTED. */
  holdLimit: number;
}

export interface GrpcRouteConfig {
  /** Cluster ids that get a copy of every (mutator) call's request stream; their answers are read and dropped. */
  secondaries: string[];
  /** `swallow`: a secondary's failure is counted and the call still succeeds; `fail`: the call fails INTERNAL. */
  secondaryErrors: 'swallow' | 'fail';
  /** Comparison of the secondaries' answers with the primary's: `off`, or `report` (differences become divergence events). */
  compare: GrpcCompareConfig;
  /** Regular expression source: only methods (`/pkg.Service/Method`) it matches go to the secondaries; absent = all. */
  mutators?: string | undefined;
  /** Bytes that may wait toward one secondary; past it that secondary is cancelled (a secondary error). */
  secondaryQueue: number;
}

/** A control API's section (`admin`, `toxiproxy`); docs/security.md. */
export interface ControlApiConfig {
  listen: Address;
  /** Bearer token required on every call when set (from `token`, `tokenFile` or the section's environment variable). */
  token?: string | undefined;
  /** Extra `Host` values accepted besides the bound address. */
  allowedHosts?: string[] | undefined;
  /** `Origin` values accepted besides the API's own. */
  allowedOrigins?: string[] | undefined;
  /** Allow a non-loopback `listen` without a token. */
  insecure?: boolean | undefined;
}

/** The `admin` section (token also from env SWITCHYARD_ADMIN_TOKEN). */
export type AdminConfig = ControlApiConfig;

export interface SwitchyardConfig {
  /** Optional admin API; absent = no admin server. */
  admin?: AdminConfig | undefined;
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
  /** On SIGINT/SIGTERM: stop accepting, wait up to drainTimeout ms for live connections, then close them. */
  shutdown: { drainTimeout: number };
  listeners: ListenerConfig[];
  clusters: ClusterConfig[];
  routes: RouteConfig[];
  /** Seed for every random draw of faults (reproducible runs); absent = random. */
  seed?: number | undefined;
  /** Serve the Toxiproxy-compatible API next to the native one (docs/toxiproxy-compat.md). */
  toxiproxy?: ControlApiConfig | undefined;
  /** Divergence events of replicate/merge/mirror routes: ring size and optional JSONL file. */
  divergences?: DivergencesConfig | undefined;
  /** Modules loaded before the config is validated: each exports a fault plugin (docs/faults.md). */
  plugins?: { faults: string[] } | undefined;
}

/** Edge authentication of a `protocol: wamp` listener (Crossbar's transport `auth` shape; docs/wamp.md). */
export interface WampAuthConfig {
  anonymous?: { type: 'static'; role: string; authid?: string | undefined } | undefined;
  ticket?:
    | { type: 'static'; principals: Record<string, { ticket: string; role: string }> }
    | { type: 'dynamic'; authenticator: string }
    | undefined;
  wampcra?: { type: 'static'; users: Record<string, { secret: string; role: string; salt?: string | undefined; iterations: number; keylen: number }> } | undefined;
}

/** What a dynamic ticket authenticator module's default export is called with and may return. */
export type WampTicketAuthenticator = (request: { realm: string; authid: string; ticket: string; authextra: Record<string, unknown> }) =>
  | string
  | { role: string; authid?: string; extra?: Record<string, unknown> }
  | undefined
  | Promise<string | { role: string; authid?: string; extra?: Record<string, unknown> } | undefined>;

/** Options of `protocol: {type: wamp, ...}`. */
export interface WampListenerOptions {
  path: string;
  serializers: Array<'json' | 'msgpack' | 'cbor'>;
  auth?: WampAuthConfig | undefined;
  maxMessageSize: number;
  idleTimeout: number;
  helloTimeout: number;
  /** Flow control: bytes queued toward one side above which the proxy stops reading from the other (default 1 MiB). */
  highWaterMark?: number | undefined;
  /** ... and reads again once the queue is at or under this (default 256 KiB). */
  lowWaterMark?: number | undefined;
}

/** A cluster's `wamp` block: how the proxy reaches and joins its endpoints (backend WAMP routers). */
export interface WampClusterConfig {
  transport: 'websocket' | 'rawsocket';
  /** WebSocket request path. */
  path: string;
  /** WebSocket: offered in this order; RawSocket: the first one is used. */
  serializers: Array<'json' | 'msgpack' | 'cbor'>;
  auth: { method: 'anonymous' | 'ticket' | 'wampcra'; authid: string; ticket?: string | undefined; secret?: string | undefined; authmethod?: string | undefined };
  joinTimeout: number;
  maxMessageSize: number;
}
