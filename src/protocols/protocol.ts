import type { Socket } from 'node:net';
import type { HealthProbe, HealthProbeOptions } from './health-probe.js';
import type { z } from 'zod';
import type { ProtocolRouting } from '../config/catalogs.js';
import type { Framer } from '../framing/framer.js';
import type { Lifter, LifterOptions } from './lift.js';

/**
 * Protocol modules: per connection, a *codec* — a request framer (client → server) and a response
 * framer (server → client) sharing one state machine — that cuts the byte streams into wire-exact message frames,
 * tells where each request and response starts and ends (request↔response pairing), exposes attributes for matching,
 * and builds the protocol's own error reply. Faults and replication never branch on protocol names; they ask this.
 *
 * Frames are wire-exact slices: `encode(frame)` returns the frame unchanged, so a frame forwarded as received costs
 * nothing, and a frame dropped or delayed never needs re-encoding.
 */

export type AttributeValue = string | number | boolean;
export type Attributes = Readonly<Record<string, AttributeValue>>;

/** Facts about the frame a {@link ProtocolFramer} returned last from `next()`. */
export interface MessageInfo {
  /** This frame starts a message: a request (client → server) or a response (server → client). */
  readonly start: boolean;
  /** This frame completes the message. A message that fits one frame has `start` and `end`. */
  readonly end: boolean;
  /**
   * Server → client only: this message answers no request and does not consume a pending one (server greeting,
   * RESP3 push / pub-sub message, PostgreSQL NotificationResponse / async ParameterStatus, HTTP 1xx interim).
   */
  readonly unsolicited?: boolean;
  /**
   * Client → server, on the `start` frame: how many responses this request gets (default 1; 0 = none, e.g.
   * memcache `noreply`, PostgreSQL Terminate). A frame with `start: false, end: false` continues the current
   * request/exchange (e.g. PostgreSQL SASL messages during authentication, HTTP body chunks).
   */
  readonly responses?: number;
  /** On the `start` frame of a request: attributes for matching (see each module's docs). */
  readonly attributes?: Attributes;
  /**
   * Client → server, on the `start` frame of a request: the request is part of the connection setup the module
   * declares in {@link ProtocolModule.setup} (Redis `HELLO`, `AUTH`, the first `INFO`; PostgreSQL startup; MySQL
   * login). Request-scope faults skip such requests, and the responses to them, unless the fault says `handshake: true`.
   */
  readonly setup?: boolean;
  /**
   * The codec stopped understanding the stream on purpose (TLS after SSLRequest, HTTP Upgrade / CONNECT tunnel):
   * from this frame on, frames are opaque chunks with `start` and `end` both true and no pairing.
   */
  readonly opaque?: boolean;
}

/** A framer that also reports what it just returned. `encode` is the identity. */
export interface ProtocolFramer extends Framer {
  /** Info of the frame last returned by `next()`. Undefined before the first frame. */
  readonly info: MessageInfo | undefined;
}

/**
 * Why the proxy refuses a request itself (protocol-neutral); each codec maps it to its own status when the request
 * gives none (HTTP 400/413/431/502/504/408, PostgreSQL SQLSTATE, MySQL error number, ...; see docs/protocols/).
 * - `malformed`: the client's bytes break the protocol; `too_large`: a message (HTTP: head 431, body 413) over a limit;
 * - `upstream_refused`: no upstream connection (refused, unreachable, TLS, no endpoint); `upstream_timeout`: the
 *   connect timed out; `upstream_lost`: the upstream reset or closed while a request waited for its answer;
 * - `header_timeout` / `request_timeout` / `too_slow`: the listener's requestHeaderTimeout, requestTimeout or
 *   minDataRate expired for the request in progress;
 * - `no_route`: none of the listener's routes matches the connection, its startup or the request (HTTP 404 with a
 *   JSON body naming the listener, RESP `-ERR no route ...`, PostgreSQL 08004, MySQL 1045, memcache SERVER_ERROR,
 *   SMTP 421).
 */
export type RefusalReason =
  | 'malformed'
  | 'too_large'
  | 'upstream_refused'
  | 'upstream_timeout'
  | 'upstream_lost'
  | 'header_timeout'
  | 'request_timeout'
  | 'too_slow'
  | 'no_route';

/** What the proxy wants to tell the client instead of the server's answer. */
export interface ErrorReplyRequest {
  /** Attributes of the request being answered, when known. */
  readonly request?: Attributes | undefined;
  /** Human-readable message, placed where the protocol carries one (HTTP body, RESP -ERR text, PG message). */
  readonly message: string;
  /**
   * Protocol status where it has one: HTTP status (default 503), SMTP reply code (default 451), PostgreSQL SQLSTATE
   * as a string (default '08006' connection_failure... modules document theirs), MySQL error number.
   */
  readonly status?: number | string | undefined;
  /** The proxy will close the connection right after the reply (HTTP then sends `Connection: close`). */
  readonly close?: boolean | undefined;
  /** Set when the proxy refuses on its own (not an injected fault): picks the status when `status` is absent. */
  readonly reason?: RefusalReason | undefined;
  /** The listener refusing, for replies that name it (HTTP's `no_route` JSON body). */
  readonly listener?: string | undefined;
}

export interface ErrorReply {
  /** Wire bytes, in order, to send to the client. */
  readonly frames: readonly Buffer[];
  /** True when the protocol requires closing after this reply (e.g. during a handshake, or HTTP with close). */
  readonly close: boolean;
}

/** One connection's codec: the two framers share state (HEAD responses have no body; PG startup; MySQL seq ids). */
export interface ProtocolCodec {
  readonly toUpstream: ProtocolFramer;
  readonly toDownstream: ProtocolFramer;
  /**
   * The protocol's error reply for the request currently being answered, built from the codec's state (MySQL
   * sequence id and capabilities, PG transaction status, HTTP version/keep-alive). Undefined when the protocol has
   * none (raw tcp): callers then fall back to closing the connection.
   */
  errorReply(request: ErrorReplyRequest): ErrorReply | undefined;
  /**
   * Whether the codec must keep each request findable by its start frame's attributes (`ErrorReplyRequest.request`,
   * the request-routing hooks). The framed path sets it false while nothing on the connection can name a request
   * that way (no handlers, no per-request router) and true again when a handler arrives; a codec may then skip that
   * bookkeeping. Absent, or never set: kept.
   */
  namesRequests?: boolean;
  /**
   * The server speaks first (MySQL greeting, SMTP banner): a refusal before any upstream exists is sent at once, as
   * the greeting. Absent/false: the client speaks first, and the proxy reads its first request before refusing it.
   */
  readonly serverSpeaksFirst?: boolean;
  /**
   * The statuses an injected error picks from at random when none is configured, for the request with these
   * attributes (HTTP: 500, 501, 502 and 503, as Vaurien does). Absent or undefined: no choice, {@link errorReply}
   * uses the protocol's default.
   */
  errorStatuses?(request: Attributes | undefined): readonly number[] | undefined;
  /**
   * Set by the session that drives the codec: called when a direction's framer can return frames without new input
   * (HTTP: bytes held after an Upgrade/CONNECT request become decodable once its answer arrived, as the next request
   * or as tunnel data). The session then decodes that direction again. Called from inside a framer's `next()`: the
   * session must not re-enter the codec synchronously.
   */
  onUnblocked?: ((direction: 'toUpstream' | 'toDownstream') => void) | undefined;
}

/** Built once at config time from validated options; creates one codec per connection. */
export interface ProtocolCodecFactory {
  readonly name: string;
  create(): ProtocolCodec;
}

// ---- Merge startup: how a merge route (N variants → one backend connection) terminates a connection startup ----

/** A startup step toward one variant. */
export interface VariantStartupStep {
  /** Wire bytes to write to the variant as they are (the codec does not see them). */
  readonly send: readonly Buffer[];
  /** `more`: wait for the next frame; `done`: the variant may send requests; `end`: end the connection after `send`; `close`: destroy it. */
  readonly outcome: 'more' | 'done' | 'end' | 'close';
}

/** One variant connection's startup, answered by the proxy itself (PostgreSQL: SSL refused, the variant authenticated). */
export interface VariantStartup {
  /** Feed one frame the variant sent before its startup was done. */
  next(frame: Buffer): VariantStartupStep;
}

/** A startup step toward the backend. */
export interface BackendStartupStep {
  /** Wire bytes to write to the backend. */
  readonly send: readonly Buffer[];
  /** The backend is ready for requests: each variant now gets {@link BackendStartup.welcome}. */
  readonly done?: boolean | undefined;
  /** The startup failed: the group is aborted with this reason. */
  readonly error?: string | undefined;
}

/** A group's startup toward the backend, performed by the proxy with its own credentials. */
export interface BackendStartup {
  /** The bytes that open the backend connection (PostgreSQL: the StartupMessage). */
  begin(): readonly Buffer[];
  /** Feed one frame of the backend's answer. */
  next(frame: Buffer): BackendStartupStep;
  /** What one variant receives once the backend is ready (called once per variant). */
  welcome(): readonly Buffer[];
}

/** A merge route's startup terminator for one protocol. */
export interface MergeStartup {
  /** A terminator for one variant connection. */
  variant(): VariantStartup;
  /** Why a group's variants (all done, same order as `names`) cannot share one backend session, or undefined. */
  mismatch(variants: readonly VariantStartup[], names: readonly string[]): string | undefined;
  /** The backend startup for a group whose variants are all done (what they asked for gives the defaults). */
  backend(variants: readonly VariantStartup[]): BackendStartup;
  /** The protocol's error for a merge failure, for a variant whose codec gives no error reply. */
  failure(message: string): readonly Buffer[];
}

/**
 * A protocol module's merge-startup hook. `options` is the merge config's block named after the protocol (merge
 * `postgres: {auth, backend}`), already validated by the config schema and opaque to the engine; `create` returns
 * undefined when the route does not terminate startup (the startup is then merged like any request).
 */
export interface MergeStartupHooks {
  create(options: unknown): MergeStartup | undefined;
}

// ---- Per-request routing (listeners whose routes are decided per request: HTTP per request, Redis per command) ----
// The router (routing/request-router.ts) is protocol-neutral: it cuts the client's stream with the module's codec,
// asks these hooks what each request is, picks a route, and keeps answers in request order. What only a protocol
// knows (keys of a multi-key command, which commands pin a connection, idempotent methods, how to rewrite a request
// head, how to answer without an upstream) lives in the module.

/** What the router needs to know of one request, from its start frame. */
export interface RoutedRequestFacts {
  /** The request names no key: it goes to the listener's fallback route (Redis PING, INFO). */
  readonly keyless?: boolean | undefined;
  /** Every key of a command that names several (all must route to one cluster); undefined when at most one. */
  readonly keys?: readonly string[] | undefined;
  /**
   * From this request on, every later byte of the client goes to this request's upstream connection, unparsed
   * (HTTP Upgrade/CONNECT; Redis MULTI, WATCH, SUBSCRIBE, MONITOR, blocking commands).
   */
  readonly pin?: boolean | undefined;
  /** Connection setup: replayed on every upstream connection opened later (answers dropped); the client gets one answer. */
  readonly replay?: boolean | undefined;
  /** May be sent again on another connection when its first attempt failed before any byte of its answer. */
  readonly idempotent?: boolean | undefined;
}

/**
 * How a connection goes on after the answers framed so far: `keep` (persists), `close` (the server closes after them:
 * HTTP `Connection: close`, a close-delimited body) or `switch` (it became a tunnel: HTTP 101, a 2xx to CONNECT).
 */
export type AnswerAfter = 'keep' | 'close' | 'switch';

/** What a response's start frame says (HTTP: status, `Connection: close`). */
export interface RoutedResponseFacts {
  /** Protocol status (HTTP status code); undefined when the protocol has none. */
  readonly status?: number | undefined;
  /** The server closes the connection after this answer: the connection is retired. */
  readonly close?: boolean | undefined;
}

/** A route action that rewrites the request before it is forwarded. */
export interface RequestRewrite {
  readonly host?: string | undefined;
  readonly pathPrefix?: string | undefined;
}

/** A route that answers by itself (HTTP redirect / direct response). */
export interface DirectAnswer {
  readonly status: number;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

export interface RequestRoutingHooks {
  /** Facts about the request whose start frame `head` the codec's request framer just returned (with `info`). */
  facts(codec: ProtocolCodec, head: Buffer, info: MessageInfo): RoutedRequestFacts;
  /**
   * The router's own codec will never see the answer to this request (the router cuts requests only): forget what
   * the codec keeps for it (its pending answer), so a long connection keeps nothing per request.
   */
  forget(codec: ProtocolCodec, attributes: Attributes): void;
  /**
   * Attributes of map forms the listener's routes use (HTTP `header.x-canary`, `query.v`), read from the request's
   * start frame only when some route names them; `wanted` are the attribute names (lower-cased after the prefix).
   */
  attributes?(head: Buffer, info: MessageInfo, wanted: readonly string[]): Attributes;
  /**
   * Tell `to` (an upstream connection's codec) that the request `from` (the router's codec) framed with these start
   * attributes was sent on its connection, so its response framer pairs the answer without parsing the request
   * again. Absent: the request's bytes are parsed by `to` as they are sent.
   */
  expect?(from: ProtocolCodec, to: ProtocolCodec, attributes: Attributes): void;
  /**
   * Take over a request another codec of the same protocol already framed (`from`: the session's codec, whose request
   * framer returned the start frame with these attributes): `to` (the router's codec) records it as if its own
   * framer had cut it, so the router routes the session's frames without parsing the request a second time.
   * Absent: the router parses the bytes it is written (the protocol cannot hand its frames over).
   */
  adopt?(from: ProtocolCodec, to: ProtocolCodec, attributes: Attributes): void;
  /**
   * Replication (replicate routes): the whole answer to the request `codec` (the client connection's) framed with
   * these start attributes is written to the client without `codec`'s response framer seeing it — a variant
   * connection's codec framed it already; `after` is what that codec said ({@link after}) once it had framed the
   * answer's last frame. The codec records what framing the answer would have recorded (the request is answered;
   * after `close`, the connection no longer persists). False, and nothing changed, when `codec` must frame the answer
   * itself (HTTP: an Upgrade/CONNECT request, whose answer may turn the connection into a tunnel and release the bytes
   * held behind it; an answer that switched the connection; a request that is not the oldest one waiting). Absent:
   * answers are framed as they are written.
   */
  handOver?(codec: ProtocolCodec, attributes: Attributes, after: AnswerAfter): boolean;
  /** Replication: how the connection of `codec` (a variant's) goes on after the answers it framed so far. */
  after?(codec: ProtocolCodec): AnswerAfter;
  /** Facts from a response's start frame, once `codec` (the upstream connection's) framed it. */
  response?(codec: ProtocolCodec, head: Buffer): RoutedResponseFacts;
  /**
   * The request head `head` with `rewrite` applied. `prefix` is the literal path prefix the route's match named
   * (`path: '/a/*'` → `/a/`): it is replaced by `rewrite.pathPrefix`; without one the prefix is prepended.
   */
  rewrite?(head: Buffer, rewrite: RequestRewrite, prefix: string | undefined): Buffer;
  /** A complete answer to the request (named by its start attributes) built by the proxy; close: the connection closes after it. */
  answer?(codec: ProtocolCodec, attributes: Attributes, answer: DirectAnswer): { bytes: Buffer; close: boolean };
}

// ---- Startup routing: routes chosen on what the client says when it opens the connection (PostgreSQL) ----

/** What the listener does after feeding client bytes to a {@link StartupReader}. */
export type StartupStep =
  /** Wait for more bytes; first write `reply` to the client (PostgreSQL: 'N' to an SSLRequest). */
  | { readonly kind: 'more'; readonly reply?: readonly Buffer[] | undefined }
  /** The startup is read: choose a route with `attributes`, then give the session `replay` as the client's first bytes. */
  | { readonly kind: 'ready'; readonly attributes: Attributes; readonly replay: Buffer }
  /**
   * A request for whichever upstream holds the session it names (PostgreSQL CancelRequest): `replay` is sent to
   * one connection of every cluster of the listener's routes, then the client connection is closed.
   */
  | { readonly kind: 'broadcast'; readonly replay: Buffer }
  /** The bytes break the protocol: refuse as malformed. */
  | { readonly kind: 'malformed'; readonly message: string }
  /** The reader refuses the connection with its own answer (`reply`, then close), counted as malformed. */
  | { readonly kind: 'refuse'; readonly message: string; readonly reply: readonly Buffer[] };

/** How {@link StartupReader.login} ended: the upstream in the command phase, or why not (the client was answered). */
export type LoginOutcome =
  | { readonly ok: true; readonly upstream: Socket }
  | { readonly ok: false; readonly message: string; readonly kind: 'connect' | 'refused' | 'protocol' | 'lost' | 'timeout' };

/** Reads one connection's startup, up to the point where a route can be chosen. */
export interface StartupReader {
  push(chunk: Buffer): StartupStep;
  /** What a `no_route` refusal names (PostgreSQL: `database "x", user "y"`). */
  describe(attributes: Attributes): string;
  /** Bytes sent to the client before anything is read (MySQL: the proxy's own greeting; the server speaks first). */
  greeting?(): Buffer;
  /**
   * After a route is chosen (protocols whose login depends on the server, MySQL): connect with `connect`, finish the
   * login between the client and that server, and prime `codec` (the session's) so it starts after the login.
   * When absent, the startup is replayed to the session's upstream instead.
   */
  login?(client: Socket, connect: () => Promise<Socket>, codec: ProtocolCodec, timeoutMs: number): Promise<LoginOutcome>;
}

/** A module whose routes may match startup attributes (`routing.startupAttributes`) provides this. */
export interface StartupRouterHooks {
  create(): StartupReader;
}

/** A protocol module as registered in the protocol registry. */
export interface ProtocolModule<O extends Record<string, unknown> = Record<string, unknown>> {
  readonly name: string;
  readonly description: string;
  /** Options accepted in config (`protocol: { type: http, ... }`); must give every field a default. */
  readonly optionsSchema: z.ZodType<O>;
  /** Attribute names this module reports on request start frames, with a one-line description each (for docs/CLI). */
  readonly attributes: Readonly<Record<string, string>>;
  /**
   * The requests this module marks as connection setup (`MessageInfo.setup`), one human-readable entry each, e.g.
   * `HELLO`, `the first INFO of a connection` (for docs, the CLI and `GET /api/v1/protocols`). Absent or empty: the
   * protocol has no setup requests (HTTP, memcache).
   */
  readonly setup?: readonly string[];
  /** Merge routes: terminates this protocol's connection startup (absent: the startup is merged like any request). */
  readonly mergeStartup?: MergeStartupHooks;
  /** What routes' `match` may use on this protocol and when it is decided (absent: connection attributes only). */
  readonly routing?: ProtocolRouting;
  /** Reads the connection startup for routes matching `routing.startupAttributes` (required when those are declared). */
  readonly startupRouter?: StartupRouterHooks;
  /**
   * Routes' map forms (`routing.maps`: HTTP `headers: {...}`, `query: {...}`): the attributes named by `keys`
   * (`header.x-canary`, `query.v`) read from a request's start frame, for the request router to merge into the
   * request's attributes. Only called when a listener's routes use map forms (`ListenerRouting.mapKeys`).
   */
  requestAttributes?(startFrame: Buffer, keys: readonly string[]): Attributes;
  factory(options: O): ProtocolCodecFactory;
  /**
   * The traffic tail: a short text (at most 120 characters) of an answer from its first frame (HTTP "200", Redis
   * "+OK", PostgreSQL "ErrorResponse 42P01", MySQL "ERR 1045"). Cheap; called only for sampled requests. Absent: "".
   */
  answerSummary?(startFrame: Buffer): string;
  /** Per-request routing (listeners whose routes are decided per request). Absent: per connection only. */
  readonly requestRouting?: RequestRoutingHooks;

  /**
   * Comparison (replicate, merge and mirror routes): the lifter that turns one complete message of this protocol
   * into a comparable tree (see `lift.ts`), built once per comparator. Absent: messages are compared as raw bytes.
   */
  lifter?(options: LifterOptions): Lifter;

  /**
   * Active health checks of cluster endpoints (`healthCheck: {type: <this module's name>, ...}`): the probe for the
   * check's validated options. Absent: no health check of this type.
   */
  healthProbe?(options: HealthProbeOptions): HealthProbe;
}
