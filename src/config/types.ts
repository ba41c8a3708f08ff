/**
 * The validated, normalised configuration (what `loadConfig` returns after schema validation and defaults).
 * The zod schemas of this folder (schema.ts and the *-schema.ts parts) produce exactly these types; the runtime
 * consumes only these.
 * Durations are milliseconds, sizes bytes (the schema accepts "5s", "64KiB" etc. and normalises them).
 */

import type { Address } from '../core/address.js';
import type { ClientTlsConfig, ServerTlsConfig } from '../core/tls.js';
import type { FaultInput } from './fault-input.js';
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
}

export interface EndpointConfig {
  address: Address;
  /** Relative weight for the balancer (round robin repeats an endpoint `weight` times per cycle). */
  weight: number;
}

export interface ClusterConfig {
  id: string;
  endpoints: EndpointConfig[];
  balancer: 'round_robin' | 'random' | 'least_connections';
  /** Give up connecting to an endpoint after this many ms. */
  connectTimeout: number;
  /** Originate TLS to the endpoints. */
  tls?: ClientTlsConfig | undefined;
  socket: SocketOptions;
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
  /** Routes of `protocol: grpc` listeners: secondaries and how their errors count (docs/grpc.md). */
  grpc?: GrpcRouteConfig | undefined;
}

/** A gRPC route's `grpc` block: `cluster` is the primary; each secondary gets a copy of the request stream. */
export interface GrpcRouteConfig {
  /** Cluster ids that get a copy of every (mutator) call's request stream; their answers are read and dropped. */
  secondaries: string[];
  /** `swallow`: a secondary's failure is counted and the call still succeeds; `fail`: the call fails INTERNAL. */
  secondaryErrors: 'swallow' | 'fail';
  /** Comparison of the secondaries' answers with the primary's: `off`, or `report` (differences become divergence events). */
  compare: { policy: 'off' | 'report' };
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
