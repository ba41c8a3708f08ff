/**
 * TLS handshakes over an already connected TCP/Unix socket, for both roles. Used by connectFramed (TLS), by
 * listenFramed (TLS) and by FramedConnection.startTls (STARTTLS), so all three behave the same.
 *
 * - Client: `tls.connect({ socket })`; Node verifies the server certificate (unless rejectUnauthorized is false).
 * - Server: a `tls.Server` that never listens is cached per options object and handed each raw socket with
 *   `emit('connection')`. That gives exactly tls.Server's behaviour (SNI, client-certificate verification and
 *   rejection, ALPN, session tickets) with a secure context parsed once, not per connection.
 *
 * Bytes already held in the raw socket's read buffer (`socket.unshift()`ed by the caller) are fed to TLS as the
 * first received ciphertext by Node's TLSSocket (its `initRead`).
 */
import net from 'node:net';
import tls from 'node:tls';
import { ErrorCodes, SwitchyardError, type ErrorCode } from '../core/errors.js';
import { abortError, type ConnectionSide } from './types.js';

export interface HandshakeContext {
  /** Peer host (client role): certificate identity and, for names, the SNI default. */
  host?: string | undefined;
  /** ms; 0 = no limit. */
  timeout: number;
  signal?: AbortSignal | undefined;
  /** For error messages. */
  target: string;
}

/** A handshake failure as a typed error: SWY_UPSTREAM_TLS (client role) or SWY_CLIENT_ERROR (server role). */
export function tlsError(role: ConnectionSide, err: unknown, target: string): Error {
  if (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError') return err as Error;
  if (err instanceof SwitchyardError) return err;
  const e = err as NodeJS.ErrnoException;
  const code: ErrorCode = role === 'client' ? ErrorCodes.UPSTREAM_TLS : ErrorCodes.CLIENT_ERROR;
  return new SwitchyardError(code, `TLS handshake with ${target} failed: ${e.message}`, {
    cause: err,
    details: { syscode: e.code ?? 'UNKNOWN', target, role },
  });
}

function timeoutError(role: ConnectionSide, ms: number, target: string): SwitchyardError {
  return new SwitchyardError(
    role === 'client' ? ErrorCodes.UPSTREAM_TIMEOUT : ErrorCodes.CLIENT_ERROR,
    `TLS handshake with ${target} did not complete within ${ms} ms`,
    { details: { target, timeout: ms, role } },
  );
}

/**
 * Runs `start` with a settle-once promise guarded by timeout and signal; `cleanup` always runs, `onFail` destroys
 * whatever is half-built.
 */
function guarded<T>(
  role: ConnectionSide,
  ctx: HandshakeContext,
  onFail: (err: Error) => void,
  start: (ok: (v: T) => void, fail: (err: unknown) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let cleanup: () => void = () => undefined;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => fail(abortError(ctx.signal!));
    const finish = (): void => {
      done = true;
      if (timer) clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onAbort);
      cleanup();
    };
    function ok(v: T): void {
      if (done) return;
      finish();
      resolve(v);
    }
    function fail(err: unknown): void {
      if (done) return;
      finish();
      const e = tlsError(role, err, ctx.target);
      onFail(e);
      reject(e);
    }
    if (ctx.signal?.aborted) {
      fail(abortError(ctx.signal));
      return;
    }
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    if (ctx.timeout > 0) timer = setTimeout(() => fail(timeoutError(role, ctx.timeout, ctx.target)), ctx.timeout);
    try {
      cleanup = start(ok, fail);
    } catch (err) {
      fail(err);
    }
    if (done) cleanup();
  });
}

/** Client-role handshake over `raw`; resolves with the verified TLS socket. On failure `raw` is destroyed. */
export function clientHandshake(raw: net.Socket, options: tls.ConnectionOptions, ctx: HandshakeContext): Promise<tls.TLSSocket> {
  let sock: tls.TLSSocket | undefined;
  return guarded<tls.TLSSocket>(
    'client',
    ctx,
    () => {
      sock?.destroy();
      raw.destroy();
    },
    (ok, fail) => {
      const opts: tls.ConnectionOptions = { ...options, socket: raw };
      if (opts.host === undefined && ctx.host !== undefined) opts.host = ctx.host;
      // SNI default: the host when it is a name (RFC 6066 forbids IP addresses in SNI).
      if (opts.servername === undefined && opts.host !== undefined && opts.host !== '' && net.isIP(opts.host) === 0) {
        opts.servername = opts.host;
      }
      const onError = (err: Error): void => fail(err);
      const onClose = (): void => fail(new Error('connection closed during the TLS handshake'));
      try {
        sock = tls.connect(opts);
      } catch (err) {
        fail(err);
        return () => undefined;
      }
      const s = sock;
      s.once('secureConnect', () => ok(s));
      s.on('error', onError);
      s.once('close', onClose);
      return () => {
        s.off('error', onError);
        s.off('close', onClose);
      };
    },
  );
}

interface PendingHandshake {
  ok(sock: tls.TLSSocket): void;
  fail(err: unknown): void;
}

/** A never-listening tls.Server that performs server-side handshakes on sockets handed to it. */
class Handshaker {
  readonly #server: tls.Server;
  readonly #pending = new Map<net.Socket, PendingHandshake>();

  constructor(options: tls.TlsOptions) {
    this.#server = tls.createServer(options);
    this.#server.on('secureConnection', (sock: tls.TLSSocket) => {
      const p = this.#take(sock);
      if (p) p.ok(sock);
      else sock.destroy();
    });
    this.#server.on('tlsClientError', (err: Error, sock: tls.TLSSocket) => {
      this.#take(sock)?.fail(err);
    });
  }

  /** The raw socket under a server TLSSocket (Node sets `_parent` when wrapping a net.Socket). */
  #take(sock: tls.TLSSocket): PendingHandshake | undefined {
    let raw = (sock as unknown as { _parent?: unknown })._parent;
    if (!(raw instanceof net.Socket) && this.#pending.size === 1) raw = this.#pending.keys().next().value;
    if (!(raw instanceof net.Socket)) return undefined;
    const p = this.#pending.get(raw);
    this.#pending.delete(raw);
    return p;
  }

  handshake(raw: net.Socket, ctx: HandshakeContext): Promise<tls.TLSSocket> {
    return guarded<tls.TLSSocket>(
      'server',
      ctx,
      () => raw.destroy(),
      (ok, fail) => {
        const onClose = (): void =>
          fail(new Error('connection closed during the TLS handshake (e.g. a client certificate that did not verify)'));
        raw.once('close', onClose);
        // The TLS socket inherits allowHalfOpen from `raw`. While handshaking it must be false, else a peer's FIN
        // before the handshake ends leaves a half-open socket that neither completes nor fails. Restored after.
        const halfOpen = raw.allowHalfOpen;
        raw.allowHalfOpen = false;
        this.#pending.set(raw, {
          ok: (sock) => {
            raw.allowHalfOpen = halfOpen;
            sock.allowHalfOpen = halfOpen;
            ok(sock);
          },
          fail,
        });
        this.#server.emit('connection', raw);
        return () => {
          raw.off('close', onClose);
          this.#pending.delete(raw);
        };
      },
    );
  }
}

const handshakers = new WeakMap<object, Handshaker>();

/**
 * Server-role handshake over `raw` with `options` (cached per options object: reuse one object, e.g. from
 * `buildServerTlsOptions`). Client certificates are verified per `requestCert` / `rejectUnauthorized`.
 */
export function serverHandshake(raw: net.Socket, options: tls.TlsOptions, ctx: HandshakeContext): Promise<tls.TLSSocket> {
  let h = handshakers.get(options);
  if (!h) {
    h = new Handshaker(options);
    handshakers.set(options, h);
  }
  return h.handshake(raw, ctx);
}
