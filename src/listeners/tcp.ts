import net, { type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { unlink } from 'node:fs/promises';
import type { ListenerConfig } from '../config/types.js';
import type { Address } from '../core/address.js';
import { RuntimeBase } from '../core/lifecycle.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { buildServerTlsOptions } from '../core/tls.js';
import type { Logger } from '../core/log.js';
import type { FramerRegistry } from '../framing/registry.js';
import { Session, type SessionFraming } from '../session/session.js';
import type { RequestLimits } from '../session/request-deadline.js';
import { SessionState } from '../session/state.js';
import { PASSTHROUGH_FACTORY } from '../framing/passthrough.js';
import type { HandlerFactory } from '../pipeline/handler.js';
import type { Director, ListenerRouting, RouteChoice } from '../routing/director.js';
import type { Attributes, ProtocolCodec, StartupReader } from '../protocols/protocol.js';
import { answerAndClose, refusalReply } from '../session/refusal.js';
import { broadcast, connectionAttributes, readStartup, refuseNoRoute } from './route-accept.js';
import { RequestRouter } from '../routing/request-router.js';
import type { EngineSession } from '../routing/engine.js';
import type { FaultSet } from '../faults/fault-set.js';
import { FaultHandlerFactory } from '../faults/stage/fault-stage.js';
import type { RandomSource } from '../faults/random.js';
import type { ProtocolRegistry } from '../protocols/registry.js';
import { ThrottledWarning } from '../core/throttled-log.js';
import { processFdBudget, type FdBudget } from '../core/fd-budget.js';
import { CONNECTION_BUCKETS, LatencyHistogram } from '../core/latency.js';
import { spliceAvailable } from '../net/splice.js';
import { TRAFFIC_DEFAULTS, TrafficTap, type TrafficSettings } from '../core/traffic.js';
import type { SessionTraffic } from '../session/request-clock.js';
import type { UpstreamConnector } from '../session/session.js';
import type { TrafficStats } from '../core/stats.js';

type Cluster = NonNullable<RouteChoice['cluster']>;

/** What the sessions of one route choice share (see TcpListener#sharedFor). */
interface SharedSessionParts {
  readonly stats: readonly TrafficStats[];
  readonly traffic: SessionTraffic | undefined;
  readonly connect: UpstreamConnector;
  readonly onClose: (s: Session) => void;
}

export interface ListenerDeps {
  director: Director;
  framers: FramerRegistry;
  logger: Logger;
  /** Handler factories applied to every session (faults etc. plug in here). */
  handlers?: readonly HandlerFactory[];
  /** The listener's live faults (with `random`): a fault stage is added to its sessions. */
  faults?: FaultSet | undefined;
  random?: RandomSource | undefined;
  /** Needed when the config names a protocol. */
  protocols?: ProtocolRegistry | undefined;
  /** The file-descriptor budget to respect (default: the process's). */
  fdBudget?: FdBudget | undefined;
}

/** First pause when descriptors run out, doubling up to the longest. */
const FD_BACKOFF_FIRST_MS = 50;
const FD_BACKOFF_MAX_MS = 1000;

export interface StopOptions {
  /** ms to let live connections finish before they are closed; 0 = close at once. */
  drainTimeout?: number;
}

/** Which live connections of a listener its faults reach (the admin API's answer to a new fault). */
export interface FaultReach {
  /** Live connections, closing ones left out. */
  readonly connections: number;
  /** Of those, the ones running through the fault stage (a connection still connecting starts with it). */
  readonly reached: number;
  /** Why the others are not reached (empty when every one is). */
  readonly warnings: readonly string[];
}

let nextSessionId = 1;

/** How long a connection no route matches may take to send its first request (to answer it in the protocol). */
const NO_ROUTE_WAIT_MS = 10_000;
/** How long a client may take to send its startup when routes match startup attributes (unless requestHeaderTimeout). */
const STARTUP_TIMEOUT_MS = 30_000;

/** A TCP (optionally TLS) or Unix-socket listener: accepts connections and hands each to a Session, or to its route's engine. */
export class TcpListener extends RuntimeBase<ListenerConfig> {
  readonly kind = 'listener' as const;
  readonly sessions = new Set<Session | EngineSession>();
  /** Accept to close of every connection handed to a session or a route engine (`switchyard_connection_duration_seconds`). */
  readonly connectionDuration = new LatencyHistogram(CONNECTION_BUCKETS);
  /** The traffic tail (GET /api/v1/listeners/:id/traffic): requests on protocol listeners, connections on raw TCP. */
  readonly traffic: TrafficTap;
  /** The protocol's answer summary (traffic records), when it has one. */
  readonly #summarize: ((frame: Buffer) => string) | undefined;
  readonly #deps: ListenerDeps;
  readonly #framing: SessionFraming | undefined;
  /** Protocol listeners only: requestHeaderTimeout, requestTimeout, minDataRate. */
  #requestLimits: RequestLimits | undefined;
  #server: Server | undefined;
  #bound: Address | undefined;
  #stopping: Promise<void> | undefined;
  readonly #faultStage: FaultHandlerFactory | undefined;
  readonly #withFaults: readonly HandlerFactory[];
  #down = false;
  #unsubscribe: (() => void) | undefined;
  #downChange: Promise<void> = Promise.resolve();
  /** Connections not yet handed to a session: their startup being read, or a no-route answer being given. */
  readonly #pending = new Set<Socket>();
  /** Open connections per source address (only when maxConnectionsPerSource is set). */
  readonly #perSource = new Map<string, number>();
  readonly #fdBudget: FdBudget;
  /** Not accepting because descriptors ran out: the back-off timer that checks again. */
  #fdPause: NodeJS.Timeout | undefined;
  readonly #dropped: ThrottledWarning;
  readonly #droppedPerSource: ThrottledWarning;
  readonly #fdSpent: ThrottledWarning;
  /** Raw passthrough over TCP with `socket.splice: auto` and the addon available: sessions may use splice(2). */
  readonly #splice: boolean;
  /** Per route choice (a route table snapshot's object): what its sessions share, see {@link #sharedFor}. */
  readonly #shared = new WeakMap<RouteChoice, SharedSessionParts>();

  constructor(config: ListenerConfig, deps: ListenerDeps) {
    super(config);
    this.#deps = deps;
    this.#fdBudget = deps.fdBudget ?? processFdBudget();
    this.#dropped = new ThrottledWarning(deps.logger, 'max connections reached; connections dropped');
    this.#droppedPerSource = new ThrottledWarning(deps.logger, 'max connections per source address reached; connections dropped');
    this.#fdSpent = new ThrottledWarning(deps.logger, 'file descriptors nearly exhausted: stopped accepting until some are free (clients are refused, not accepted and closed)');
    const f = config.framing;
    const passthrough = f.toUpstream.type === 'passthrough' && f.toDownstream.type === 'passthrough';
    // Build framer factories once, at config time (bad options fail here, not per connection).
    const framers = passthrough
      ? undefined
      : { toUpstream: deps.framers.build(f.toUpstream.type, f.toUpstream.options), toDownstream: deps.framers.build(f.toDownstream.type, f.toDownstream.options) };
    if (config.protocol) {
      if (!deps.protocols) throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `listener '${config.id}': protocol '${config.protocol.type}' needs a protocol registry`);
      const codec = deps.protocols.build(config.protocol.type, config.protocol.options);
      this.#framing = { toUpstream: PASSTHROUGH_FACTORY, toDownstream: PASSTHROUGH_FACTORY, codec };
      this.#requestLimits = requestLimitsOf(config);
    } else {
      this.#framing = framers;
    }
    this.traffic = new TrafficTap(trafficSettings(config));
    const module = config.protocol === undefined ? undefined : deps.protocols?.get(config.protocol.type);
    this.#summarize = module?.answerSummary?.bind(module);
    this.#splice = config.socket.splice === 'auto' && passthrough && !config.protocol && !config.tls && config.listen.kind === 'tcp' && spliceAvailable();
    const handlers = deps.handlers ?? [];
    if (deps.faults && deps.random) {
      this.#faultStage = new FaultHandlerFactory({ set: deps.faults, random: deps.random });
      this.#withFaults = [...handlers, this.#faultStage];
      this.#unsubscribe = deps.faults.onChange(() => {
        this.#syncDown();
        this.#reachLive();
      });
    } else {
      this.#withFaults = handlers;
    }
  }

  /**
   * Hot reload in place: a config differing from the current one only in keys that apply to new connections
   * (idleTimeout, maxConnections, maxConnectionsPerSource, request limits, socket.keepAlive, faults: the caller
   * updates the fault set). Live connections keep the values they started with.
   */
  reconfigure(config: ListenerConfig): void {
    const trafficChanged = JSON.stringify(config.traffic) !== JSON.stringify(this.config.traffic);
    this.replaceConfig(config);
    if (config.protocol) this.#requestLimits = requestLimitsOf(config);
    if (trafficChanged) this.traffic.configure(trafficSettings(config));
    if (this.#server) this.#server.maxConnections = config.maxConnections > 0 ? config.maxConnections : Infinity;
  }

  /** The listener's live faults (undefined when it was built without a fault stage). */
  get faults(): FaultSet | undefined {
    return this.#deps.faults;
  }

  /** True while a `down` fault holds the listener closed. */
  get down(): boolean {
    return this.#down;
  }

  /** Handlers for a new session: the fault stage when faults exist (or the config asked for it). */
  #handlers(): readonly HandlerFactory[] | undefined {
    const faults = this.#deps.faults;
    if (this.#faultStage && (this.config.faults !== undefined || (faults !== undefined && faults.size > 0))) return this.#withFaults;
    return this.#deps.handlers;
  }

  /**
   * The fault set is not empty: live sessions without the fault stage take it now (those on the zero-copy path
   * switch to the framed path). Runs on changes only, never per chunk. Sessions stay framed when the faults go.
   */
  #reachLive(): void {
    const stage = this.#faultStage;
    if (stage === undefined || (this.#deps.faults?.size ?? 0) === 0) return;
    // The same place in the order as a new session's: after the listener's handlers, before the route's.
    const at = this.#deps.handlers?.length ?? 0;
    for (const s of this.sessions) if (s instanceof Session) s.addHandler(stage, at);
  }

  /** Which live connections the faults reach now, and why the others are not reached. */
  faultReach(): FaultReach {
    const stage = this.#faultStage;
    let connections = 0;
    let reached = 0;
    let engines = 0;
    for (const s of this.sessions) {
      if (!(s instanceof Session)) {
        engines++;
        connections++;
        continue;
      }
      if (s.state >= SessionState.Closing) continue;
      connections++;
      if (stage !== undefined && s.runs(stage)) reached++;
    }
    const warnings: string[] = [];
    if (engines > 0) warnings.push(`${engines} live connection(s) of listener '${this.id}' are handled by a route engine (replicate/merge), which takes the connection over: listener faults do not reach them`);
    if (this.#deps.director.routing(this.id)?.choices.some((c) => c.engine !== undefined)) {
      warnings.push(`listener '${this.id}' routes to a route engine (replicate/merge): faults do not reach its new connections either`);
    }
    const other = connections - engines - reached;
    if (other > 0) warnings.push(`${other} live connection(s) of listener '${this.id}' could not take the fault stage (see the log)`);
    return { connections, reached, warnings };
  }

  /** Follow the fault set's `down` state: close the socket and live sessions, or listen again. */
  #syncDown(): void {
    this.#downChange = this.#downChange.then(async () => {
      const want = this.#deps.faults?.down ?? false;
      if (want === this.#down || this.life.state !== 'started') return;
      this.#down = want;
      if (want) {
        const server = this.#server;
        this.#server = undefined;
        for (const s of [...this.sessions]) s.destroy();
        this.#dropPending();
        if (server) await new Promise<void>((r) => server.close(() => r()));
        this.#deps.logger.info({ listener: this.id }, 'listener down (fault)');
      } else {
        if (this.#fdPause !== undefined) return; // the descriptor back-off listens again when it ends
        try {
          await this.#listen(this.#bound ?? this.config.listen);
          this.#deps.logger.info({ listener: this.id }, 'listener up again');
        } catch (err) {
          this.life.failed(ErrorCodes.LISTEN_FAILED, (err as Error).message);
          this.#deps.logger.error({ listener: this.id, err }, 'listener could not listen again after down');
        }
      }
    });
  }

  /** Resolves once the last down/up change has been applied. */
  settled(): Promise<void> {
    return this.#downChange;
  }

  /** The bound address (the real port when configured with port 0). */
  get address(): Address | undefined {
    return this.#bound;
  }

  async start(): Promise<void> {
    this.life.starting();
    try {
      if (this.#deps.faults?.down) {
        // Created down (Toxiproxy's enabled: false): no socket until the fault goes.
        this.#down = true;
        this.life.started();
        return;
      }
      await this.#listen(this.config.listen);
      this.life.started();
      this.#deps.logger.info({ listener: this.id, address: this.#bound, ...(this.#splice ? { splice: true } : {}) }, 'listener started');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.life.failed(e.code ?? ErrorCodes.LISTEN_FAILED, e.message);
      // Bad TLS material is a configuration error (400), not a bind failure (409).
      if (e.code === ErrorCodes.CONFIG_INVALID) throw err;
      throw new SwitchyardError(ErrorCodes.LISTEN_FAILED, `listener '${this.id}': ${e.message}`, { cause: err, details: { syscode: e.code } });
    }
  }

  async #listen(address: Address): Promise<void> {
    const cfg = this.config;
    {
      const common = { allowHalfOpen: true, pauseOnConnect: true, noDelay: cfg.socket.noDelay } as const;
      const server = cfg.tls ? tls.createServer({ ...buildServerTlsOptions(cfg.tls), ...common }) : net.createServer(common);
      if (cfg.maxConnections > 0) server.maxConnections = cfg.maxConnections;
      server.on('drop', () => {
        this.stats.error(ErrorCodes.MAX_CONNECTIONS);
        this.#dropped.note({ listener: this.id, max: cfg.maxConnections });
      });
      if (cfg.tls) {
        // The raw TCP connection (before its TLS handshake) is what holds descriptors and a source's share.
        server.on('connection', (raw: Socket) => void this.#admit(raw));
        server.on('secureConnection', (socket: Socket) => this.#accept(socket));
      } else {
        server.on('connection', (socket: Socket) => {
          if (this.#admit(socket)) this.#accept(socket);
        });
      }
      if (cfg.tls) {
        server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
          this.stats.error(err.code ?? 'ERR_TLS');
          this.#deps.logger.debug({ listener: this.id, err: err.message }, 'TLS handshake failed');
        });
      }
      if (address.kind === 'unix') await unlink(address.path).catch(() => undefined);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        const opts = address.kind === 'unix' ? { path: address.path, backlog: cfg.backlog } : { host: address.host, port: address.port, backlog: cfg.backlog, ipv6Only: address.host.includes(':') };
        server.listen(opts, () => {
          server.removeListener('error', reject);
          resolve();
        });
      });
      // Logged only once listening: a failure to listen is the caller's error (the CLI prints one line for it).
      server.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EMFILE' || err.code === 'ENFILE') this.#pauseForFds();
        else this.#deps.logger.error({ listener: this.id, err }, 'listener error');
      });
      this.#server = server;
      const a = server.address();
      this.#bound = typeof a === 'string' || a === null ? address : { kind: 'tcp', host: a.address, port: a.port };
    }
  }

  /**
   * Limits checked for every accepted TCP connection before anything else: the per-source-address share, and the
   * file-descriptor budget (when it is spent the listener stops accepting for a while, so further clients wait in
   * or are refused by the kernel instead of being accepted and closed). False: the connection was closed.
   */
  #admit(socket: Socket): boolean {
    const budget = this.#fdBudget;
    budget.accepted(this.#descriptorsPerConnection());
    if (budget.spent()) this.#pauseForFds();
    const max = this.config.maxConnectionsPerSource;
    if (max === 0) return true;
    const source = socket.remoteAddress;
    if (source === undefined) return true; // Unix sockets have no source address
    const open = this.#perSource.get(source) ?? 0;
    if (open >= max) {
      this.stats.total++;
      this.stats.error(ErrorCodes.MAX_CONNECTIONS_PER_SOURCE);
      this.#droppedPerSource.note({ listener: this.id, source, max });
      socket.on('error', () => undefined);
      socket.destroy();
      return false;
    }
    this.#perSource.set(source, open + 1);
    socket.once('close', () => {
      const n = (this.#perSource.get(source) ?? 1) - 1;
      if (n <= 0) this.#perSource.delete(source);
      else this.#perSource.set(source, n);
    });
    return true;
  }

  /** What the descriptor budget counts per connection: client and upstream, and the splice addon's dups of both. */
  #descriptorsPerConnection(): number {
    return this.#splice ? 4 : 2;
  }

  /** Close the listening socket (live sessions go on) and listen again once descriptors are free. */
  #pauseForFds(): void {
    if (this.#fdPause !== undefined || !this.#server) return;
    const server = this.#server;
    this.#server = undefined;
    server.close();
    this.stats.error(ErrorCodes.FD_EXHAUSTED);
    const budget = this.#fdBudget;
    this.#fdSpent.note({ listener: this.id, open: budget.estimate, limit: budget.limit, reserve: budget.reserve, sessions: this.sessions.size });
    let wait = FD_BACKOFF_FIRST_MS;
    const check = (): void => {
      this.#fdPause = undefined;
      if (this.life.state !== 'started' || this.#down || this.#server) return;
      if (!budget.recovered()) {
        wait = Math.min(wait * 2, FD_BACKOFF_MAX_MS);
        this.#fdPause = setTimeout(check, wait).unref();
        return;
      }
      this.#listen(this.#bound ?? this.config.listen).then(
        () => this.#deps.logger.info({ listener: this.id, open: budget.estimate, limit: budget.limit }, 'file descriptors free again: accepting'),
        (err: unknown) => {
          this.life.failed(ErrorCodes.LISTEN_FAILED, (err as Error).message);
          this.#deps.logger.error({ listener: this.id, err }, 'listener could not listen again after running out of file descriptors');
        },
      );
    };
    this.#fdPause = setTimeout(check, wait).unref();
  }

  #accept(socket: Socket): void {
    if (this.life.state !== 'started') {
      socket.destroy();
      return;
    }
    const routing = this.#deps.director.routing(this.id);
    if (!routing) {
      this.stats.total++;
      this.stats.error(ErrorCodes.NO_UPSTREAM);
      this.#deps.logger.warn({ listener: this.id }, 'no route for listener; closing connection');
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    if (this.config.socket.keepAlive > 0) socket.setKeepAlive(true, this.config.socket.keepAlive);
    const acceptedAt = performance.now();
    switch (routing.scope) {
      case 'fixed':
        this.#open(socket, routing.choices[0]!, acceptedAt);
        return;
      case 'connection': {
        const attrs = connectionAttributes(socket);
        const choice = routing.select(attrs);
        if (choice) this.#open(socket, choice, acceptedAt);
        else this.#noRoute(socket, `no route on listener '${this.id}' for this connection`);
        return;
      }
      case 'startup':
        this.#routeStartup(socket, routing, acceptedAt);
        return;
      case 'request':
        this.#routeRequests(socket, routing, acceptedAt);
        return;
    }
  }

  /**
   * Request scope: one ordinary Session (faults, request limits, refusals, stats) whose upstream is a RequestRouter
   * that picks a route per HTTP request / Redis command (routing/request-router.ts). A protocol without per-request
   * routing hooks: the fallback route takes the whole connection.
   */
  #routeRequests(socket: Socket, routing: ListenerRouting, acceptedAt: number): void {
    const codec = this.#framing?.codec;
    const module = this.config.protocol === undefined ? undefined : this.#deps.protocols?.get(this.config.protocol.type);
    const hooks = module?.requestRouting;
    if (codec === undefined || hooks === undefined) {
      this.#open(socket, routing.fallback!, acceptedAt);
      return;
    }
    const logger = this.#deps.logger;
    const attributes = connectionAttributes(socket);
    const fds = this.#descriptorsPerConnection();
    const session = new Session({
      id: nextSessionId++,
      listenerId: this.id,
      client: socket,
      connect: () => Promise.resolve(new RequestRouter({ routing, codec, hooks, attributes, maps: module?.routing?.maps, stats: this.stats, traffic: { tap: this.traffic, summarize: this.#summarize }, logger })),
      framing: this.#framing,
      handlers: this.#handlers(),
      idleTimeout: this.config.idleTimeout,
      requestLimits: this.#requestLimits,
      stats: [this.stats],
      logger,
      onClose: (s) => {
        this.connectionDuration.observe((performance.now() - acceptedAt) / 1000);
        this.sessions.delete(s);
        this.#fdBudget.released(fds);
      },
    });
    this.sessions.add(session);
    void session.start();
  }

  /** Track a connection that is not a session yet, until it closes (listener stop and `down` destroy it). */
  #hold(socket: Socket): void {
    this.#pending.add(socket);
    socket.once('close', () => this.#pending.delete(socket));
  }

  #dropPending(): void {
    for (const s of this.#pending) s.destroy();
    this.#pending.clear();
  }

  /** No route matched: the protocol's answer (raw TCP: a close), counted as `no_route`. */
  #noRoute(socket: Socket, message: string, replay?: Buffer, request?: Attributes): void {
    this.stats.total++;
    this.stats.error(ErrorCodes.NO_ROUTE);
    this.#deps.logger.debug({ listener: this.id, ...(request ?? {}) }, 'no route matches; refusing the connection');
    this.#hold(socket);
    refuseNoRoute(socket, { listenerId: this.id, codec: this.#framing?.codec, waitMs: this.config.requestHeaderTimeout || NO_ROUTE_WAIT_MS }, message, replay, request);
  }

  /** Startup scope: read the startup (the protocol's reader), choose with its attributes, replay it to the session. */
  #routeStartup(socket: Socket, routing: ListenerRouting, acceptedAt: number): void {
    const type = this.config.protocol?.type;
    const reader = type === undefined ? undefined : this.#deps.protocols?.get(type)?.startupRouter?.create();
    if (reader === undefined) {
      this.#open(socket, routing.fallback!, acceptedAt);
      return;
    }
    this.#hold(socket);
    readStartup(socket, reader, this.config.requestHeaderTimeout || STARTUP_TIMEOUT_MS, (outcome) => {
      this.#pending.delete(socket);
      if (this.life.state !== 'started') {
        socket.destroy();
        return;
      }
      switch (outcome.kind) {
        case 'ready': {
          const attrs = { ...connectionAttributes(socket), ...outcome.attributes };
          const choice = routing.select(attrs);
          if (choice && reader.login !== undefined) this.#loginThenOpen(socket, choice, acceptedAt, reader, attrs);
          else if (choice) this.#open(socket, choice, acceptedAt, outcome.replay);
          else this.#noRoute(socket, `no route on listener '${this.id}' for ${reader.describe(outcome.attributes)}`, outcome.replay, outcome.attributes);
          return;
        }
        case 'broadcast':
          this.stats.total++;
          broadcast(routing, outcome.replay);
          socket.on('error', () => undefined);
          this.#hold(socket);
          answerAndClose(socket, []);
          return;
        case 'refuse':
          this.stats.total++;
          this.stats.error(ErrorCodes.REFUSED_MALFORMED);
          this.#deps.logger.debug({ listener: this.id, reason: outcome.message }, 'startup refused');
          socket.on('error', () => undefined);
          this.#hold(socket);
          answerAndClose(socket, outcome.reply);
          return;
        case 'malformed': {
          this.stats.total++;
          this.stats.error(ErrorCodes.REFUSED_MALFORMED);
          const codec = this.#framing?.codec?.create();
          socket.on('error', () => undefined);
          this.#hold(socket);
          answerAndClose(socket, (codec && refusalReply(codec, 'malformed', outcome.message)?.frames) ?? []);
          return;
        }
        case 'timeout':
        case 'closed':
          this.stats.total++;
          if (outcome.kind === 'timeout') this.stats.error(ErrorCodes.REQUEST_HEADER_TIMEOUT);
          socket.destroy();
          return;
      }
    });
  }

  /**
   * Startup scope, protocols whose login depends on the server (MySQL): connect the chosen route's cluster, let the
   * reader finish the login between client and server, then open the session on that upstream with the primed codec.
   * A failed login was answered by the reader (the server's ERR, or the proxy's); it is counted on the route.
   */
  #loginThenOpen(socket: Socket, target: RouteChoice, acceptedAt: number, reader: StartupReader, attrs: Attributes): void {
    const cluster = target.cluster;
    const factory = this.#framing?.codec;
    if (!cluster || !factory || !reader.login) {
      socket.destroy();
      return;
    }
    this.#hold(socket);
    const codec = factory.create();
    const timeoutMs = this.config.requestHeaderTimeout || STARTUP_TIMEOUT_MS;
    // ring_hash / maglev on a startup attribute (`user`) or the client's address
    const hashed = cluster.hashAttribute === undefined ? undefined : attrs[cluster.hashAttribute];
    const hints = hashed === undefined ? undefined : { hash: String(hashed) };
    reader.login(socket, () => cluster.connect(undefined, hints), codec, timeoutMs).then(
      (outcome) => {
        this.#pending.delete(socket);
        if (!outcome.ok) {
          this.stats.total++;
          target.route.requests++;
          target.route.stats.total++;
          const code = outcome.kind === 'connect' ? ErrorCodes.UPSTREAM_REFUSED : outcome.kind === 'timeout' ? ErrorCodes.REQUEST_HEADER_TIMEOUT : outcome.kind === 'refused' ? undefined : ErrorCodes.UPSTREAM_ERROR;
          if (code !== undefined) {
            this.stats.error(code);
            target.route.stats.error(code);
          }
          this.#deps.logger.debug({ listener: this.id, route: target.route.id, kind: outcome.kind, reason: outcome.message }, 'mysql login through the proxy failed');
          this.#hold(socket);
          return;
        }
        if (this.life.state !== 'started' || socket.destroyed) {
          outcome.upstream.destroy();
          socket.destroy();
          return;
        }
        this.#open(socket, target, acceptedAt, undefined, { upstream: outcome.upstream, codec });
      },
      () => socket.destroy(),
    );
  }

  /**
   * Hand the connection to the chosen route: its engine, or a Session to its cluster. `replay`: bytes already read.
   * `loggedIn`: the upstream the startup's login already went to, and the codec primed past that login.
   */
  #open(socket: Socket, target: RouteChoice, acceptedAt: number, replay?: Buffer, loggedIn?: { upstream: Socket; codec: ProtocolCodec }): void {
    target.route.requests++;
    if (replay !== undefined) socket.unshift(replay);
    if (target.engine) {
      const stats = target.cluster ? [this.stats, target.route.stats, target.cluster.stats] : [this.stats, target.route.stats];
      // onClose may run inside accept (a connection the engine refuses at once): then it is never added.
      let closed = false;
      let accepted = false;
      const engineSession = target.engine.accept(socket, {
        listenerId: this.id,
        sessionId: nextSessionId++,
        framing: this.#framing ?? { toUpstream: PASSTHROUGH_FACTORY, toDownstream: PASSTHROUGH_FACTORY },
        protocol: this.config.protocol?.type ?? (this.#framing ? this.config.framing.toUpstream.type : 'tcp'),
        stats,
        logger: this.#deps.logger,
        idleTimeout: this.config.idleTimeout,
        traffic: { tap: this.traffic, summarize: this.#summarize },
        onClose: () => {
          closed = true;
          this.connectionDuration.observe((performance.now() - acceptedAt) / 1000);
          if (accepted) this.sessions.delete(engineSession);
        },
      });
      accepted = true;
      if (!closed) this.sessions.add(engineSession);
      return;
    }
    const cluster = target.cluster;
    if (!cluster) {
      socket.destroy();
      return;
    }
    const handlers = this.#handlers();
    let framing = this.#framing;
    if (loggedIn !== undefined && framing?.codec !== undefined) {
      // the first codec made is the primed one (the session's); later ones (refusals) are fresh
      let primed: ProtocolCodec | undefined = loggedIn.codec;
      const base = framing.codec;
      framing = {
        ...framing,
        codec: {
          ...base,
          create: () => {
            const c = primed ?? base.create();
            primed = undefined;
            return c;
          },
        },
      };
    }
    const shared = this.#sharedFor(target, cluster);
    const session = new Session({
      id: nextSessionId++,
      listenerId: this.id,
      client: socket,
      acceptedAt,
      // ring_hash / maglev on the client's address: the session's hints plus the hash value.
      connect:
        loggedIn !== undefined
          ? () => {
              // paused after the login; resumed just before the session (in this tick) adds its listeners
              loggedIn.upstream.resume();
              return Promise.resolve(loggedIn.upstream);
            }
          : cluster.hashAttribute === 'sourceAddress'
          ? (signal, hints) => cluster.connect(signal, { ...hints, hash: socket.remoteAddress })
          : shared.connect,
      framing,
      handlers: target.route.handlers.length > 0 ? [...(handlers ?? []), ...target.route.handlers] : handlers,
      idleTimeout: this.config.idleTimeout,
      // a raw TCP traffic tail counts each connection's bytes on the sockets: such connections stay off splice(2)
      splice: loggedIn === undefined && this.#splice && !this.traffic.enabled && this.#fdBudget.roomy(),
      requestLimits: this.#requestLimits,
      upstreamName: cluster.id,
      stats: shared.stats,
      logger: this.#deps.logger,
      requestDuration: this.config.protocol ? target.route.requestDuration : undefined,
      traffic: shared.traffic,
      notePeers: !this.config.protocol && this.traffic.enabled,
      onClose: shared.onClose,
    });
    this.sessions.add(session);
    void session.start();
  }

  /**
   * What every session of one route choice shares (made at its first connection, kept while the choice lives): the
   * stats list, the traffic binding, the connect function and the close handler. Per connection these were an array,
   * an object and two closures, each living as long as the connection.
   */
  #sharedFor(target: RouteChoice, cluster: Cluster): SharedSessionParts {
    let shared = this.#shared.get(target);
    if (shared !== undefined) return shared;
    const fds = this.#descriptorsPerConnection();
    const route = target.route;
    shared = {
      stats: [this.stats, route.stats, cluster.stats],
      traffic: this.config.protocol ? this.#sessionTraffic(route.id, cluster.id) : undefined,
      connect: (signal, hints) => cluster.connect(signal, hints),
      onClose: (s) => {
        this.connectionDuration.observe((performance.now() - s.acceptedAt) / 1000);
        this.sessions.delete(s);
        this.#fdBudget.released(fds);
        // connections accepted while the tail was on (their peers were noted)
        if (s.peers !== undefined && this.traffic.sample()) this.#recordConnection(s, route.id, cluster.id, s.acceptedAt);
      },
    };
    this.#shared.set(target, shared);
    return shared;
  }

  #sessionTraffic(route: string, cluster: string): SessionTraffic {
    return { tap: this.traffic, route, cluster, summarize: this.#summarize };
  }

  /** Raw TCP with the traffic tail on: one record per connection, at its close. */
  #recordConnection(s: Session, route: string, cluster: string, acceptedAt: number): void {
    const client = s.client;
    const peers = s.peers;
    const durationMs = Math.round((performance.now() - acceptedAt) * 1000) / 1000;
    const error = s.closeError;
    this.traffic.record({
      at: Date.now() - Math.round(durationMs),
      durationMs,
      request: {
        source: peers?.source ?? '',
        bytesIn: client.bytesRead,
        bytesOut: client.bytesWritten,
      },
      answer: error === undefined ? 'closed' : 'failed',
      ...(error !== undefined ? { error } : {}),
      route,
      cluster,
      ...(peers?.endpoint !== undefined ? { endpoint: peers.endpoint } : {}),
    });
  }

  /** Stop accepting; let live sessions finish for up to drainTimeout ms; then close what is left. */
  stop(options: StopOptions = {}): Promise<void> {
    // A second stop while draining waits for the first one (it does not return early).
    this.#stopping ??= this.#stop(options);
    return this.#stopping;
  }

  async #stop(options: StopOptions): Promise<void> {
    if (this.life.state === 'stopped') return;
    this.#unsubscribe?.();
    this.life.stopping();
    clearTimeout(this.#fdPause);
    this.#fdPause = undefined;
    for (const w of [this.#dropped, this.#droppedPerSource, this.#fdSpent]) w.flush();
    const server = this.#server;
    const closedServer = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    const drain = options.drainTimeout ?? 0;
    if (drain > 0 && this.sessions.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...this.sessions].map((s) => s.closed)),
        new Promise<void>((r) => (timer = setTimeout(r, drain))),
      ]);
      clearTimeout(timer);
    }
    this.#dropPending();
    const left = [...this.sessions];
    if (left.length > 0) this.#deps.logger.info({ listener: this.id, sessions: left.length }, 'closing remaining sessions');
    for (const s of left) s.destroy();
    await Promise.all(left.map((s) => s.closed));
    await closedServer;
    this.#server = undefined;
    this.life.stopped();
    this.#deps.logger.info({ listener: this.id }, 'listener stopped');
  }

  override toJSON(): Record<string, unknown> {
    const routing = this.#deps.director.routing(this.id);
    return this.json({
      address: this.#bound ?? null,
      routing: routing?.scope ?? null,
      no_route: this.stats.errors.get(ErrorCodes.NO_ROUTE) ?? 0,
      ...(this.config.protocol ? { protocol: this.config.protocol.type } : {}),
      ...(this.#deps.faults ? { down: this.#down, faults: this.#deps.faults.list().map((f) => f.toJSON()) } : {}),
    });
  }

}

/** The config's traffic settings with defaults: on for protocol listeners (gRPC too), off for raw TCP. */
export function trafficSettings(config: ListenerConfig): TrafficSettings {
  const t = config.traffic;
  return {
    enabled: t?.enabled ?? config.protocol !== undefined,
    perSecond: t?.perSecond ?? TRAFFIC_DEFAULTS.perSecond,
    keep: t?.keep ?? TRAFFIC_DEFAULTS.keep,
  };
}

function requestLimitsOf(config: ListenerConfig): RequestLimits {
  const rate = config.minDataRate;
  return { headerTimeout: config.requestHeaderTimeout, requestTimeout: config.requestTimeout, minBytesPerSecond: rate.bytesPerSecond, grace: rate.grace };
}
