/**
 * listenFramed: bind a TCP (IPv4/IPv6) or Unix address, optionally terminating TLS, and turn every accepted
 * connection into a FramedConnection (side 'server'), handed to a callback or yielded by `for await`.
 */
import net from 'node:net';
import type tls from 'node:tls';
import { formatAddress, parseAddress, toListenOptions } from '../core/address.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { FramerFactory } from '../framing/framer.js';
import { FramedConnection } from './framed-connection.js';
import { serverHandshake } from './tls-handshake.js';
import type { Address, FramedConnectionOptions, FramedSocketOptions, FramerPair } from './types.js';

const DEFAULT_TLS_TIMEOUT = 30_000;
const DEFAULT_ACCEPT_QUEUE = 128;

export interface ListenFramedOptions extends Omit<FramedConnectionOptions, 'framers'> {
  /** Where to listen: an Address, an address string ("127.0.0.1:0", "[::1]:0", "unix:/path"), or host/port/path. */
  address?: Address | string | undefined;
  host?: string | undefined;
  /** 0 (default) = any free port; read the chosen one from `server.address`. */
  port?: number | undefined;
  /** Unix socket path (removed again by close()). */
  path?: string | undefined;
  ipv6Only?: boolean | undefined;
  backlog?: number | undefined;
  /** Terminate TLS (e.g. options from `buildServerTlsOptions`): SNI, client certificates, ALPN. */
  tls?: tls.TlsOptions | undefined;
  /** TLS handshake time limit in ms (default 30 s). */
  tlsHandshakeTimeout?: number | undefined;
  /** Framer factories: each connection gets fresh framers. Default: passthrough. */
  framers?: FramerPair<FramerFactory> | undefined;
  socket?: FramedSocketOptions | undefined;
  /** Most simultaneous connections (TLS handshakes included); more are closed at once and counted. 0 = no limit. */
  maxConnections?: number | undefined;
  /** Without a callback: most accepted connections waiting for the `for await` consumer; more are closed and counted. */
  acceptQueue?: number | undefined;
  /** Failed TLS handshakes, handler rejections, accept errors. Default: counted only. */
  onError?: ((err: Error, info: { remoteAddress?: Address | undefined }) => void) | undefined;
}

/** Called for each connection; a rejected promise (or throw) destroys that connection with the error. */
export type ConnectionHandler = (conn: FramedConnection) => void | Promise<unknown>;

export interface ServerStats {
  accepted: number;
  active: number;
  /** Closed at once: over maxConnections, accept queue full, or arrived while closing. */
  rejected: number;
  tlsFailures: number;
  handlerErrors: number;
}

function listenAddress(opts: ListenFramedOptions): Address {
  if (opts.address !== undefined) return typeof opts.address === 'string' ? parseAddress(opts.address) : opts.address;
  if (opts.path !== undefined) return { kind: 'unix', path: opts.path };
  return { kind: 'tcp', host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 };
}

export class FramedServer implements AsyncIterable<FramedConnection> {
  /** The bound address (with the real port when 0 was asked for). */
  readonly address: Address;
  readonly stats: ServerStats = { accepted: 0, active: 0, rejected: 0, tlsFailures: 0, handlerErrors: 0 };

  readonly #server: net.Server;
  readonly #opts: ListenFramedOptions;
  readonly #handler: ConnectionHandler | undefined;
  readonly #conns = new Set<FramedConnection>();
  readonly #handshaking = new Set<net.Socket>();
  readonly #queue: FramedConnection[] = [];
  readonly #waiters: ((r: IteratorResult<FramedConnection, undefined>) => void)[] = [];
  readonly #serverClosed: Promise<void>;
  #closing = false;

  /** @internal use listenFramed() */
  constructor(server: net.Server, address: Address, opts: ListenFramedOptions, handler: ConnectionHandler | undefined) {
    this.#server = server;
    this.address = address;
    this.#opts = opts;
    this.#handler = handler;
    this.#serverClosed = new Promise((resolve) => server.once('close', resolve));
    server.on('connection', (raw: net.Socket) => this.#onSocket(raw));
    server.on('error', (err: Error) => this.#report(err, undefined));
  }

  /** Connections open now (handed out, queued or in the TLS handshake). */
  get connections(): number {
    return this.#conns.size + this.#handshaking.size;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /**
   * Graceful: stop accepting, end the `for await` loop, close queued connections nobody took and abort TLS
   * handshakes, then wait for the live connections to close (their owners close them). With `timeout` (ms),
   * connections still open then are destroyed.
   */
  async close(options: { timeout?: number } = {}): Promise<void> {
    this.#beginClose();
    let timer: NodeJS.Timeout | undefined;
    if (options.timeout !== undefined && options.timeout > 0) {
      timer = setTimeout(() => this.#destroyAll(shutdownError()), options.timeout);
    }
    try {
      await this.#settled();
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Stop accepting and destroy every connection now (with `err`, if given). Resolves once all are closed. */
  async destroy(err?: Error): Promise<void> {
    this.#beginClose();
    this.#destroyAll(err);
    await this.#settled();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<FramedConnection> {
    if (this.#handler) throw new Error('FramedServer: iterate only when listenFramed() was given no connection handler');
    const it: AsyncIterableIterator<FramedConnection> = {
      next: () => {
        const conn = this.#queue.shift();
        if (conn) return Promise.resolve({ done: false, value: conn });
        if (this.#closing) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => Promise.resolve({ done: true, value: undefined }),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  #beginClose(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#server.close();
    for (const w of this.#waiters.splice(0)) w({ done: true, value: undefined });
    for (const c of this.#queue.splice(0)) c.destroy();
    for (const raw of this.#handshaking) raw.destroy();
  }

  #destroyAll(err: Error | undefined): void {
    for (const raw of this.#handshaking) raw.destroy();
    for (const c of this.#conns) c.destroy(err);
  }

  async #settled(): Promise<void> {
    await this.#serverClosed;
    while (this.#conns.size > 0) await Promise.all([...this.#conns].map((c) => c.closed));
  }

  #report(err: Error, remoteAddress: Address | undefined): void {
    try {
      this.#opts.onError?.(err, { remoteAddress });
    } catch {
      // a throwing error hook must not take the server down
    }
  }

  #onSocket(raw: net.Socket): void {
    const max = this.#opts.maxConnections ?? 0;
    if (this.#closing || (max > 0 && this.connections >= max)) {
      this.stats.rejected++;
      raw.destroy();
      return;
    }
    this.stats.accepted++;
    const tlsOpts = this.#opts.tls;
    if (!tlsOpts) {
      this.#accept(raw, raw);
      return;
    }
    this.#handshaking.add(raw);
    const peer: Address | undefined = this.address.kind === 'tcp' ? { kind: 'tcp', host: raw.remoteAddress ?? '', port: raw.remotePort ?? 0 } : undefined;
    serverHandshake(raw, tlsOpts, {
      timeout: this.#opts.tlsHandshakeTimeout ?? DEFAULT_TLS_TIMEOUT,
      target: peer ? formatAddress(peer) : formatAddress(this.address),
    }).then(
      (sock) => {
        this.#handshaking.delete(raw);
        if (this.#closing) sock.destroy();
        else this.#accept(sock, raw);
      },
      (err: Error) => {
        this.#handshaking.delete(raw);
        this.stats.tlsFailures++;
        this.#report(err, peer);
      },
    );
  }

  #accept(sock: net.Socket, raw: net.Socket): void {
    const conn = new FramedConnection(sock, {
      side: 'server',
      raw,
      unixPath: this.address.kind === 'unix' ? this.address.path : undefined,
      framers: this.#opts.framers,
      socket: this.#opts.socket,
      readHighWaterMark: this.#opts.readHighWaterMark,
    });
    this.#conns.add(conn);
    this.stats.active++;
    void conn.closed.then(() => {
      this.#conns.delete(conn);
      this.stats.active--;
    });
    const handler = this.#handler;
    if (handler) {
      const fail = (err: unknown): void => {
        const e = err instanceof Error ? err : new Error(String(err));
        this.stats.handlerErrors++;
        this.#report(e, conn.remoteAddress);
        conn.destroy(e);
      };
      try {
        const r = handler(conn);
        if (r && typeof r.then === 'function') r.then(undefined, fail);
      } catch (err) {
        fail(err);
      }
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter({ done: false, value: conn });
    } else if (this.#queue.length >= (this.#opts.acceptQueue ?? DEFAULT_ACCEPT_QUEUE)) {
      this.stats.rejected++;
      conn.destroy();
    } else {
      this.#queue.push(conn);
    }
  }
}

function shutdownError(): SwitchyardError {
  return new SwitchyardError(ErrorCodes.SHUTDOWN, 'server closed: drain timeout reached');
}

/**
 * Listen and resolve once bound. Each accepted connection becomes a FramedConnection handed to `onConnection`;
 * without a handler, iterate the server: `for await (const conn of server)`. Rejects with SWY_LISTEN_FAILED.
 */
export function listenFramed(opts: ListenFramedOptions, onConnection?: ConnectionHandler): Promise<FramedServer> {
  const want = listenAddress(opts);
  const server = net.createServer({ allowHalfOpen: true });
  return new Promise<FramedServer>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new SwitchyardError(ErrorCodes.LISTEN_FAILED, `cannot listen on ${formatAddress(want)}: ${err.message}`, {
          cause: err,
          details: { address: formatAddress(want), syscode: err.code },
        }),
      );
    };
    server.once('error', onError);
    const listenOpts: net.ListenOptions = toListenOptions(want, opts.backlog === undefined ? {} : { backlog: opts.backlog });
    if (opts.ipv6Only !== undefined) listenOpts.ipv6Only = opts.ipv6Only;
    server.listen(listenOpts, () => {
      server.off('error', onError);
      const info = server.address();
      const bound: Address =
        typeof info === 'string' || info === null
          ? { kind: 'unix', path: want.kind === 'unix' ? want.path : String(info) }
          : { kind: 'tcp', host: info.address, port: info.port };
      resolve(new FramedServer(server, bound, opts, onConnection));
    });
  });
}
