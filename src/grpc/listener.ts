/**
 * A `protocol: grpc` listener: an HTTP/2 server (h2c with prior knowledge, or TLS with ALPN `h2` when the listener
 * has `tls`) whose every stream is one call handed to the forwarding engine with its route's setup.
 */
import net, { type Server as NetServer, type Socket } from 'node:net';
import http2, { constants, type Http2SecureServer, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { ListenerConfig } from '../config/types.js';
import type { Address } from '../core/address.js';
import { toListenOptions } from '../core/address.js';
import { RuntimeBase } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import { buildServerTlsOptions } from '../core/tls.js';
import { ErrorCodes } from '../core/errors.js';
import type { Director } from '../routing/director.js';
import { handleCall, type CallEnv } from './call.js';
import { STREAM_WINDOW, SESSION_WINDOW } from './pool.js';
import type { GrpcRuntime } from './runtime.js';
import { serviceOf, statusTrailers } from './headers.js';
import { GRPC_PROTOCOL } from '../config/grpc-schema.js';
import { GrpcStatusError } from './status.js';
import type { Attributes } from '../protocols/protocol.js';
import type { FaultSet } from '../faults/fault-set.js';
import type { RandomSource } from '../faults/random.js';
import { GrpcCallFaults } from './call-faults.js';
import { ConnectionFaults } from './conn-faults.js';
import { TrafficTap } from '../core/traffic.js';
import { trafficSettings } from '../listeners/tcp.js';
import type { RouteChoice } from '../routing/director.js';
import { FrameServer } from './frames/serve.js';

/** A call's route attributes: `method`, `service`, and `metadata.<name>` for each request header that is not a pseudo-header. */
function callAttributes(path: string, headers: IncomingHttpHeaders): Attributes {
  const out: Record<string, string> = { method: path, service: serviceOf(path) };
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith(':') || v === undefined) continue;
    out[`metadata.${k}`] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export interface GrpcListenerDeps {
  director: Director;
  grpc: GrpcRuntime;
  logger: Logger;
  /** The listener's live faults: per-call ones (scope request) and connection ones (the TCP bytes under HTTP/2). */
  faults: FaultSet;
  random: () => RandomSource;
}

export class GrpcListener extends RuntimeBase<ListenerConfig> {
  readonly kind = 'listener' as const;
  readonly #deps: GrpcListenerDeps;
  readonly #sessions = new Set<Http2Session>();
  #server: Http2Server | Http2SecureServer | undefined;
  /** Accepts the TCP connections; each goes to the HTTP/2 server directly, or through the connection faults. */
  #tcp: NetServer | undefined;
  readonly #callFaults: GrpcCallFaults;
  #connFaults: ConnectionFaults | undefined;
  /** Whether connection faults were present at the last fault set version seen. */
  #connFaulted = false;
  #unsubscribe: (() => void) | undefined;
  #bound: Address | undefined;
  #stopping: Promise<void> | undefined;
  readonly #authority: string;
  /** `engine`: auto (frames while the listener is plain), http2, frames. */
  readonly #engine: 'auto' | 'http2' | 'frames';
  /** The frame engine's connections (docs/grpc.md § engine). */
  readonly #frames: FrameServer;
  /** What every call of this listener is handed (one object, not one per call). */
  readonly #callEnv: CallEnv;
  /** The traffic tail (GET /api/v1/listeners/:id/traffic): one record per sampled call. */
  readonly traffic: TrafficTap;

  constructor(config: ListenerConfig, deps: GrpcListenerDeps) {
    super(config);
    this.#deps = deps;
    const a = config.protocol?.options['authority'];
    this.#authority = typeof a === 'string' ? a : 'upstream';
    const e = config.protocol?.options['engine'];
    this.#engine = e === 'http2' || e === 'frames' ? e : 'auto';
    this.#callFaults = new GrpcCallFaults(deps.faults, deps.random, config.id);
    this.traffic = new TrafficTap(trafficSettings(config));
    this.#callEnv = { pool: (id) => deps.grpc.pool(id), authority: this.#authority, logger: deps.logger, traffic: this.traffic };
    this.#frames = new FrameServer({
      target: (path, attributes, sampled) => this.#target(path, attributes, sampled),
      plain: (choice) => this.#plainRoute(choice),
      faulted: () => !this.#callFaults.empty || this.config.faults !== undefined,
      forced: this.#engine === 'frames',
      setup: (choice) => deps.grpc.setup(choice.route, [this.stats, choice.route.stats]),
      sample: () => this.traffic.sample(),
      env: { framePool: (id) => deps.grpc.framePool(id), authority: this.#authority, logger: deps.logger, traffic: this.traffic },
      logger: deps.logger,
      listenerId: config.id,
    });
  }

  /**
   * A route the frame engine can serve: no director, no secondaries, compare off, no replicate or mirror, and an
   * h2c cluster (docs/grpc.md § engine).
   */
  #plainRoute(choice: RouteChoice): boolean {
    const c = choice.route.config;
    const g = c.grpc;
    if (c.replicate || c.mirror || !choice.cluster || choice.cluster.config.tls) return false;
    if (g && (g.secondaries.length > 0 || (g.compare.policy !== 'off') || g.compare.maxMessageSize !== undefined)) return false;
    return !this.#deps.grpc.directors.has(choice.route.id);
  }

  /** A new connection goes to the frame engine: engine frames, or auto while the listener is plain. */
  #framesNow(): boolean {
    if (this.#engine === 'http2' || this.config.tls) return false;
    if (this.#engine === 'frames') return true;
    if (this.config.faults !== undefined || this.#deps.faults.size > 0) return false;
    const routing = this.#deps.director.routing(this.id);
    if (!routing) return true;
    for (const choice of routing.choices) if (!this.#plainRoute(choice)) return false;
    return true;
  }

  /** Hot reload in place (faults and `traffic`: the caller updates the fault set). */
  reconfigure(config: ListenerConfig): void {
    const trafficChanged = JSON.stringify(config.traffic) !== JSON.stringify(this.config.traffic);
    this.replaceConfig(config);
    if (trafficChanged) this.traffic.configure(trafficSettings(config));
  }

  get address(): Address | undefined {
    return this.#bound;
  }

  async start(): Promise<void> {
    this.life.starting();
    const settings = { initialWindowSize: STREAM_WINDOW, enablePush: false };
    const cfg = this.config;
    try {
      const server = cfg.tls
        ? http2.createSecureServer({ ...buildServerTlsOptions(cfg.tls), ALPNProtocols: ['h2'], allowHTTP1: false, settings })
        : http2.createServer({ settings });
      this.#server = server;
      server.on('session', (session: Http2Session) => {
        this.#sessions.add(session);
        session.on('error', () => undefined);
        session.once('close', () => this.#sessions.delete(session));
        session.once('connect', () => undefined);
        try {
          session.setLocalWindowSize(SESSION_WINDOW);
        } catch {
          // not connected yet on some paths; the default window applies
        }
      });
      server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.#stream(stream, headers));
      server.on('error', (err) => this.#deps.logger.warn({ err, listener: this.id }, 'grpc listener error'));
      this.#connFaults = new ConnectionFaults({ set: this.#deps.faults, random: this.#deps.random(), listenerId: this.id, logger: this.#deps.logger });
      this.#connFaulted = this.#connFaults.active;
      this.#unsubscribe = this.#deps.faults.onChange(() => this.#faultsChanged());
      const tcp = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
      this.#tcp = tcp;
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(toListenOptions(cfg.listen, { backlog: cfg.backlog }), () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      tcp.on('error', (err) => this.#deps.logger.warn({ err, listener: this.id }, 'grpc listener error'));
      const a = tcp.address();
      this.#bound = a && typeof a === 'object' ? { kind: 'tcp', host: a.address, port: a.port } : cfg.listen;
      this.life.started();
      this.#deps.logger.info({ listener: this.id, address: this.#bound, tls: cfg.tls !== undefined }, 'grpc listener started');
    } catch (err) {
      this.life.failed((err as { code?: string }).code ?? ErrorCodes.INTERNAL, (err as Error).message);
      throw err;
    }
  }

  /**
   * A TCP connection: served by HTTP/2 directly, or through the fault stage while the listener has connection
   * faults (or was configured with a `faults` key).
   */
  #accept(socket: Socket): void {
    const server = this.#server;
    if (!server || this.life.state !== 'started') {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    const faulted = this.#connFaults !== undefined && (this.config.faults !== undefined || this.#connFaults.active);
    if (!faulted && this.#framesNow()) {
      this.#frames.accept(socket);
      return;
    }
    server.emit('connection', faulted ? this.#connFaults!.wrap(socket) : socket);
  }

  /**
   * Connection faults just appeared: HTTP/2 connections are long-lived, so every live session is asked to go away
   * (GOAWAY; calls in flight finish) and clients reconnect through the fault stage. Per-call faults need nothing:
   * each new call reads the set.
   */
  #faultsChanged(): void {
    // Any fault (per call or connection) makes the listener not plain: frame-engine connections go away.
    if (this.#engine !== 'frames' && this.#deps.faults.size > 0) this.#frames.goawayAll();
    const now = this.#connFaults?.active ?? false;
    const was = this.#connFaulted;
    this.#connFaulted = now;
    if (!now || was || this.config.faults !== undefined) return;
    for (const s of this.#sessions) if (!s.closed && !s.destroyed) s.close();
  }

  /**
   * The route of a call with this path (`attributes` built only when the routes match on them), or the status the
   * listener answers with when there is none (counted, and recorded when `sampled`).
   */
  #target(path: string, attributes: () => Attributes, sampled: boolean): RouteChoice | GrpcStatusError {
    const routing = this.#deps.director.routing(this.id);
    const target = routing === undefined ? undefined : routing.scope === 'fixed' ? routing.choices[0] : routing.select(attributes());
    if (target && (target.cluster || target.route.config.replicate)) return target;
    const none = routing !== undefined && routing.choices.length > 0;
    this.stats.error(none ? ErrorCodes.NO_ROUTE : ErrorCodes.NO_UPSTREAM);
    if (sampled) {
      this.traffic.record({ at: Date.now(), durationMs: 0, request: { method: path, service: serviceOf(path), bytesIn: 0, bytesOut: 0 }, answer: none ? 'UNIMPLEMENTED' : 'UNAVAILABLE', error: none ? ErrorCodes.NO_ROUTE : ErrorCodes.NO_UPSTREAM });
    }
    return none
      ? new GrpcStatusError('UNIMPLEMENTED', `switchyard: no route for ${path} on listener '${this.id}'`)
      : new GrpcStatusError('UNAVAILABLE', `listener '${this.id}' has no route`);
  }

  #stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const path = typeof headers[':path'] === 'string' ? headers[':path'] : '';
    const sampled = this.traffic.sample();
    const target = this.#target(path, () => callAttributes(path, headers), sampled);
    if (target instanceof GrpcStatusError) {
      stream.on('error', () => undefined);
      try {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...statusTrailers(target) }, { endStream: true });
      } catch {
        stream.close(constants.NGHTTP2_REFUSED_STREAM);
      }
      return;
    }
    target.route.requests++;
    const setup = this.#deps.grpc.setup(target.route, [this.stats, target.route.stats]);
    const faults = this.#callFaults.empty ? undefined : this.#callFaults.draw(callAttributes(path, headers), target.route.id);
    handleCall(stream, headers, setup, this.#callEnv, faults, sampled);
  }

  stop(options: { drainTimeout?: number } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.drainTimeout ?? 0);
    return this.#stopping;
  }

  async #stop(drain: number): Promise<void> {
    if (this.life.state === 'stopped') return;
    this.life.stopping();
    this.#unsubscribe?.();
    const tcp = this.#tcp;
    const closed = tcp ? new Promise<void>((r) => tcp.close(() => r())) : Promise.resolve();
    for (const s of this.#sessions) if (!s.closed) s.close();
    this.#frames.goawayAll();
    if (drain > 0 && this.#sessions.size + this.#frames.conns.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((r) => (timer = setTimeout(r, drain)))]);
      clearTimeout(timer);
    }
    for (const s of this.#sessions) s.destroy();
    this.#frames.destroyAll();
    await closed;
    this.#server = undefined;
    this.#tcp = undefined;
    this.life.stopped();
  }

  override toJSON(): Record<string, unknown> {
    return this.json({
      address: this.#bound ?? null,
      protocol: 'grpc',
      engine: this.#engine,
      sessions: this.#sessions.size + this.#frames.conns.size,
      sessionsByEngine: { http2: this.#sessions.size, frames: this.#frames.conns.size },
      tls: this.config.tls !== undefined,
    });
  }
}

/** True for a `protocol: grpc` listener's config (served by {@link GrpcListener}). */
export function isGrpcListenerConfig(config: ListenerConfig | undefined): boolean {
  return config?.protocol?.type === GRPC_PROTOCOL;
}
