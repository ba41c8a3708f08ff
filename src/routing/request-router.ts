/**
 * Per-request routing (listeners whose routing scope is `request`): the upstream stream a Session is given. It cuts
 * what the session writes into requests with the protocol's codec, routes each request by its own attributes (HTTP)
 * or key (Redis) to a route's cluster, keeps a small pool of upstream connections per cluster, and hands the answers
 * back in request order (pipelining kept: later requests are sent while earlier answers are pending). The session
 * in front of it is the ordinary one, so listener faults, request limits, refusals and stats work unchanged.
 * Protocol specifics come from the module's {@link RequestRoutingHooks}. See docs/routing.md.
 */
import { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Attributes, MessageInfo, ProtocolCodec, ProtocolCodecFactory, ProtocolFramer, RefusalReason, RequestRoutingHooks } from '../protocols/protocol.js';
import type { TrafficStats } from '../core/stats.js';
import type { Logger } from '../core/log.js';
import { ErrorCodes, SwitchyardError, type ErrorCode } from '../core/errors.js';
import { CONNECTION_KEYS } from '../config/route-match.js';
import { RoutedUpstream, type Exchange, type ExchangeTrace, type RoutedCluster, type UpstreamOwner } from './routed-upstream.js';
import { scalarAttributes, type TrafficTap } from '../core/traffic.js';

/** The route actions the router executes (structurally: config/types.ts RouteConfig). */
export interface RouteActions {
  readonly match?: Readonly<Record<string, unknown>> | undefined;
  readonly rewrite?: { readonly host?: string | undefined; readonly pathPrefix?: string | undefined } | undefined;
  readonly redirect?: { readonly status: number; readonly location: string } | undefined;
  readonly directResponse?: { readonly status: number; readonly body: string; readonly headers?: Readonly<Record<string, string>> | undefined } | undefined;
}

/** One route as the router sees it (structurally: routing/director.ts RouteChoice). */
export interface RequestRouteChoice {
  readonly route: {
    readonly id: string;
    readonly config: RouteActions;
    readonly stats: TrafficStats;
    /** Route decisions that picked this route (`switchyard_route_requests_total`): the router adds one per request. */
    requests: number;
    readonly requestDuration?: { observe(seconds: number): void } | undefined;
  };
  readonly cluster: RoutedCluster | undefined;
}

/** A listener's routes (structurally: routing/director.ts ListenerRouting). */
export interface RequestRouting {
  readonly listenerId: string;
  readonly choices: readonly RequestRouteChoice[];
  select(attrs: Attributes | undefined): RequestRouteChoice | undefined;
  readonly fallback: RequestRouteChoice | undefined;
}

export interface RequestRouterOptions {
  readonly routing: RequestRouting;
  readonly codec: ProtocolCodecFactory;
  readonly hooks: RequestRoutingHooks;
  /** Connection-level attributes (sourceAddress, destinationPort, sni, alpn), merged under each request's. */
  readonly attributes?: Attributes | undefined;
  /** Map forms of `match` for this protocol (`headers` → `header`): the attributes they name are read per request. */
  readonly maps?: Readonly<Record<string, string>> | undefined;
  /** Most upstream connections per cluster for one client connection (default 1: requests to one cluster are pipelined on one connection, so they run in the order sent). */
  readonly maxPerCluster?: number | undefined;
  /** Answer bytes held for later requests before fast upstreams are paused. */
  readonly holdLimit?: number | undefined;
  /** Counted into for requests no route takes (listener stats). */
  readonly stats?: TrafficStats | undefined;
  /** The listener's traffic tail: sampled requests are recorded with their route, cluster and endpoint. */
  readonly traffic?: { readonly tap: TrafficTap; readonly summarize?: ((frame: Buffer) => string) | undefined } | undefined;
  readonly logger: Logger;
}

const DEFAULT_MAX_PER_CLUSTER = 1;
const DEFAULT_HOLD_LIMIT = 1024 * 1024;
/** Largest chunk pushed to the session at once (a socket read's size). */
const PUSH_MAX = 64 * 1024;
/** A request bigger than this is not kept for a retry. */
const RETRY_KEEP_LIMIT = 64 * 1024;

/**
 * The upstream side of one routed client connection. Written with the client's bytes (after the session's framed
 * path), read for the answers, in order.
 */
export class RequestRouter extends Duplex {
  readonly #opts: RequestRouterOptions;
  readonly #codec: ProtocolCodec;
  readonly #framer: ProtocolFramer;
  readonly #hooks: RequestRoutingHooks;
  readonly #pools = new Map<RoutedCluster, RoutedUpstream[]>();
  /** Exchanges in request order; the head is the one being answered. */
  readonly #queue: Exchange[] = [];
  /** Where the frames of the request being read go (undefined: dropped, the router answered it). */
  #curConn: RoutedUpstream | undefined;
  #curEx: Exchange | undefined;
  /** Connections written to during the current client write: their batches leave together at its end. */
  readonly #touched: RoutedUpstream[] = [];
  /** Set once a request pinned the connection: every later client byte goes here unparsed. */
  #pinned: RoutedUpstream | undefined;
  /** Setup requests replayed on new upstream connections, one per kind (a later `SELECT` replaces an earlier one in place). */
  readonly #replays: Array<{ bytes: Buffer; responses: number; kind: string }> = [];
  readonly #owner: UpstreamOwner & { batching: boolean };
  #held = 0;
  #wantsRead = true;
  /** The client sent its FIN: end once every answer is delivered. */
  #inputEnded = false;
  /** The router answered a request with `Connection: close`: nothing after it is read. */
  #closing = false;
  #ended = false;
  /** Cached per route: the literal path prefix its match names (for rewrite.pathPrefix). */
  readonly #prefixes = new WeakMap<object, string | undefined>();
  /** Map-form attributes the routes name (`header.x-canary`); empty: none are read. */
  readonly #wanted: readonly string[];
  /** Some route matches connection attributes together with request ones: they are merged into each request's. */
  readonly #connKeys: boolean;
  /** The last request frame routed did not end its request. */
  #reqOpen = false;
  /** Frames handed over (FrameTaker): the connection that filled up during the current batch. */
  #full: RoutedUpstream | undefined;
  #drainWanted = false;

  constructor(opts: RequestRouterOptions) {
    super({ allowHalfOpen: true, decodeStrings: false });
    this.#opts = opts;
    this.#codec = opts.codec.create();
    this.#framer = this.#codec.toUpstream;
    this.#hooks = opts.hooks;
    const names = namedAttributes(opts.routing, opts.maps ?? {});
    this.#wanted = opts.hooks.attributes === undefined ? NONE : names.wanted;
    this.#connKeys = names.connection;
    const holdLimit = opts.holdLimit ?? DEFAULT_HOLD_LIMIT;
    this.#owner = {
      arrived: () => this.#flush(),
      answerStarted: (conn, ex, facts) => this.#answerStarted(conn, ex, facts.status),
      traceAnswer: (conn, ex, frame) => {
        ex.trace!.answer = this.#summary(frame);
        const s = conn.socket;
        if (s?.remoteAddress !== undefined) ex.trace!.endpoint = `${s.remoteAddress.includes(':') ? `[${s.remoteAddress}]` : s.remoteAddress}:${s.remotePort ?? ''}`;
      },
      failed: (conn, pending, why, err) => this.#failed(conn, pending, why, err),
      gone: (conn) => this.#drop(conn),
      replays: this.#replays,
      held: () => this.#held,
      grew: (n) => (this.#held += n),
      mayHold: (ex) => !(this.#wantsRead && this.#queue[0] === ex),
      holdLimit,
      batching: false,
      touch: (conn) => this.#touched.push(conn),
    };
  }

  /** Like a socket's: reset every upstream connection, then close. */
  resetAndDestroy(): this {
    for (const pool of this.#pools.values()) for (const c of pool) c.close(true);
    this.#pinned?.close(true);
    return this.destroy();
  }

  // ---- requests handed over as frames (session/upstream-stream.ts FrameTaker) ---------------------------

  /**
   * The session may hand its request frames over instead of writing bytes: the protocol can adopt another codec's
   * requests, nothing written is pending, and this router's own framer stands at a request boundary with no bytes.
   */
  framesReady(): boolean {
    return this.#hooks.adopt !== undefined && this.writableLength === 0 && !this.#reqOpen && this.#framer.bufferedBytes === 0 && !this.destroyed;
  }

  /** One request frame the session's framer cut (`codec`: the session's, whose request state this router adopts). */
  takeFrame(frame: Buffer, info: MessageInfo, codec: ProtocolCodec): void {
    if (this.#closing || this.destroyed) return;
    const pinned = this.#pinned;
    if (pinned !== undefined) {
      if (!pinned.sendRaw(frame)) this.#full = pinned;
      return;
    }
    const owner = this.#owner;
    owner.batching = true;
    if (info.start && info.attributes !== undefined) this.#hooks.adopt!(codec, this.#codec, info.attributes);
    const conn = info.start ? this.#route(frame, info) : this.#more(frame, info);
    if (conn !== undefined) this.#full = conn;
    this.#reqOpen = !info.end;
  }

  /** Send what the handed-over frames collected; false (and a 'drain' later) when an upstream connection is full. */
  flushFrames(): boolean {
    this.#owner.batching = false;
    let full = this.#full;
    this.#full = undefined;
    const touched = this.#touched;
    for (let i = 0; i < touched.length; i++) if (!touched[i]!.flushBatch()) full = touched[i];
    touched.length = 0;
    if (full === undefined) return true;
    if (!this.#drainWanted) {
      this.#drainWanted = true;
      void full.drained().then(() => {
        this.#drainWanted = false;
        if (!this.destroyed) this.emit('drain');
      });
    }
    return false;
  }

  // ---- requests (the writable side) ----------------------------------------------------------------------

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      const wait = this.#take(chunk);
      if (wait === undefined) cb();
      else wait.then(() => cb(), cb);
    } catch (err) {
      cb(err as Error);
    }
  }

  /** Route what `chunk` completes; a promise when an upstream must drain first. */
  #take(chunk: Buffer): Promise<void> | undefined {
    if (this.#closing) return undefined;
    const pinned = this.#pinned;
    if (pinned !== undefined) return pinned.sendRaw(chunk) ? undefined : pinned.drained();
    const framer = this.#framer;
    framer.push(chunk);
    let full: RoutedUpstream | undefined;
    this.#owner.batching = true;
    try {
      full = this.#routeAll(framer);
    } finally {
      this.#owner.batching = false;
      const touched = this.#touched;
      for (let i = 0; i < touched.length; i++) if (!touched[i]!.flushBatch()) full = touched[i];
      touched.length = 0;
    }
    return full?.drained();
  }

  /** Route every frame the framer returns now; the connection whose socket is full, if any. */
  #routeAll(framer: ProtocolFramer): RoutedUpstream | undefined {
    let full: RoutedUpstream | undefined;
    for (;;) {
      const frame = framer.next();
      if (frame === null) break;
      const info = framer.info!;
      const conn = info.start ? this.#route(frame, info) : this.#more(frame, info);
      this.#reqOpen = !info.end;
      if (conn !== undefined) full = conn;
      if (this.#pinned !== undefined) {
        const rest = framer.takeBuffered();
        if (rest.length > 0 && !this.#pinned.sendRaw(rest)) full = this.#pinned;
        break;
      }
      if (this.#closing) break;
    }
    return full;
  }

  /** A frame continuing the current request (a body). Returns the connection when its socket is full. */
  #more(frame: Buffer, info: MessageInfo): RoutedUpstream | undefined {
    const conn = this.#curConn;
    const ex = this.#curEx;
    if (ex !== undefined) {
      if (ex.request !== undefined) {
        if (frame.length + sum(ex.request) > RETRY_KEEP_LIMIT) ex.request = undefined;
        else ex.request.push(frame);
      }
      if (info.end) ex.requestDone = true;
    }
    if (conn === undefined) return undefined;
    return conn.send(frame) ? undefined : conn;
  }

  /** A request's start frame: pick its route and act. Returns the connection when its socket is full. */
  #route(frame: Buffer, info: MessageInfo): RoutedUpstream | undefined {
    const hooks = this.#hooks;
    const own = info.attributes;
    const conn0 = this.#opts.attributes;
    let attrs = conn0 === undefined || !this.#connKeys ? own : own === undefined ? conn0 : { ...conn0, ...own };
    if (this.#wanted.length > 0) attrs = { ...attrs, ...hooks.attributes!(frame, info, this.#wanted) };
    const facts = hooks.facts(this.#codec, frame, info);
    const routing = this.#opts.routing;
    const choice = facts.keyless === true ? routing.fallback : routing.select(attrs);
    const responses = info.responses ?? 1;
    this.#curConn = undefined;
    this.#curEx = undefined;
    if (choice === undefined) {
      this.#refuse(own, 'no_route', noRouteMessage(routing.listenerId, attrs), responses);
      return undefined;
    }
    if (facts.keys !== undefined) {
      const other = this.#crossCluster(choice, facts.keys, attrs);
      if (other !== undefined) {
        this.#refuse(own, undefined, `CROSSSLOT keys in request map to clusters '${clusterName(choice)}' and '${clusterName(other)}'`, responses);
        return undefined;
      }
    }
    choice.route.requests++;
    const cfg = choice.route.config;
    if (cfg.redirect !== undefined || cfg.directResponse !== undefined) {
      const a = cfg.redirect !== undefined ? { status: cfg.redirect.status, body: '', headers: { Location: cfg.redirect.location } } : cfg.directResponse!;
      this.#answerLocally(own, a, responses, choice);
      return undefined;
    }
    const cluster = choice.cluster;
    if (cluster === undefined) {
      this.#refuse(own, 'no_route', `route '${choice.route.id}' has no cluster this router can send to`, responses);
      return undefined;
    }
    if (facts.replay === true) return this.#replay(frame, responses, cluster, own, choice);
    const conn = this.#pick(cluster, facts.pin === true, attrs);
    const bytes = cfg.rewrite !== undefined && hooks.rewrite !== undefined ? hooks.rewrite(frame, cfg.rewrite, this.#prefix(choice)) : frame;
    let ex: Exchange | undefined;
    if (responses > 0) {
      const retry = facts.idempotent === true && (cluster.config.retryOn?.length ?? 0) > 0;
      ex = this.#exchange(conn, own, retry ? [bytes] : undefined, info.end, choice);
      ex.left = responses;
    } else if (own !== undefined) hooks.forget(this.#codec, own);
    this.#curConn = conn;
    this.#curEx = ex;
    const ok = conn.send(bytes, ex, this.#codec, own);
    if (facts.pin === true) {
      this.#pinned = conn;
      conn.raw = true;
      if (ex === undefined) {
        ex = this.#exchange(conn, undefined, undefined, true, undefined);
        conn.inflight.push(ex);
      }
      ex.open = true;
    }
    return ok ? undefined : conn;
  }

  #exchange(conn: RoutedUpstream | undefined, attributes: Attributes | undefined, request: Buffer[] | undefined, requestDone: boolean, choice: RequestRouteChoice | undefined): Exchange {
    const observe = choice?.route.requestDuration;
    const ex: Exchange = {
      chunks: [],
      held: 0,
      delivered: 0,
      done: false,
      left: 1,
      discard: false,
      open: false,
      conn,
      attributes,
      request,
      requestDone,
      attempts: 1,
      skipping: false,
      startedAt: observe === undefined ? 0 : performance.now(),
      observe,
      trace: undefined,
    };
    const traffic = this.#opts.traffic;
    if (traffic !== undefined && traffic.tap.sample()) ex.trace = this.#trace(choice);
    this.#queue.push(ex);
    return ex;
  }

  /** Setup (Redis HELLO, AUTH, SELECT, CLIENT SETNAME): remembered for new connections, sent on every open one, answered once. */
  #replay(frame: Buffer, responses: number, cluster: RoutedCluster, own: Attributes | undefined, choice: RequestRouteChoice): RoutedUpstream | undefined {
    const bytes = Buffer.from(frame);
    const answering = this.#pick(cluster, false, undefined);
    for (const pool of this.#pools.values()) for (const c of pool) if (c !== answering && c.usable) c.replaySetup(bytes, responses);
    const kind = `${String(own?.['command'] ?? '')} ${String(own?.['subcommand'] ?? '')}`;
    const i = this.#replays.findIndex((r) => r.kind === kind);
    if (i >= 0) this.#replays[i] = { bytes, responses, kind };
    else this.#replays.push({ bytes, responses, kind });
    let ex: Exchange | undefined;
    if (responses > 0) {
      ex = this.#exchange(answering, own, undefined, true, choice);
      ex.left = responses;
    } else if (own !== undefined) this.#hooks.forget(this.#codec, own);
    this.#curConn = answering;
    this.#curEx = ex;
    return answering.send(bytes, ex, this.#codec, own) ? undefined : answering;
  }

  /** The route of another key, when it goes to another cluster than `choice`'s. */
  #crossCluster(choice: RequestRouteChoice, keys: readonly string[], attrs: Attributes | undefined): RequestRouteChoice | undefined {
    for (const key of keys) {
      const other = this.#opts.routing.select({ ...attrs, key });
      if (other !== undefined && other.cluster !== choice.cluster) return other;
      if (other === undefined) return undefined;
    }
    return undefined;
  }

  /** A connection of `cluster` for the next request: an idle one, a new one while under the limit, else the least loaded. */
  #pick(cluster: RoutedCluster, fresh: boolean, attrs: Attributes | undefined): RoutedUpstream {
    let pool = this.#pools.get(cluster);
    if (pool === undefined) this.#pools.set(cluster, (pool = []));
    if (!fresh) {
      let best: RoutedUpstream | undefined;
      for (const c of pool) {
        if (!c.usable) continue;
        if (c.load === 0) return c;
        if (best === undefined || c.load < best.load) best = c;
      }
      if (best !== undefined && pool.length >= (this.#opts.maxPerCluster ?? DEFAULT_MAX_PER_CLUSTER)) return best;
    }
    const conn = new RoutedUpstream(cluster, this.#opts.codec, this.#hooks, this.#owner, this.#hash(cluster, attrs));
    if (!fresh) pool.push(conn);
    return conn;
  }

  /** The balancer's hash value for a cluster with `hashKey` (`key`, `sourceAddress`, `header:<name>`), from the request opening the connection. */
  #hash(cluster: RoutedCluster, attrs: Attributes | undefined): string | undefined {
    const key = cluster.config.hashKey;
    if (key === undefined) return undefined;
    const v = key === 'key' ? attrs?.['key'] : key === 'sourceAddress' ? this.#opts.attributes?.['sourceAddress'] : key.startsWith('header:') ? attrs?.[`header.${key.slice(7).toLowerCase()}`] : undefined;
    return v === undefined ? undefined : String(v);
  }

  #prefix(choice: RequestRouteChoice): string | undefined {
    const route = choice.route;
    if (this.#prefixes.has(route)) return this.#prefixes.get(route);
    const path = route.config.match?.['path'];
    let prefix: string | undefined;
    if (typeof path === 'string' && path.endsWith('*') && path.indexOf('*') === path.length - 1 && !(path.length > 1 && path.startsWith('/') && path.endsWith('/'))) prefix = path.slice(0, -1);
    this.#prefixes.set(route, prefix);
    return prefix;
  }

  /** Answer the request in the protocol's error form (no route, CROSSSLOT): an exchange that is complete at once. */
  #refuse(own: Attributes | undefined, reason: 'no_route' | undefined, message: string, responses: number): void {
    this.#opts.stats?.error(reason === 'no_route' ? ErrorCodes.NO_ROUTE : ErrorCodes.CROSS_CLUSTER);
    const reply = this.#codec.errorReply({ request: own, message, reason, listener: this.#opts.routing.listenerId });
    this.#curConn = undefined;
    this.#curEx = undefined;
    if (responses === 0 || reply === undefined) return;
    const ex = this.#exchange(undefined, own, undefined, true, undefined);
    for (const f of reply.frames) ex.chunks.push(f);
    if (ex.trace !== undefined) {
      ex.trace.error = reason === 'no_route' ? ErrorCodes.NO_ROUTE : ErrorCodes.CROSS_CLUSTER;
      ex.trace.answer = this.#summary(reply.frames[0]);
    }
    ex.done = true;
    if (reply.close) this.#closing = true;
    this.#flushSoon();
  }

  #answerLocally(own: Attributes | undefined, answer: { status: number; body: string; headers?: Readonly<Record<string, string>> | undefined }, responses: number, choice: RequestRouteChoice): void {
    const hooks = this.#hooks;
    if (hooks.answer === undefined || own === undefined) {
      this.#refuse(own, 'no_route', `route '${choice.route.id}' answers directly, which this protocol cannot do`, responses);
      return;
    }
    const { bytes, close } = hooks.answer(this.#codec, own, answer);
    hooks.forget(this.#codec, own);
    const ex = this.#exchange(undefined, own, undefined, true, choice);
    ex.chunks.push(bytes);
    if (ex.trace !== undefined) ex.trace.answer = this.#summary(bytes);
    ex.done = true;
    if (close) this.#closing = true;
    this.#flushSoon();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#inputEnded = true;
    const pinned = this.#pinned;
    if (pinned !== undefined) pinned.end();
    this.#flushSoon();
    cb();
  }

  // ---- answers (the readable side) -----------------------------------------------------------------------

  override _read(): void {
    this.#wantsRead = true;
    this.#flush();
  }

  /**
   * {@link #flush} after the current write: answers made while the session writes to this stream must not reach it
   * inside that write (the session would see its own write re-entered).
   */
  #flushSoon(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      if (!this.destroyed) this.#flush();
    });
  }

  #flushQueued = false;

  /** Pass on what is at the head of the line, in request order. */
  #flush(): void {
    const q = this.#queue;
    // everything deliverable now leaves as one chunk (one 'data' event, one write to the client)
    const out: Buffer[] = [];
    while (q.length > 0 && this.#wantsRead) {
      const ex = q[0]!;
      if (ex.chunks.length > 0) {
        for (const c of ex.chunks) out.push(c);
        ex.chunks.length = 0;
        this.#held -= ex.held;
        ex.delivered += ex.held;
        ex.held = 0;
      }
      if (!ex.done) break;
      q.shift();
      if (ex.observe !== undefined) ex.observe.observe((performance.now() - ex.startedAt) / 1000);
      if (ex.trace !== undefined && !ex.discard) this.#recordTrace(ex, ex.trace);
      if (ex.attributes !== undefined && ex.conn !== undefined) this.#hooks.forget(this.#codec, ex.attributes);
    }
    if (out.length > 0 && !this.#pushAll(out)) this.#wantsRead = false;
    if (this.#held <= (this.#owner.holdLimit >> 1)) for (const pool of this.#pools.values()) for (const c of pool) c.resume();
    // the connection answering the head of the line reads on while the client takes answers, however much is held
    if (this.#wantsRead) q[0]?.conn?.resume();
    if (q.length === 0 && (this.#inputEnded || this.#closing) && !this.#ended) this.#end();
  }

  /**
   * Push answer pieces as few chunks as possible, each at most {@link PUSH_MAX} bytes (what a socket read gives:
   * the session's framer holds at most a bounded amount per push). False when the reader wants no more for now.
   */
  #pushAll(out: Buffer[]): boolean {
    if (out.length === 1 && out[0]!.length <= PUSH_MAX) return this.push(out[0]);
    let ok = true;
    let group: Buffer[] = [];
    let size = 0;
    for (const piece of out) {
      for (let at = 0; at < piece.length; at += PUSH_MAX) {
        const part = at === 0 && piece.length <= PUSH_MAX ? piece : piece.subarray(at, at + PUSH_MAX);
        if (size + part.length > PUSH_MAX && group.length > 0) {
          ok = this.push(group.length === 1 ? group[0] : joined(group)) && ok;
          group = [];
          size = 0;
        }
        group.push(part);
        size += part.length;
      }
    }
    if (group.length > 0) ok = this.push(group.length === 1 ? group[0] : joined(group)) && ok;
    return ok;
  }

  /** Every answer is delivered and no more requests come: close the upstreams, end the readable side. */
  #end(): void {
    this.#ended = true;
    for (const pool of this.#pools.values()) for (const c of pool) c.close();
    this.push(null);
  }

  #drop(conn: RoutedUpstream): void {
    const pool = this.#pools.get(conn.cluster);
    if (pool === undefined) return;
    const i = pool.indexOf(conn);
    if (i >= 0) pool.splice(i, 1);
  }

  /** A 5xx answer started: retry the request elsewhere when the cluster says so and it is allowed (true: drop this answer). */
  #answerStarted(conn: RoutedUpstream, ex: Exchange, status: number | undefined): boolean {
    if (status === undefined || status < 500) return false;
    const cluster = conn.cluster;
    if (conn.socket !== undefined) cluster.report?.(conn.socket, 'protocol_error');
    const retryOn = cluster.config.retryOn ?? [];
    const wanted = retryOn.includes('5xx') || (status === 503 && retryOn.includes('503'));
    if (!wanted || !this.#mayRetry(ex, cluster)) return false;
    // the answer is dropped; the request goes again on another connection once this one is answered
    queueMicrotask(() => this.#retry(ex, cluster));
    return true;
  }

  #mayRetry(ex: Exchange, cluster: RoutedCluster): boolean {
    return ex.request !== undefined && ex.requestDone && ex.delivered === 0 && ex.held === 0 && !ex.open && ex.attempts <= (cluster.config.retries ?? 1);
  }

  #retry(ex: Exchange, cluster: RoutedCluster): void {
    if (this.destroyed) return;
    ex.attempts++;
    if (cluster.counters !== undefined) cluster.counters.retries++;
    const send = (): void => {
      if (this.destroyed) return;
      const conn = this.#pick(cluster, true, ex.attributes);
      this.#pools.get(cluster)!.push(conn);
      ex.conn = conn;
      const parts = ex.request!;
      conn.send(parts[0]!, ex, this.#codec, ex.attributes);
      for (let i = 1; i < parts.length; i++) conn.send(parts[i]!);
    };
    const backoff = cluster.config.retryBackoff ?? 0;
    if (backoff > 0) setTimeout(send, backoff).unref();
    else send();
  }

  /** An upstream connection failed: retry what may be, answer the rest with the protocol's error, or reset the client. */
  #failed(conn: RoutedUpstream, pending: Exchange[], why: 'connect' | 'reset' | 'closed', err: unknown): void {
    this.#drop(conn);
    if (this.destroyed) return;
    const cluster = conn.cluster;
    const code = why === 'connect' ? ((err as { code?: string } | undefined)?.code ?? ErrorCodes.UPSTREAM_REFUSED) : why === 'reset' ? ErrorCodes.UPSTREAM_RESET : ErrorCodes.UPSTREAM_ERROR;
    cluster.stats.error(code);
    this.#opts.logger.debug({ cluster: cluster.id, why, code, err: (err as Error | undefined)?.message }, 'routed upstream connection failed');
    if (conn === this.#pinned) {
      // a pinned connection is the client's connection now: its end is the client's
      this.#failPinned(pending, why);
      return;
    }
    const retryOn = cluster.config.retryOn ?? [];
    const reason: RefusalReason = why === 'connect' ? (code === ErrorCodes.UPSTREAM_TIMEOUT ? 'upstream_timeout' : 'upstream_refused') : 'upstream_lost';
    for (const ex of pending) {
      if (ex.done) continue;
      const allowed = why === 'connect' ? retryOn.includes('connect-failure') : why === 'reset' ? retryOn.includes('reset') : retryOn.includes('reset');
      if (allowed && this.#mayRetry(ex, cluster)) {
        this.#retry(ex, cluster);
        continue;
      }
      if (ex.delivered > 0) {
        // part of this answer reached the client: it cannot be answered any more
        this.destroy(new SwitchyardError(why === 'reset' ? ErrorCodes.UPSTREAM_RESET : ErrorCodes.UPSTREAM_ERROR, `cluster '${cluster.id}': upstream ${why === 'reset' ? 'reset' : 'closed'} in the middle of an answer`));
        return;
      }
      this.#failExchange(ex, reason, `switchyard: cluster '${cluster.id}': ${why === 'connect' ? `no connection (${(err as Error | undefined)?.message ?? code})` : why === 'reset' ? 'the upstream reset the connection before answering' : 'the upstream closed the connection before answering'}`);
    }
    this.#flush();
  }

  #failExchange(ex: Exchange, reason: RefusalReason, message: string): void {
    ex.chunks.length = 0;
    this.#held -= ex.held;
    ex.held = 0;
    ex.left = 0;
    ex.done = true;
    ex.conn = undefined;
    this.#opts.stats?.error(reasonCode(reason));
    const reply = this.#codec.errorReply({ request: ex.attributes, message, reason });
    if (reply !== undefined) for (const f of reply.frames) ex.chunks.push(f);
    if (reply?.close === true) this.#closing = true;
    if (ex.trace !== undefined) {
      ex.trace.error = reasonCode(reason);
      ex.trace.answer = this.#summary(reply?.frames[0]);
    }
  }

  #trace(choice: RequestRouteChoice | undefined): ExchangeTrace {
    return { at: Date.now(), t0: performance.now(), route: choice?.route.id, cluster: choice?.cluster?.id, answer: undefined, error: undefined, endpoint: undefined };
  }

  #summary(frame: Buffer | undefined): string {
    const f = this.#opts.traffic?.summarize;
    if (f === undefined || frame === undefined) return '';
    try {
      return f(frame);
    } catch {
      return '';
    }
  }

  /** A sampled exchange was passed on to the client (or dropped with its connection): its traffic record. */
  #recordTrace(ex: Exchange, t: ExchangeTrace): void {
    this.#opts.traffic!.tap.record({
      at: t.at,
      durationMs: Math.round((performance.now() - t.t0) * 1000) / 1000,
      request: scalarAttributes(ex.attributes),
      answer: t.answer ?? '',
      ...(t.error !== undefined ? { error: t.error } : {}),
      ...(t.route !== undefined ? { route: t.route } : {}),
      ...(t.cluster !== undefined ? { cluster: t.cluster } : {}),
      ...(t.endpoint !== undefined ? { endpoint: t.endpoint } : {}),
    });
  }

  #failPinned(pending: Exchange[], why: 'connect' | 'reset' | 'closed'): void {
    const open = pending.find((e) => e.open);
    if (open !== undefined && open.delivered === 0 && open.held === 0 && why !== 'reset') {
      for (const ex of pending) if (!ex.done) this.#failExchange(ex, why === 'connect' ? 'upstream_refused' : 'upstream_lost', `switchyard: cluster '${open.conn?.cluster.id ?? '?'}': the upstream closed the connection before answering`);
      this.#inputEnded = true;
      this.#flush();
      return;
    }
    if (why === 'reset') {
      this.resetAndDestroy();
      return;
    }
    for (const ex of pending) ex.done = true;
    this.#inputEnded = true;
    this.#flush();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    for (const pool of this.#pools.values()) for (const c of pool) c.close(err !== null);
    this.#pinned?.close(err !== null);
    cb(err);
  }
}

const NONE: readonly string[] = [];
const NAMED = new WeakMap<RequestRouting, { wanted: readonly string[]; connection: boolean }>();

/**
 * What the routes of `routing` match on (once per table): the map-form attribute names (`header.x-canary`,
 * `query.v`) to read per request, and whether any route uses connection attributes (then merged into each request's).
 */
function namedAttributes(routing: RequestRouting, maps: Readonly<Record<string, string>>): { wanted: readonly string[]; connection: boolean } {
  const known = NAMED.get(routing);
  if (known !== undefined) return known;
  const names = new Set<string>();
  let connection = false;
  const walk = (spec: Readonly<Record<string, unknown>>): void => {
    for (const [key, value] of Object.entries(spec)) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        if (CONNECTION_KEYS.includes(key)) connection = true;
      } else if (key === 'not') walk(value as Record<string, unknown>);
      else for (const name of Object.keys(value)) names.add(`${maps[key] ?? key}.${name.toLowerCase()}`);
    }
  };
  for (const c of routing.choices) if (c.route.config.match !== undefined) walk(c.route.config.match);
  const out = { wanted: names.size === 0 ? NONE : [...names], connection };
  NAMED.set(routing, out);
  return out;
}

/** One buffer for `parts`: a view over them when they are adjacent in one received chunk (no copy), else a copy. */
function joined(parts: readonly Buffer[]): Buffer {
  const first = parts[0]!;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < parts.length; i++) {
    const b = parts[i]!;
    if (b.buffer !== first.buffer || b.byteOffset !== end) return Buffer.concat(parts);
    end += b.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
}

function sum(parts: readonly Buffer[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

function clusterName(choice: RequestRouteChoice): string {
  return choice.cluster?.id ?? choice.route.id;
}

function noRouteMessage(listenerId: string, attrs: Attributes | undefined): string {
  const key = attrs?.['key'];
  if (typeof key === 'string') return `no route for key '${key}' on listener '${listenerId}'`;
  return `no route of listener '${listenerId}' matches this request`;
}

function reasonCode(reason: RefusalReason): ErrorCode {
  switch (reason) {
    case 'upstream_timeout':
      return ErrorCodes.REFUSED_UPSTREAM_TIMEOUT;
    case 'upstream_refused':
      return ErrorCodes.REFUSED_UPSTREAM_UNAVAILABLE;
    default:
      return ErrorCodes.REFUSED_UPSTREAM_LOST;
  }
}
