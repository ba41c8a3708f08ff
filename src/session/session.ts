import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FramerFactory } from '../framing/framer.js';
import type { FrameHandler, HandlerFactory, SessionContext, Direction, SessionIO } from '../pipeline/handler.js';
import type { ProtocolCodecFactory } from '../protocols/protocol.js';
import { EMPTY_CHAIN, HandlerChain } from '../pipeline/chain.js';
import { ErrorCodes, SwitchyardError, errorCode } from '../core/errors.js';
import { PASSTHROUGH_FACTORY } from '../framing/passthrough.js';
import type { TrafficStats } from '../core/stats.js';
import type { Logger } from '../core/log.js';
import { resetStream, type UpstreamStream } from './upstream-stream.js';
import { FramedPath, type FramedOwner } from './framed-path.js';
import { HandlerContext } from './context.js';
import { RequestClock, type SessionTraffic } from './request-clock.js';
import type { LatencyHistogram } from '../core/latency.js';
import { SessionState, afterFin, illegalTransition, sessionCanMove, sessionStateName } from './state.js';
import { EXPIRY_CODES, RequestDeadline, expiryMessage, limitsActive, type RequestExpiry, type RequestLimits } from './request-deadline.js';
import { REFUSAL_CODES, answerAndClose, connectRefusal, inputRefusal, refusalReply, refuseBeforeUpstream } from './refusal.js';
import type { RefusalReason } from '../protocols/protocol.js';
import { SplicePath } from './splice-path.js';
import { offAllChunks, onChunks } from '../net/chunk-reader.js';

/**
 * Where a side's reads go: a plain socket reads into the shared buffer ({@link onChunks}); any other stream (TLS, a
 * per-request router) emits `'data'`. Returns the function that takes the listener off.
 */
function chunksOf(stream: UpstreamStream | Socket, fn: (chunk: Buffer) => void): () => void {
  if (stream instanceof Socket) return onChunks(stream, fn);
  stream.on('data', fn);
  return () => {
    stream.off('data', fn);
  };
}

/** Take every reader off a side ({@link chunksOf}'s and any `'data'` listener): nothing more reaches the session. */
function dropReaders(stream: UpstreamStream | Socket): void {
  stream.removeAllListeners('data');
  if (stream instanceof Socket) offAllChunks(stream);
}

/**
 * The director's answer for a new session: how to open the upstream stream (a socket, or any duplex of the
 * {@link UpstreamStream} shape). Engines that need more than one upstream (replication) take over the accepted
 * socket instead of going through a Session.
 */
export type UpstreamConnector = (signal?: AbortSignal, hints?: ConnectHints) => Promise<UpstreamStream>;

export interface ConnectHints {
  /** Pause the socket as it connects, so Node never reads it (the splice path hands it to the addon unread). */
  paused?: boolean | undefined;
}

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
  /** performance.now() when the listener accepted the client (kept for `onClose`; default: when the session was made). */
  acceptedAt?: number | undefined;
  connect: UpstreamConnector;
  /** Omit (or use passthrough framers with no handlers) for the zero-copy byte path. */
  framing?: SessionFraming | undefined;
  handlers?: readonly HandlerFactory[] | undefined;
  /** ms of silence in both directions before the session is closed; 0 = never. */
  idleTimeout: number;
  /** Protocol listeners: how a request must arrive (requestHeaderTimeout, requestTimeout, minDataRate). */
  requestLimits?: RequestLimits | undefined;
  /** Names the upstream in refusals (the cluster id). */
  upstreamName?: string | undefined;
  /** Every stats object this session counts into (listener, route, cluster). */
  stats: readonly TrafficStats[];
  logger: Logger;
  /**
   * Raw passthrough over plain TCP may be moved by the splice(2) addon (session/splice-path.ts); the JS path is
   * used whenever that is not possible.
   */
  splice?: boolean | undefined;
  /** Protocol listeners: where request durations (first request frame read → answer written) are observed. */
  requestDuration?: LatencyHistogram | undefined;
  /** Protocol listeners: the traffic tail sampled requests are recorded in (with the session's route and cluster). */
  traffic?: SessionTraffic | undefined;
  /** Remember both peers' addresses when the upstream connects ({@link peers}; raw TCP traffic records). */
  notePeers?: boolean | undefined;
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
  /** performance.now() when the listener accepted the client. */
  readonly acceptedAt: number;
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
  #deadline: RequestDeadline | undefined;
  /** The proxy answered the client itself and is closing: nothing more is forwarded. */
  #refused = false;
  /** The handlers this session runs: the listener's and route's, and any added live by {@link addHandler}. */
  #handlerFactories: readonly HandlerFactory[];
  /** Their instances, once the framed path is wired (in the same order). */
  #handlerInstances: readonly FrameHandler[] = NO_INSTANCES;
  /**
   * Set while the session forwards raw bytes although it has handlers, all idle when it started
   * ({@link HandlerFactory.idle}): the factories then, and the tickets their handlers are created with later.
   */
  #deferred: { factories: readonly HandlerFactory[]; tickets: number[] } | undefined;
  /** Takes the zero-copy path's listeners off both sockets (set while the session is on that path). */
  #unwireRaw: (() => void) | undefined;
  /** Set while (and after) the splice addon moves this session's bytes. */
  #splice: SplicePath | undefined;
  #firstError: string | undefined;
  #peers: { source: string | undefined; endpoint: string | undefined } | undefined;
  /** Protocol sessions with a request-duration histogram or a traffic tail. */
  #clock: RequestClock | undefined;

  constructor(opts: SessionOptions) {
    this.id = opts.id;
    this.client = opts.client;
    this.acceptedAt = opts.acceptedAt ?? performance.now();
    this.#opts = opts;
    this.#stats = opts.stats;
    this.#handlerFactories = opts.handlers ?? NO_HANDLERS;
    if (opts.notePeers === true) this.#peers = { source: addressOf(opts.client), endpoint: undefined };
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
      upstream = await this.#opts.connect(this.#abort?.signal, this.#opts.splice === true ? PAUSED : undefined);
    } catch (err) {
      if (this.#state === SessionState.Closed) return;
      this.#countError(err);
      this.#opts.logger.warn({ session: this.id, code: errorCode(err), err: (err as Error).message }, 'upstream connect failed; closing client');
      this.#beginClosing();
      const codec = this.#opts.framing?.codec;
      if (codec === undefined || this.client.destroyed) this.client.destroy();
      else {
        const reason = connectRefusal(err);
        const waitMs = this.#opts.requestLimits?.headerTimeout || 10_000;
        refuseBeforeUpstream(this.client, codec.create(), reason, this.#upstreamMessage((err as Error).message), waitMs, (sent) => {
          if (sent) this.#countRefusal(reason);
        });
      }
      return;
    }
    if (this.#state === SessionState.Closed || this.client.destroyed) {
      this.#beginClosing();
      upstream.destroy();
      return;
    }
    this.upstream = upstream;
    if (this.#peers !== undefined) this.#peers.endpoint = addressOf(upstream as Partial<Socket>);
    this.#openSockets++;
    upstream.on('error', (err) => this.#onSocketError('upstream', err));
    upstream.on('close', () => this.#onSocketClose());
    this.#to(SessionState.Open);
    const handlers = this.#handlerFactories;
    const framing = this.#opts.framing;
    const framedBytes = framing !== undefined && (framing.codec !== undefined || !isPassthrough(framing.toUpstream) || !isPassthrough(framing.toDownstream));
    if (framedBytes || (handlers.length > 0 && !this.#defer(handlers))) this.#wireFramed(upstream, handlers);
    // no handlers, or all of them idle (raw bytes until one has work: addHandler): the splice path when it can, else JS
    else if (this.#opts.splice === true && this.#startSplice(upstream, handlers.length > 0)) return;
    else this.#wireRaw(upstream, handlers.length > 0);
    this.client.resume();
    if (this.#opts.splice === true) upstream.resume(); // connected paused for the splice path, which was not taken
  }

  /**
   * Hand both sockets to the splice addon (which then times idleness); false: nothing changed, wire the JS path.
   * `countFrames`: the session has idle handlers (each read counts as a frame, as on the JS path).
   */
  #startSplice(upstream: UpstreamStream, countFrames: boolean): boolean {
    if (!(upstream instanceof Socket)) return false;
    this.#splice = SplicePath.start({
      sessionId: this.id,
      client: this.client,
      upstream,
      idleTimeout: this.#opts.idleTimeout,
      stats: this.#stats,
      logger: this.#opts.logger,
      owner: { finForwarded: (dir) => this.#finForwarded(dir), idle: () => this.destroy() },
      countFrames,
    });
    if (this.#splice === undefined) return false;
    clearTimeout(this.#idleTimer);
    return true;
  }

  /**
   * Every handler can wait (see {@link HandlerFactory.idle}): take their tickets and start without them. False (no
   * ticket taken): one of them has work, or does not say.
   */
  #defer(handlers: readonly HandlerFactory[]): boolean {
    for (const h of handlers) if (h.idle?.() !== true || h.ticket === undefined) return false;
    this.#deferred = { factories: handlers, tickets: handlers.map((h) => h.ticket!()) };
    return true;
  }

  /**
   * The zero-copy byte path: each chunk is written as received; no framer, no handler. `countFrames`: the session
   * has idle handlers, so it counts each chunk as the framed path's passthrough framer would (one frame per read).
   */
  #wireRaw(upstream: UpstreamStream, countFrames = false): void {
    const client = this.client;
    const stats = this.#stats;
    const track = this.#opts.idleTimeout > 0;
    const clientData = (chunk: Buffer): void => {
      for (let i = 0; i < stats.length; i++) stats[i]!.bytesToUpstream += chunk.length;
      if (countFrames) for (let i = 0; i < stats.length; i++) stats[i]!.framesToUpstream++;
      if (track) this.#lastActivity = Date.now();
      if (!upstream.write(chunk)) client.pause();
    };
    const upstreamData = (chunk: Buffer): void => {
      for (let i = 0; i < stats.length; i++) stats[i]!.bytesToDownstream += chunk.length;
      if (countFrames) for (let i = 0; i < stats.length; i++) stats[i]!.framesToDownstream++;
      if (track) this.#lastActivity = Date.now();
      if (!client.write(chunk)) upstream.pause();
    };
    const clientEnd = (): void => {
      this.#finForwarded('toUpstream');
      upstream.end();
    };
    const upstreamEnd = (): void => {
      this.#finForwarded('toDownstream');
      client.end();
    };
    const upstreamDrain = (): void => {
      client.resume();
    };
    const clientDrain = (): void => {
      upstream.resume();
    };
    const offClient = chunksOf(client, clientData);
    const offUpstream = chunksOf(upstream, upstreamData);
    client.on('end', clientEnd);
    upstream.on('end', upstreamEnd);
    upstream.on('drain', upstreamDrain);
    client.on('drain', clientDrain);
    // Kept for a switch to the framed path (a fault added at run time): nothing of it runs per chunk. Assigned from a
    // local: a function literal assigned straight to a property is allocated in the old generation, where it would
    // keep this connection's objects through every scavenge (see docs/architecture.md, "Closures and the GC").
    const unwire = (): void => {
      offClient();
      offUpstream();
      client.off('end', clientEnd);
      upstream.off('end', upstreamEnd);
      upstream.off('drain', upstreamDrain);
      client.off('drain', clientDrain);
    };
    this.#unwireRaw = unwire;
  }

  /**
   * Run one more handler from now on, at `index` in the handler order (the listener's fault stage when a fault
   * arrives at run time on a listener whose connections took the zero-copy path).
   *
   * - connecting: the session starts with it;
   * - zero-copy path: switches to the framed path between two chunks. The raw listeners come off and the framed
   *   ones go on in one synchronous step (Node emits chunks one by one from the event loop), so no chunk is lost
   *   and none is framed twice; bytes already written stay written; a source paused for backpressure waits for
   *   the same 'drain'; a direction whose FIN was already handed on stays ended;
   * - framed path: a new chain with the same handler instances and the new one; a frame already inside a handler
   *   finishes its way there.
   *
   * Returns false when the session is closing or closed (nothing more reaches its peers), or the handler failed
   * to start (the session is then closed with its error).
   */
  addHandler(factory: HandlerFactory, index: number): boolean {
    if (this.#state >= SessionState.Closing) return false;
    const factories = this.#handlerFactories;
    if (factories.includes(factory)) {
      // a handler the session started without (it was idle) that has work now: take the framed path with it
      const upstream = this.upstream;
      if (this.#deferred !== undefined && this.#framed === undefined && upstream !== undefined && factory.idle?.() === false) {
        try {
          // on the splice path the addon lets the sockets go first; the framed path starts from there (#spliceToJs)
          if (!(this.#splice?.release((back) => back && this.#spliceToJs(upstream)) ?? false)) this.#rawToFramed(upstream);
        } catch (err) {
          this.#fail(err, 'toUpstream');
          return false;
        }
      }
      return true;
    }
    const at = Math.max(0, Math.min(index, factories.length));
    this.#handlerFactories = [...factories.slice(0, at), factory, ...factories.slice(at)];
    const upstream = this.upstream;
    if (this.#state === SessionState.Connecting || upstream === undefined) return true;
    try {
      const framed = this.#framed;
      if (framed) {
        const handler = factory.create(this.context);
        const instances = this.#handlerInstances;
        this.#handlerInstances = [...instances.slice(0, at), handler, ...instances.slice(at)];
        framed.attach(new HandlerChain(this.#handlerInstances, this.context));
      } else if (!(this.#splice?.release((back) => back && this.#spliceToJs(upstream)) ?? false)) {
        this.#rawToFramed(upstream);
      }
    } catch (err) {
      this.#fail(err, 'toUpstream');
      return false;
    }
    return true;
  }

  #rawToFramed(upstream: UpstreamStream): void {
    const ended: Direction[] = [];
    if (this.#state === SessionState.ClientEnded || this.#state === SessionState.Draining) ended.push('toUpstream');
    if (this.#state === SessionState.UpstreamEnded || this.#state === SessionState.Draining) ended.push('toDownstream');
    this.#unwireRaw?.();
    this.#unwireRaw = undefined;
    this.#wireFramed(upstream, this.#handlerFactories, ended);
  }

  /** The addon let the sockets go (a handler added live): JS reads them from here on, framed when it has handlers. */
  #spliceToJs(upstream: UpstreamStream): void {
    if (this.#state >= SessionState.Closing) return;
    // already wired (two continuations of one release: two handlers added, or a handler and end())
    if (this.#framed !== undefined || this.#unwireRaw !== undefined) return;
    try {
      if (this.#handlerFactories.length > 0) this.#rawToFramed(upstream);
      else this.#wireRaw(upstream);
    } catch (err) {
      this.#fail(err, 'toUpstream');
      return;
    }
    this.client.resume();
    upstream.resume();
    if (this.#opts.idleTimeout > 0) this.#armIdle(this.#opts.idleTimeout);
  }

  /** True when the session runs (or, connecting, will run) the handlers of `factory`. */
  runs(factory: HandlerFactory): boolean {
    return this.#handlerFactories.includes(factory);
  }

  /** `ended`: directions whose FIN was already handed on (a session switched from the zero-copy path). */
  #wireFramed(upstream: UpstreamStream, handlers: readonly HandlerFactory[], ended?: readonly Direction[]): void {
    const client = this.client;
    const framing = this.#opts.framing;
    // one small object with the session's methods (seven closures and their context per connection before)
    const owner: FramedOwner = new Session.#Owner(this);
    const codec = framing?.codec?.create();
    const limits = this.#opts.requestLimits;
    if (codec !== undefined && limits !== undefined && limitsActive(limits)) this.#deadline = new RequestDeadline(limits, (kind, got, rate) => this.#expired(kind, got, rate));
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
      deadline: this.#deadline,
      clock: this.#clock = this.#makeClock(codec !== undefined, upstream),
      ended,
    }));
    this.#deadline?.begin();
    const deferred = this.#deferred;
    this.#deferred = undefined;
    if (handlers.length > 0) {
      this.#handlerInstances = handlers.map((h) => {
        const i = deferred === undefined ? -1 : deferred.factories.indexOf(h);
        return i < 0 ? h.create(this.context) : h.create(this.context, deferred!.tickets[i]);
      });
    } else this.#handlerInstances = NO_INSTANCES;
    // no handlers: no chain (nor the handlers' context) of its own
    framed.attach(this.#handlerInstances.length === 0 ? EMPTY_CHAIN : new HandlerChain(this.#handlerInstances, this.context));
    chunksOf(client, (chunk: Buffer) => framed.onData('toUpstream', chunk));
    chunksOf(upstream, (chunk: Buffer) => framed.onData('toDownstream', chunk));
    client.on('end', () => framed.onEnd('toUpstream'));
    upstream.on('end', () => framed.onEnd('toDownstream'));
    upstream.on('drain', () => framed.onDrained('toUpstream'));
    client.on('drain', () => framed.onDrained('toDownstream'));
  }

  /** What the framed path asks of its session (see {@link FramedOwner}), as methods on one object per session. */
  static readonly #Owner = class SessionOwner implements FramedOwner {
    readonly #s: Session;

    constructor(session: Session) {
      this.#s = session;
    }

    isClosed(): boolean {
      return this.#s.#state === SessionState.Closed || this.#s.#refused;
    }

    fail(err: unknown, dir: Direction): void {
      this.#s.#fail(err, dir);
    }

    truncated(err: unknown, dir: Direction): void {
      this.#s.#truncated(err, dir);
    }

    finForwarded(dir: Direction): void {
      this.#s.#finForwarded(dir);
    }

    reset(): void {
      this.#s.#reset();
    }

    close(error: SwitchyardError | undefined): void {
      this.#s.#closeForHandler(error);
    }

    upstreamLost(): boolean {
      const s = this.#s;
      // only while the client keeps its side open: after the client's FIN, the upstream's is its answer to it
      return s.#state === SessionState.Open && s.#refuse('upstream_lost', s.#upstreamMessage('the upstream closed the connection before answering'));
    }
  };

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
    if (this.#state === SessionState.Closed || this.#refused) return;
    this.#countError(err);
    const reason = dir === 'toUpstream' ? inputRefusal(err) : undefined;
    if (reason !== undefined && this.#refuse(reason, `switchyard: ${(err as Error).message}`)) return;
    this.#opts.logger.warn({ session: this.id, direction: dir, code: errorCode(err), err: (err as Error).message }, 'closing session');
    this.destroy();
  }

  #onSocketError(side: 'client' | 'upstream', err: NodeJS.ErrnoException): void {
    if (this.#refused) return;
    const other = side === 'client' ? this.upstream : this.client;
    const reset = err.code === 'ECONNRESET';
    const code = reset ? (side === 'client' ? ErrorCodes.CLIENT_RESET : ErrorCodes.UPSTREAM_RESET) : side === 'client' ? ErrorCodes.CLIENT_ERROR : ErrorCodes.UPSTREAM_ERROR;
    for (const s of this.#stats) s.error(code);
    // the upstream died while a request waited for its answer, none of which reached the client: say so in the protocol
    if (side === 'upstream' && this.#framed?.awaitingAnswer === true && this.#refuse('upstream_lost', this.#upstreamMessage(`the upstream ${reset ? 'reset' : `failed (${err.code ?? err.message})`} before answering`))) return;
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
    this.#deadline?.stop();
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

  /**
   * Answer the client in its protocol (the codec's error for `reason`) and close, when nothing of the current answer
   * reached it yet; false (nothing done) when that is not possible: the caller closes as before.
   */
  #refuse(reason: RefusalReason, message: string): boolean {
    const framed = this.#framed;
    if (this.#refused || this.#state >= SessionState.Closing || framed?.codec === undefined || !framed.canRefuse || this.client.destroyed) return false;
    const reply = refusalReply(framed.codec, reason, message);
    if (reply === undefined) return false;
    this.#refused = true;
    this.#countRefusal(reason);
    this.#opts.logger.debug({ session: this.id, reason, err: message }, 'refused in the protocol; closing');
    this.#beginClosing();
    this.#abortNow();
    this.#deadline?.stop();
    if (this.upstream && !this.upstream.destroyed) this.upstream.destroy();
    dropReaders(this.client);
    this.client.removeAllListeners('end');
    this.#clock?.refused(REFUSAL_CODES[reason], reply.frames[0]);
    answerAndClose(this.client, reply.frames);
    return true;
  }

  #makeClock(protocol: boolean, upstream: UpstreamStream): RequestClock | undefined {
    const traffic = this.#opts.traffic;
    if (!protocol || (this.#opts.requestDuration === undefined && traffic === undefined)) return undefined;
    return new RequestClock(this.#opts.requestDuration, traffic, traffic === undefined ? undefined : () => addressOf(upstream as Partial<Socket>));
  }

  #countRefusal(reason: RefusalReason): void {
    for (const s of this.#stats) s.error(REFUSAL_CODES[reason]);
  }

  #upstreamMessage(what: string): string {
    const name = this.#opts.upstreamName;
    return `switchyard: ${name === undefined ? '' : `cluster '${name}': `}${what}`;
  }

  /** A request limit expired: answer it in the protocol when any of it arrived (and nothing answered it), else close. */
  #expired(kind: RequestExpiry, answerable: boolean, rate: number): void {
    const code = EXPIRY_CODES[kind];
    for (const s of this.#stats) s.error(code);
    this.#opts.logger.debug({ session: this.id, code, answerable }, 'request limit expired');
    if (answerable && this.#refuse(kind, expiryMessage(kind, this.#opts.requestLimits!, rate))) return;
    this.destroy();
  }

  #countError(err: unknown): void {
    const code = errorCode(err);
    this.#firstError ??= code;
    for (const s of this.#stats) s.error(code);
  }

  /** The client's and (once connected) upstream's addresses (host:port), when `notePeers` was set. */
  get peers(): { source: string | undefined; endpoint: string | undefined } | undefined {
    return this.#peers;
  }

  /** The code of the first error this session counted (a failed connect, a reset, ...); undefined after a clean close. */
  get closeError(): string | undefined {
    return this.#firstError;
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
      dropReaders(sock);
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
    if (this.#splice?.release(() => this.destroy())) return; // the addon lets the sockets go first
    this.client.destroy();
    this.upstream?.destroy();
    if (!this.upstream) this.#finish();
  }

  /** Shutdown helper: FIN both sides, let buffered bytes flush (the state follows as the peers answer). */
  end(): void {
    const upstream = this.upstream;
    const then = (back: boolean): void => {
      if (back && upstream) this.#spliceToJs(upstream);
      this.end();
    };
    if (this.#splice?.release(then)) return;
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

const NO_HANDLERS: readonly HandlerFactory[] = [];
const NO_INSTANCES: readonly FrameHandler[] = [];
const PAUSED: ConnectHints = { paused: true };

function isPassthrough(f: FramerFactory): boolean {
  return f.name === 'passthrough';
}

/** One preallocated abort reason: abort() without a reason builds a DOMException per call. */
const SESSION_ENDED = new SwitchyardError(ErrorCodes.SHUTDOWN, 'session ended');

/** host:port of a socket's peer ([v6]:port), undefined when it has none (not a socket, or closed). */
function addressOf(s: Partial<Socket>): string | undefined {
  const a = s.remoteAddress;
  if (typeof a !== 'string') return undefined;
  const host = a.includes(':') ? `[${a}]` : a;
  return s.remotePort === undefined ? host : `${host}:${s.remotePort}`;
}
