import net, { type Server, type Socket } from 'node:net';
import tls from 'node:tls';
import { unlink } from 'node:fs/promises';
import type { Address, ListenerConfig } from '../control/config-types.js';
import { RuntimeBase } from '../core/lifecycle.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { buildServerTlsOptions } from '../core/tls.js';
import type { Logger } from '../core/log.js';
import type { FramerRegistry } from '../framing/registry.js';
import { Session, type SessionFraming } from '../session/session.js';
import type { HandlerFactory } from '../pipeline/handler.js';
import type { Director } from '../routing/director.js';

export interface ListenerDeps {
  director: Director;
  framers: FramerRegistry;
  logger: Logger;
  /** Handler factories applied to every session (faults etc. plug in here). */
  handlers?: readonly HandlerFactory[];
}

export interface StopOptions {
  /** ms to let live connections finish before they are closed; 0 = close at once. */
  drainTimeout?: number;
}

let nextSessionId = 1;

/** A TCP (optionally TLS) or Unix-socket listener: accepts connections and hands each to a Session. */
export class TcpListener extends RuntimeBase<ListenerConfig> {
  readonly kind = 'listener' as const;
  readonly sessions = new Set<Session>();
  readonly #deps: ListenerDeps;
  readonly #framing: SessionFraming | undefined;
  #server: Server | undefined;
  #bound: Address | undefined;
  #stopping: Promise<void> | undefined;

  constructor(config: ListenerConfig, deps: ListenerDeps) {
    super(config);
    this.#deps = deps;
    const f = config.framing;
    const passthrough = f.toUpstream.type === 'passthrough' && f.toDownstream.type === 'passthrough';
    // Build framer factories once, at config time (bad options fail here, not per connection).
    this.#framing = passthrough
      ? undefined
      : { toUpstream: deps.framers.build(f.toUpstream.type, f.toUpstream.options), toDownstream: deps.framers.build(f.toDownstream.type, f.toDownstream.options) };
  }

  /** The bound address (the real port when configured with port 0). */
  get address(): Address | undefined {
    return this.#bound;
  }

  async start(): Promise<void> {
    this.life.starting();
    const cfg = this.config;
    try {
      const common = { allowHalfOpen: true, pauseOnConnect: true, noDelay: cfg.socket.noDelay } as const;
      const server = cfg.tls ? tls.createServer({ ...buildServerTlsOptions(cfg.tls), ...common }) : net.createServer(common);
      if (cfg.maxConnections > 0) server.maxConnections = cfg.maxConnections;
      server.on('drop', () => {
        this.stats.error(ErrorCodes.MAX_CONNECTIONS);
        this.#deps.logger.warn({ listener: this.id, max: cfg.maxConnections }, 'max connections reached; connection dropped');
      });
      server.on(cfg.tls ? 'secureConnection' : 'connection', (socket: Socket) => this.#accept(socket));
      if (cfg.tls) {
        server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
          this.stats.error(err.code ?? 'ERR_TLS');
          this.#deps.logger.debug({ listener: this.id, err: err.message }, 'TLS handshake failed');
        });
      }
      server.on('error', (err) => this.#deps.logger.error({ listener: this.id, err }, 'listener error'));
      if (cfg.listen.kind === 'unix') await unlink(cfg.listen.path).catch(() => undefined);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        const opts = cfg.listen.kind === 'unix' ? { path: cfg.listen.path, backlog: cfg.backlog } : { host: cfg.listen.host, port: cfg.listen.port, backlog: cfg.backlog, ipv6Only: cfg.listen.host.includes(':') };
        server.listen(opts, () => {
          server.removeListener('error', reject);
          resolve();
        });
      });
      this.#server = server;
      const a = server.address();
      this.#bound = typeof a === 'string' || a === null ? cfg.listen : { kind: 'tcp', host: a.address, port: a.port };
      this.life.started();
      this.#deps.logger.info({ listener: this.id, address: this.#bound }, 'listener started');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.life.failed(e.code ?? ErrorCodes.LISTEN_FAILED, e.message);
      // Bad TLS material is a configuration error (400), not a bind failure (409).
      if (e.code === ErrorCodes.CONFIG_INVALID) throw err;
      throw new SwitchyardError(ErrorCodes.LISTEN_FAILED, `listener '${this.id}': ${e.message}`, { cause: err, details: { syscode: e.code } });
    }
  }

  #accept(socket: Socket): void {
    if (this.life.state !== 'started') {
      socket.destroy();
      return;
    }
    const target = this.#deps.director.resolve(this.id);
    if (!target) {
      this.stats.total++;
      this.stats.error(ErrorCodes.NO_UPSTREAM);
      this.#deps.logger.warn({ listener: this.id }, 'no route for listener; closing connection');
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    if (this.config.socket.keepAlive > 0) socket.setKeepAlive(true, this.config.socket.keepAlive);
    const session = new Session({
      id: nextSessionId++,
      listenerId: this.id,
      client: socket,
      connect: (signal) => target.cluster.connect(signal),
      framing: this.#framing,
      handlers: this.#deps.handlers,
      idleTimeout: this.config.idleTimeout,
      stats: [this.stats, target.route.stats, target.cluster.stats],
      logger: this.#deps.logger,
      onClose: (s) => this.sessions.delete(s),
    });
    this.sessions.add(session);
    void session.start();
  }

  /** Stop accepting; let live sessions finish for up to drainTimeout ms; then close what is left. */
  stop(options: StopOptions = {}): Promise<void> {
    // A second stop while draining waits for the first one (it does not return early).
    this.#stopping ??= this.#stop(options);
    return this.#stopping;
  }

  async #stop(options: StopOptions): Promise<void> {
    if (this.life.state === 'stopped') return;
    this.life.stopping();
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
    return this.json({ address: this.#bound ?? null });
  }

}
