/**
 * A `protocol: wamp` listener: one port serving WAMP over WebSocket (HTTP upgrade on the listener's `path`) and
 * RawSocket (first octet 0x7F), TLS when the listener has `tls`. Each client session is authenticated here, routed
 * by (realm, authrole) and relayed to its own backend session (session.ts).
 */
import http from 'node:http';
import net, { type Server, type Socket } from 'node:net';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { resolve as resolvePath } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ListenerConfig, WampListenerOptions, WampTicketAuthenticator } from '../config/types.js';
import { type Address, toListenOptions } from '../core/address.js';
import { RuntimeBase } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import { buildServerTlsOptions } from '../core/tls.js';
import { ErrorCodes } from '../core/errors.js';
import type { Director } from '../routing/director.js';
import { compileRouteMatch, type RouteMatcher } from '../routing/route-match.js';
import type { MatchSpec } from '../config/fault-input.js';
import { WAMP_PROTOCOL } from '../config/wamp-schema.js';
import { EdgeAuth } from './auth.js';
import { RawSocketChannel, WsChannel, lengthExponent, type WampChannel } from './channel.js';
import { parseSubprotocol, serializerByRawSocketId } from './serializers.js';
import { type BackendChoice, FrontendSession, type SessionHost } from './session.js';
import type { WampRuntime } from './runtime.js';
import type { Route } from '../routing/director.js';
import type { FaultSet } from '../faults/fault-set.js';

export interface WampListenerDeps {
  director: Director;
  wamp: WampRuntime;
  logger: Logger;
  /** The listener's live faults (request-scope `error`, `delay`, `drop` apply to WAMP messages). */
  faults?: FaultSet | undefined;
}

const DEFAULTS: WampListenerOptions = { path: '/ws', serializers: ['json', 'msgpack', 'cbor'], maxMessageSize: 1024 * 1024, idleTimeout: 0, helloTimeout: 10_000 };

/** A route's match without its `authrole` key: does the route serve the realm at all (for `no_such_realm`)? */
const realmMatchers = new WeakMap<Route, RouteMatcher>();
function realmMatcher(route: Route): RouteMatcher {
  let m = realmMatchers.get(route);
  if (!m) {
    const spec = route.config.match;
    const rest: Record<string, unknown> = { ...(spec ?? {}) };
    delete rest['authrole'];
    m = compileRouteMatch(rest as MatchSpec);
    realmMatchers.set(route, m);
  }
  return m;
}

export class WampListener extends RuntimeBase<ListenerConfig> implements SessionHost {
  readonly kind = 'listener' as const;
  readonly options: WampListenerOptions;
  readonly auth: EdgeAuth;
  readonly #deps: WampListenerDeps;
  readonly #sockets = new Set<Socket>();
  readonly #live = new Set<FrontendSession>();
  #server: Server | undefined;
  #wss: WebSocketServer | undefined;
  #http: http.Server | undefined;
  #bound: Address | undefined;
  #stopping: Promise<void> | undefined;

  constructor(config: ListenerConfig, deps: WampListenerDeps) {
    super(config);
    this.#deps = deps;
    this.options = { ...DEFAULTS, ...(config.protocol?.options as Partial<WampListenerOptions> | undefined) };
    const loaded = new Map<string, Promise<WampTicketAuthenticator>>();
    this.auth = new EdgeAuth(this.options.auth, (module) => {
      let p = loaded.get(module);
      if (!p) {
        p = import(pathToFileURL(resolvePath(module)).href).then((m: { default?: unknown; authenticate?: unknown }) => {
          const fn = m.default ?? m.authenticate;
          if (typeof fn !== 'function') throw new Error(`authenticator module ${module} exports no function (default or authenticate)`);
          return fn as WampTicketAuthenticator;
        });
        loaded.set(module, p);
      }
      return p;
    });
  }

  get listenerId(): string {
    return this.id;
  }

  get address(): Address | undefined {
    return this.#bound;
  }

  async start(): Promise<void> {
    this.life.starting();
    const cfg = this.config;
    try {
      const offered = this.options.serializers;
      this.#wss = new WebSocketServer({
        noServer: true,
        maxPayload: this.options.maxMessageSize,
        perMessageDeflate: false,
        handleProtocols: (protocols) => {
          // The first of the client's list this listener supports.
          for (const p of protocols) {
            const sub = parseSubprotocol(p);
            if (sub && offered.includes(sub.serializer.name)) return p;
          }
          return false;
        },
      });
      this.#http = http.createServer((req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket', connection: 'close' });
        res.end(`this is a WAMP endpoint: open a WebSocket on ${this.options.path} with subprotocol ${offered.map((s) => `wamp.2.${s}`).join(', ')}\n`);
      });
      this.#http.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => this.#upgrade(req, socket, head));
      this.#http.on('clientError', (_err, socket: Socket) => socket.destroy());
      const server = cfg.tls ? tls.createServer(buildServerTlsOptions(cfg.tls)) : net.createServer();
      this.#server = server;
      server.on(cfg.tls ? 'secureConnection' : 'connection', (socket: Socket) => this.#accept(socket));
      if (cfg.tls) server.on('tlsClientError', () => undefined);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(toListenOptions(cfg.listen, { backlog: cfg.backlog }), () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.#deps.logger.warn({ err, listener: this.id }, 'wamp listener error'));
      const a = server.address();
      this.#bound = a && typeof a === 'object' ? { kind: 'tcp', host: a.address, port: a.port } : cfg.listen;
      this.life.started();
      this.#deps.logger.info({ listener: this.id, address: this.#bound, tls: cfg.tls !== undefined }, 'wamp listener started');
    } catch (err) {
      this.life.failed((err as { code?: string }).code ?? ErrorCodes.INTERNAL, (err as Error).message);
      throw err;
    }
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    this.stats.total++;
    this.stats.active++;
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.stats.active--;
    });
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    const idle = this.options.idleTimeout;
    if (idle > 0) {
      socket.setTimeout(idle, () => {
        this.stats.error(ErrorCodes.IDLE_TIMEOUT);
        socket.destroy();
      });
    }
    socket.once('data', (first: Buffer) => {
      if (first[0] === 0x7f) this.#rawSocket(socket, first);
      else {
        // HTTP: hand the socket (with what was read) to the HTTP server for the WebSocket upgrade.
        socket.pause();
        socket.unshift(first);
        this.#http!.emit('connection', socket);
        socket.resume();
      }
    });
  }

  #rawSocket(socket: Socket, first: Buffer): void {
    let buf = first;
    const handshake = (): void => {
      if (buf.length < 4) {
        socket.once('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          handshake();
        });
        return;
      }
      const b1 = buf[1]!;
      const fail = (code: number, why: string) => {
        this.stats.error(ErrorCodes.REFUSED_MALFORMED);
        this.#deps.logger.debug({ listener: this.id, why }, 'RawSocket handshake refused');
        socket.end(Buffer.from([0x7f, code << 4, 0, 0]));
      };
      if (buf[2] !== 0 || buf[3] !== 0) return fail(3, 'reserved octets not zero');
      const serializer = serializerByRawSocketId(b1 & 0x0f);
      if (!serializer || !this.options.serializers.includes(serializer.name)) return fail(1, `serializer ${b1 & 0x0f} unsupported`);
      const maxOut = 2 ** (9 + (b1 >> 4));
      socket.write(Buffer.from([0x7f, (lengthExponent(this.options.maxMessageSize) << 4) | serializer.rawSocketId, 0, 0]));
      const maxIn = 2 ** (9 + lengthExponent(this.options.maxMessageSize));
      this.#session(new RawSocketChannel(socket, serializer, { maxIn, maxOut }, buf.subarray(4)));
    };
    handshake();
  }

  #upgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== this.options.path) {
      socket.end(`HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\nno WAMP endpoint at ${path ?? ''} (it is at ${this.options.path})\n`);
      return;
    }
    const asked = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (!asked.some((p) => parseSubprotocol(p) && this.options.serializers.includes(parseSubprotocol(p)!.serializer.name))) {
      socket.end(`HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\nno supported WAMP subprotocol among ${JSON.stringify(asked)} (supported: ${this.options.serializers.flatMap((s) => [`wamp.2.${s}`, `wamp.2.${s}.batched`]).join(', ')})\n`);
      return;
    }
    this.#wss!.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const sub = parseSubprotocol(ws.protocol)!;
      this.#session(new WsChannel(ws, sub, `${socket.remoteAddress}:${socket.remotePort}`));
    });
  }

  #session(channel: WampChannel): void {
    if (this.life.state !== 'started') {
      channel.destroy();
      return;
    }
    const s = new FrontendSession(channel, this);
    this.#live.add(s);
  }

  hasRealm(realm: string): boolean {
    const routing = this.#deps.director.routing(this.id);
    return routing !== undefined && routing.choices.some((c) => c.cluster !== undefined && realmMatcher(c.route)({ realm }));
  }

  backends(realm: string, authrole: string): BackendChoice[] {
    const routing = this.#deps.director.routing(this.id);
    if (!routing) return [];
    const attrs = { realm, authrole };
    const all = routing.choices.filter((c) => c.cluster !== undefined && c.cluster.state === 'started' && c.matches(attrs)).map((c) => ({ route: c.route, cluster: c.cluster! }));
    if (all.length <= 1) return all;
    const start = this.#deps.wamp.nextIndex(this.id, realm, authrole) % all.length;
    return [...all.slice(start), ...all.slice(0, start)];
  }

  fault(stream: 'upstream' | 'downstream', types: readonly string[], attrs: Record<string, string>, route?: string): { type: string; options: Record<string, unknown> } | undefined {
    const set = this.#deps.faults;
    if (!set) return undefined;
    for (const f of set.chain(stream)) {
      if (!types.includes(f.type) || (f.matcher && !f.matcher(attrs))) continue;
      // A route's faults (`route.faults`, origin `route:ID`) act on the sessions that route carries only.
      if (f.origin?.startsWith('route:') && f.origin !== `route:${route ?? ''}`) continue;
      if (f.toxicity < 1 && Math.random() >= f.toxicity) continue;
      f.injected++;
      return { type: f.type, options: f.options };
    }
    return undefined;
  }

  joined(session: FrontendSession): void {
    this.#deps.wamp.add(session);
  }

  left(session: FrontendSession): void {
    this.#live.delete(session);
    this.#deps.wamp.remove(session);
  }

  stop(options: { drainTimeout?: number } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.drainTimeout ?? 0);
    return this.#stopping;
  }

  async #stop(_drain: number): Promise<void> {
    if (this.life.state === 'stopped') return;
    this.life.stopping();
    const server = this.#server;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const s of this.#deps.wamp.sessions(this.id)) s.kill('wamp.close.system_shutdown', 'listener stopping');
    for (const s of this.#live) s.kill('wamp.close.system_shutdown', 'listener stopping');
    this.#live.clear();
    await new Promise((r) => setTimeout(r, 20));
    for (const s of this.#sockets) s.destroy();
    this.#wss?.close();
    await closed;
    this.#server = undefined;
    this.life.stopped();
  }

  override toJSON(): Record<string, unknown> {
    return this.json({ address: this.#bound ?? null, protocol: WAMP_PROTOCOL, sessions: this.#deps.wamp.sessions(this.id).length, tls: this.config.tls !== undefined });
  }
}
