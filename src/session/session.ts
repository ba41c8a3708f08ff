import type { Socket } from 'node:net';
import type { FramerFactory } from '../framing/framer.js';
import type { HandlerFactory, SessionContext, Direction, SessionIO } from '../pipeline/handler.js';
import type { ProtocolCodecFactory } from '../protocols/protocol.js';
import { HandlerChain } from '../pipeline/chain.js';
import { ErrorCodes, SwitchyardError, errorCode } from '../core/errors.js';
import { PASSTHROUGH_FACTORY } from '../framing/passthrough.js';
import type { TrafficStats } from '../core/stats.js';
import type { Logger } from '../core/log.js';
import { resetStream, type UpstreamStream } from './upstream-stream.js';
import { FramedPath, type FramedOwner } from './framed-path.js';
import { HandlerContext } from './context.js';
import { SessionState, afterFin, illegalTransition, sessionCanMove, sessionStateName } from './state.js';

/**
 * The director's answer for a new session: how to open the upstream stream (a socket, or any duplex of the
 * {@link UpstreamStream} shape). Engines that need more than one upstream (replication) take over the accepted
 * socket instead of going through a Session.
 */
export type UpstreamConnector = (signal?: AbortSignal) => Promise<UpstreamStream>;

export interface SessionFraming {
  toUpstream: FramerFactory;
  toDownstream: FramerFactory;
  /** A protocol codec: when set, both directions' framers come from one codec per connection (and win over the two above). */
  codec?: ProtocolCodecFactory | undefined;
}

export interface SessionOptions {
  id: number;
  listenerId: string;
  /** Accepted client socket, paused (the listener uses pauseOnConnect) so nothing is read before the upstream is up. */
  client: Socket;
  connect: UpstreamConnector;
  /** Omit (or use passthrough framers with no handlers) for the zero-copy byte path. */
  framing?: SessionFraming | undefined;
  handlers?: readonly HandlerFactory[] | undefined;
  /** ms of silence in both directions before the session is closed; 0 = never. */
  idleTimeout: number;
  /** Every stats object this session counts into (listener, route, cluster). */
  stats: readonly TrafficStats[];
  logger: Logger;
  onClose?: (session: Session) => void;
}

/**
 * One proxied client connection: wiring and lifecycle only. Owns the client socket and the upstream socket; the
 * framed path (framers and handler chain) when the listener frames connections. Knows nothing about protocols or
 * faults. Its lifecycle is one {@link SessionState}, changed only by `#to`.
 *
 * Semantics: byte-exact; backpressure both ways (a side whose writes are buffered pauses the other side's reads);
 * a FIN is forwarded as a FIN while the other direction keeps flowing; an RST is forwarded as an RST.
 */
export class Session {
  readonly id: number;
  readonly client: Socket;
  upstream: UpstreamStream | undefined;
  readonly #opts: SessionOptions;
  readonly #stats: readonly TrafficStats[];
  #state: SessionState = SessionState.Connecting;
  /** Trace transitions at debug level (decided once, when the session starts). */
  readonly #trace: boolean;
  /** Made when a handler asks for the signal (or passed to a connect started after that); aborted only then. */
  #abort: AbortController | undefined;
  #signalShared = false;
  #openSockets = 1;
  /** Date.now() of the last chunk on the raw byte path (the framed path keeps its own). */
  #lastActivity = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Undefined on the raw byte path. */
  #framed: FramedPath | undefined;
  #closedPromise: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;
  #context: SessionContext | undefined;

  constructor(opts: SessionOptions) {
    this.id = opts.id;
    this.client = opts.client;
    this.#opts = opts;
    this.#stats = opts.stats;
    this.#trace = opts.logger.isLevelEnabled('debug');
    for (const s of this.#stats) {
      s.active++;
      s.total++;
    }
    const client = opts.client;
    client.on('error', (err) => this.#onSocketError('client', err));
    client.on('close', () => this.#onSocketClose());
    if (opts.idleTimeout > 0) this.#armIdle(opts.idleTimeout);
  }

  // ---- connect -------------------------------------------------------------------------------------------

  /** Connect upstream and start forwarding. Never rejects: failures close the client and are counted. */
  async start(): Promise<void> {
    let upstream: UpstreamStream;
    try {
      // No AbortSignal is made just for the connect (creating one costs ~3 µs per connection in Node 20): if the
      // client leaves meanwhile, the upstream is destroyed as soon as the attempt settles (below).
      upstream = await this.#opts.connect(this.#abort?.signal);
    } catch (err) {
      if (this.#state === SessionState.Closed) return;
      this.#countError(err);
      this.#opts.logger.warn({ session: this.id, code: errorCode(err), err: (err as Error).message }, 'upstream connect failed; closing client');
      this.#beginClosing();
      this.client.destroy();
      return;
    }
    if (this.#state === SessionState.Closed || this.client.destroyed) {
      this.#beginClosing();
      upstream.destroy();
      return;
    }
    this.upstream = upstream;
    this.#openSockets++;
    upstream.on('error', (err) => this.#onSocketError('upstream', err));
    upstream.on('close', () => this.#onSocketClose());
    this.#to(SessionState.Open);
    const handlers = this.#opts.handlers ?? [];
    const framing = this.#opts.framing;
    const needsFraming = handlers.length > 0 || (framing !== undefined && (!isPassthrough(framing.toUpstream) || !isPassthrough(framing.toDownstream)));
    if (needsFraming || framing?.codec !== undefined) this.#wireFramed(upstream, handlers);
    else this.#wireRaw(upstream);
    this.client.resume();
  }

  /** The zero-copy byte path: each chunk is written as received; no framer, no handler. */
  #wireRaw(upstream: UpstreamStream): void {
    const client = this.client;
    const stats = this.#stats;
    const track = this.#opts.idleTimeout > 0;
    client.on('data', (chunk: Buffer) => {
      for (let i = 0; i < stats.length; i++) stats[i]!.bytesToUpstream += chunk.length;
      if (track) this.#lastActivity = Date.now();
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('data', (chunk: Buffer) => {
      for (let i = 0; i < stats.length; i++) stats[i]!.bytesToDownstream += chunk.length;
      if (track) this.#lastActivity = Date.now();
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('end', () => {
      this.#finForwarded('toUpstream');
      upstream.end();
    });
    upstream.on('end', () => {
      this.#finForwarded('toDownstream');
      client.end();
    });
    upstream.on('drain', () => client.resume());
    client.on('drain', () => upstream.resume());
  }

  #wireFramed(upstream: UpstreamStream, handlers: readonly HandlerFactory[]): void {
    const client = this.client;
    const framing = this.#opts.framing;
    const owner: FramedOwner = {
      isClosed: () => this.#state === SessionState.Closed,
      fail: (err, dir) => this.#fail(err, dir),
      truncated: (err, dir) => this.#truncated(err, dir),
      finForwarded: (dir) => this.#finForwarded(dir),
      reset: () => this.#reset(),
      close: (error) => this.#closeForHandler(error),
    };
    const codec = framing?.codec?.create();
    const framed = (this.#framed = new FramedPath({
      sessionId: this.id,
      client,
      upstream,
      toUpstream: codec ? codec.toUpstream : (framing?.toUpstream ?? PASSTHROUGH_FACTORY).create(),
      toDownstream: codec ? codec.toDownstream : (framing?.toDownstream ?? PASSTHROUGH_FACTORY).create(),
      codec,
      stats: this.#stats,
      trackActivity: this.#opts.idleTimeout > 0,
      logger: this.#opts.logger,
      owner,
    }));
    framed.attach(new HandlerChain(handlers.map((h) => h.create(this.context)), this.context));
    client.on('data', (chunk: Buffer) => framed.onData('toUpstream', chunk));
    upstream.on('data', (chunk: Buffer) => framed.onData('toDownstream', chunk));
    client.on('end', () => framed.onEnd('toUpstream'));
    upstream.on('end', () => framed.onEnd('toDownstream'));
    upstream.on('drain', () => framed.onDrained('toUpstream'));
    client.on('drain', () => framed.onDrained('toDownstream'));
  }

  // ---- lifecycle -----------------------------------------------------------------------------------------

  /** The one transition function: refuses (and reports, as a typed error) an edge the state diagram lacks. */
  #to(next: SessionState): boolean {
    const from = this.#state;
    if (!sessionCanMove(from, next)) {
      const err = illegalTransition(`session ${this.id}`, sessionStateName(from), sessionStateName(next));
      this.#countError(err);
      this.#opts.logger.error({ session: this.id, code: err.code, err: err.message }, 'session refused a state change');
      return false;
    }
    this.#state = next;
    if (this.#trace) this.#opts.logger.debug({ session: this.id, from: sessionStateName(from), to: sessionStateName(next) }, 'session state');
    return true;
  }

  /** A FIN was forwarded toward `dir`'s destination: the session is half-closed that way (or draining). */
  #finForwarded(dir: Direction): void {
    const next = afterFin(this.#state, dir === 'toUpstream');
    if (next !== undefined) this.#to(next);
  }

  #beginClosing(): void {
    if (this.#state < SessionState.Closing) this.#to(SessionState.Closing);
  }

  /** A framing/handler error: count it, and close this session only. */
  #truncated(err: unknown, dir: Direction): void {
    this.#countError(err);
    this.#opts.logger.warn({ session: this.id, direction: dir, code: errorCode(err), err: (err as Error).message }, 'input ended inside a frame: the complete frames went on, the tail was dropped');
  }

  #fail(err: unknown, dir: Direction): void {
    if (this.#state === SessionState.Closed) return;
    this.#countError(err);
    this.#opts.logger.warn({ session: this.id, direction: dir, code: errorCode(err), err: (err as Error).message }, 'closing session');
    this.destroy();
  }

  #onSocketError(side: 'client' | 'upstream', err: NodeJS.ErrnoException): void {
    const other = side === 'client' ? this.upstream : this.client;
    const reset = err.code === 'ECONNRESET';
    const code = reset ? (side === 'client' ? ErrorCodes.CLIENT_RESET : ErrorCodes.UPSTREAM_RESET) : side === 'client' ? ErrorCodes.CLIENT_ERROR : ErrorCodes.UPSTREAM_ERROR;
    for (const s of this.#stats) s.error(code);
    this.#opts.logger.debug({ session: this.id, side, code, syscode: err.code }, reset ? 'peer reset; resetting the other side' : 'socket error');
    this.#beginClosing();
    // An RST (or any abnormal end) on one side becomes an RST on the other.
    if (other && !other.destroyed) resetStream(other);
    if (side === 'client') this.#abortNow();
  }

  #onSocketClose(): void {
    this.#openSockets--;
    if (this.#openSockets === 0 || (this.upstream === undefined && this.client.destroyed)) this.#finish();
    else if (this.client.destroyed && this.upstream && !this.upstream.destroyed && this.upstream.readableEnded === false && this.client.readableEnded === false) {
      // Client vanished without FIN or RST (destroyed locally): nothing more can reach it.
      this.#beginClosing();
      this.upstream.destroy();
    }
  }

  #finish(): void {
    if (this.#state === SessionState.Closed) return;
    this.#to(SessionState.Closed);
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#abortNow();
    this.#framed?.detach();
    for (const s of this.#stats) s.active--;
    this.#resolveClosed?.();
    this.#opts.onClose?.(this);
  }

  #armIdle(ms: number): void {
    this.#lastActivity = Date.now();
    const check = (): void => {
      const idle = Date.now() - (this.#framed ? Math.max(this.#framed.lastActivity, this.#lastActivity) : this.#lastActivity);
      if (idle >= ms) {
        for (const s of this.#stats) s.error(ErrorCodes.IDLE_TIMEOUT);
        this.#opts.logger.debug({ session: this.id, idleMs: idle }, 'idle timeout');
        this.destroy();
      } else {
        this.#idleTimer = setTimeout(check, ms - idle).unref();
      }
    };
    this.#idleTimer = setTimeout(check, ms).unref();
  }

  #countError(err: unknown): void {
    const code = errorCode(err);
    for (const s of this.#stats) s.error(code);
  }

  /** Per-session facts for handlers; built on first use (most passthrough sessions never need it). */
  get context(): SessionContext {
    this.#context ??= new HandlerContext(this.id, this.#opts.listenerId, this.client, this.#opts.logger, this.#opts.framing, {
      signal: () => {
        this.#signalShared = true;
        return this.#signal();
      },
      io: () => this.#io(),
      codec: () => this.#framed?.codec,
    });
    return this.#context;
  }

  #io(): SessionIO {
    if (this.#framed) return this.#framed;
    throw new SwitchyardError(ErrorCodes.INTERNAL, `session ${this.id} forwards raw bytes: handlers (and their io) need a framed session`);
  }

  #signal(): AbortSignal {
    this.#abort ??= new AbortController();
    return this.#abort.signal;
  }

  /** Abort pending work, but only when something may be listening (a connect in flight, or a handler). */
  #abortNow(): void {
    if (this.#abort && !this.#abort.signal.aborted && (this.#state === SessionState.Connecting || this.#signalShared)) this.#abort.abort(SESSION_ENDED);
  }

  /** A handler closes the session: count its error, then close gracefully. */
  #closeForHandler(error: SwitchyardError | undefined): void {
    if (error) {
      this.#countError(error);
      this.#opts.logger.debug({ session: this.id, code: errorCode(error), err: error.message }, 'handler closed the session');
    }
    this.#closeGracefully();
  }

  /** Stop reading; let written bytes reach both peers (FIN), then close; destroy whatever lingers after 2 s. */
  #closeGracefully(): void {
    this.#beginClosing();
    this.#abortNow();
    for (const sock of [this.client, this.upstream]) {
      if (!sock || sock.destroyed) continue;
      sock.pause();
      sock.removeAllListeners('data');
      if (sock.writableLength === 0) {
        sock.destroy();
        continue;
      }
      sock.end();
      sock.once('finish', () => sock.destroy());
      setTimeout(() => sock.destroy(), 2000).unref();
    }
    if (!this.upstream) this.#finish();
  }

  /** Both sides with an RST. */
  #reset(): void {
    if (this.#state === SessionState.Closed) return;
    this.#beginClosing();
    this.#abortNow();
    resetStream(this.client);
    if (this.upstream && !this.upstream.destroyed) resetStream(this.upstream);
    if (!this.upstream) this.#finish();
  }

  /** Resolves when both sockets are closed. */
  get closed(): Promise<void> {
    if (this.#state === SessionState.Closed) return Promise.resolve();
    this.#closedPromise ??= new Promise<void>((r) => (this.#resolveClosed = r));
    return this.#closedPromise;
  }

  /** Close both sides now. */
  destroy(): void {
    this.#beginClosing();
    this.#abortNow();
    this.client.destroy();
    this.upstream?.destroy();
    if (!this.upstream) this.#finish();
  }

  /** Shutdown helper: FIN both sides, let buffered bytes flush (the state follows as the peers answer). */
  end(): void {
    this.client.end();
    this.upstream?.end();
  }

  get isClosed(): boolean {
    return this.#state === SessionState.Closed;
  }

  /** Where the session stands in its lifecycle. */
  get state(): SessionState {
    return this.#state;
  }
}

function isPassthrough(f: FramerFactory): boolean {
  return f.name === 'passthrough';
}

/** One preallocated abort reason: abort() without a reason builds a DOMException per call. */
const SESSION_ENDED = new SwitchyardError(ErrorCodes.SHUTDOWN, 'session ended');
