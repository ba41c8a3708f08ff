import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Framer, FramerFactory } from '../framing/framer.js';
import type { HandlerFactory, SessionContext, Direction, SessionIO } from '../pipeline/handler.js';
import type { Frame } from '../framing/framer.js';
import type { ProtocolCodec, ProtocolCodecFactory, ProtocolFramer } from '../protocols/protocol.js';
import { HandlerChain, type ChainResult } from '../pipeline/chain.js';
import { ErrorCodes, SwitchyardError, errorCode } from '../core/errors.js';
import { PASSTHROUGH_FACTORY } from '../framing/passthrough.js';
import type { TrafficStats } from '../core/stats.js';
import type { Logger } from '../core/log.js';

/**
 * The director's answer for a new session: how to open the upstream stream. Any net.Socket-compatible duplex
 * works, so a fan-out stream (one client → N upstreams) or a shared, merged stream (N clients → one upstream)
 * plugs in here without the session knowing.
 */
export type UpstreamConnector = (signal?: AbortSignal) => Promise<UpstreamStream>;

/**
 * What the session needs of an upstream: a duplex stream (half-open capable) that can also be reset. A
 * net.Socket or tls.TLSSocket is one; so is a fan-out or merged stream built by the replication layer.
 */
export type UpstreamStream = Duplex & { resetAndDestroy(): unknown };

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
 * One proxied client connection: wiring only. Owns the client socket, the upstream socket, the framers of each
 * direction and the per-session handler chain. Knows nothing about protocols or faults.
 *
 * Semantics: byte-exact; backpressure both ways (a side whose writes are buffered pauses the other side's reads);
 * a FIN is forwarded as a FIN while the other direction keeps flowing; an RST is forwarded as an RST.
 */
export class Session {
  readonly id: number;
  readonly client: Socket;
  upstream: UpstreamStream | undefined;
  readonly #opts: SessionOptions;
  /** Created at start for the connect; aborted only when someone may still listen (a pending connect, a handler). */
  #abort: AbortController | undefined;
  #connecting = false;
  #signalShared = false;
  readonly #stats: readonly TrafficStats[];
  #closed = false;
  #openSockets = 1;
  #lastActivity = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #decodeUp: Framer | undefined;
  #decodeDown: Framer | undefined;
  #chain: HandlerChain | undefined;
  #codec: ProtocolCodec | undefined;
  /** Encoded bytes waiting to be written, keyed by the direction they travel (toUpstream = to the upstream). */
  readonly #out: Record<Direction, Buffer[]> = { toUpstream: [], toDownstream: [] };
  /** >0 while a pump is collecting output (writes are then flushed once, at its end). */
  #pumping = 0;
  #io: SessionIO | undefined;
  #busy: Record<Direction, boolean> = { toUpstream: false, toDownstream: false };
  #eofPending: Record<Direction, boolean> = { toUpstream: false, toDownstream: false };
  #closedPromise: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;
  #context: SessionContext | undefined;

  constructor(opts: SessionOptions) {
    this.id = opts.id;
    this.client = opts.client;
    this.#opts = opts;
    this.#stats = opts.stats;
    for (const s of this.#stats) {
      s.active++;
      s.total++;
    }
    const client = opts.client;
    client.on('error', (err) => this.#onSocketError('client', err));
    client.on('close', () => this.#onSocketClose());
    if (opts.idleTimeout > 0) this.#armIdle(opts.idleTimeout);
  }

  /** Connect upstream and start forwarding. Never rejects: failures close the client and are counted. */
  async start(): Promise<void> {
    let upstream: UpstreamStream;
    this.#connecting = true;
    try {
      // No AbortSignal is made just for the connect (creating one costs ~3 µs per connection in Node 20): if the
      // client leaves meanwhile, the upstream is destroyed as soon as the attempt settles (below).
      upstream = await this.#opts.connect(this.#abort?.signal);
    } catch (err) {
      this.#connecting = false;
      if (this.#closed) return;
      this.#countError(err);
      this.#opts.logger.warn({ session: this.id, code: errorCode(err), err: (err as Error).message }, 'upstream connect failed; closing client');
      this.client.destroy();
      return;
    }
    this.#connecting = false;
    if (this.#closed || this.client.destroyed) {
      upstream.destroy();
      return;
    }
    this.upstream = upstream;
    this.#openSockets++;
    upstream.on('error', (err) => this.#onSocketError('upstream', err));
    upstream.on('close', () => this.#onSocketClose());
    this.#wire(upstream);
  }

  #wire(upstream: UpstreamStream): void {
    const client = this.client;
    const framing = this.#opts.framing;
    const handlers = this.#opts.handlers ?? [];
    const needsFraming = handlers.length > 0 || (framing !== undefined && (!isPassthrough(framing.toUpstream) || !isPassthrough(framing.toDownstream)));
    if (needsFraming || framing?.codec !== undefined) {
      if (framing?.codec) {
        const codec = (this.#codec = framing.codec.create());
        this.#decodeUp = codec.toUpstream;
        this.#decodeDown = codec.toDownstream;
      } else {
        this.#decodeUp = (framing?.toUpstream ?? PASSTHROUGH_FACTORY).create();
        this.#decodeDown = (framing?.toDownstream ?? PASSTHROUGH_FACTORY).create();
      }
      this.#chain = new HandlerChain(handlers.map((h) => h.create(this.context)), this.context);
      client.on('data', (chunk: Buffer) => this.#onFramedData('toUpstream', chunk));
      upstream.on('data', (chunk: Buffer) => this.#onFramedData('toDownstream', chunk));
      client.on('end', () => this.#onFramedEnd('toUpstream'));
      upstream.on('end', () => this.#onFramedEnd('toDownstream'));
    } else {
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
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
    }
    upstream.on('drain', () => {
      if (!this.#busy.toUpstream) client.resume();
    });
    client.on('drain', () => {
      if (!this.#busy.toDownstream) upstream.resume();
    });
    client.resume();
  }

  // ---- framed path -------------------------------------------------------------------------------------

  #onFramedData(dir: Direction, chunk: Buffer): void {
    if (this.#opts.idleTimeout > 0) this.#lastActivity = Date.now();
    const stats = this.#stats;
    for (let i = 0; i < stats.length; i++) {
      if (dir === 'toUpstream') stats[i]!.bytesToUpstream += chunk.length;
      else stats[i]!.bytesToDownstream += chunk.length;
    }
    const decoder = dir === 'toUpstream' ? this.#decodeUp! : this.#decodeDown!;
    try {
      decoder.push(chunk);
    } catch (err) {
      this.#fail(err, dir);
      return;
    }
    if (!this.#busy[dir]) this.#pump(dir);
  }

  #onFramedEnd(dir: Direction): void {
    const decoder = dir === 'toUpstream' ? this.#decodeUp! : this.#decodeDown!;
    try {
      decoder.end();
    } catch (err) {
      this.#fail(err, dir);
      return;
    }
    this.#eofPending[dir] = true;
    if (!this.#busy[dir]) this.#pump(dir);
  }

  /** Pull frames from the decoder and push them through the chain, keeping order across async handlers. */
  #pump(dir: Direction): void {
    const decoder = dir === 'toUpstream' ? this.#decodeUp! : this.#decodeDown!;
    const source = dir === 'toUpstream' ? this.client : this.upstream!;
    const chain = this.#chain!;
    const out = this.#out[dir];
    const protocol = this.#codec !== undefined;
    // With no handlers, frames that re-encode to their received bytes are forwarded as those bytes, in bulk.
    const raw = chain.length === 0 && decoder.forwardRaw !== undefined;
    this.#pumping++;
    try {
      for (;;) {
        if (raw) {
          const n = decoder.forwardRaw!(out);
          if (n > 0) this.#countFrames(dir, n);
        }
        const frame = decoder.next();
        if (frame === null) break;
        this.#countFrames(dir, 1);
        const result = chain.length === 0 ? undefined : chain.run(frame, dir, protocol ? (decoder as ProtocolFramer).info : undefined);
        if (result === undefined) {
          encodeInto(this.#encoderFor(dir), frame, out);
          continue;
        }
        if (result instanceof Promise) {
          this.#pumping--;
          this.#flush(dir);
          this.#busy[dir] = true;
          source.pause();
          result.then(
            (r) => {
              this.#busy[dir] = false;
              if (this.#closed) return;
              this.#pumping++;
              const ok = this.#applyResult(dir, r);
              this.#pumping--;
              if (ok) {
                this.#flush(dir);
                this.#pump(dir);
              }
            },
            (err: unknown) => {
              this.#busy[dir] = false;
              this.#fail(err, dir);
            },
          );
          return;
        }
        if (!this.#applyResult(dir, result)) {
          this.#pumping--;
          return;
        }
      }
    } catch (err) {
      this.#pumping--;
      this.#flush(dir);
      this.#fail(err, dir);
      return;
    }
    this.#pumping--;
    const writable = this.#flush(dir);
    if (this.#eofPending[dir]) {
      this.#eofPending[dir] = false;
      const waiting = chain.length === 0 ? undefined : chain.end(dir);
      if (waiting === undefined) this.#endToward(dir);
      else {
        this.#busy[dir] = true;
        waiting.then(
          () => {
            this.#busy[dir] = false;
            if (!this.#closed) this.#endToward(dir);
          },
          (err: unknown) => {
            this.#busy[dir] = false;
            this.#fail(err, dir);
          },
        );
      }
    } else if (writable && source.isPaused() && !this.#closed) {
      source.resume();
    }
  }

  /** FIN toward the direction's destination, after anything still queued for it. */
  #endToward(dir: Direction): void {
    this.#flush(dir);
    const dest = dir === 'toUpstream' ? this.upstream : this.client;
    if (dest && !dest.destroyed) dest.end();
  }

  #countFrames(dir: Direction, n: number): void {
    const stats = this.#stats;
    for (let i = 0; i < stats.length; i++) {
      if (dir === 'toUpstream') stats[i]!.framesToUpstream += n;
      else stats[i]!.framesToDownstream += n;
    }
  }

  /** Returns false when the session was closed by the result. */
  #applyResult(dir: Direction, r: ChainResult): boolean {
    const enc = this.#encoderFor(dir);
    const out = this.#out[dir];
    for (const f of r.forward) encodeInto(enc, f, out);
    if (r.reply.length > 0) {
      const back = opposite(dir);
      const renc = this.#encoderFor(back);
      for (const f of r.reply) encodeInto(renc, f, this.#out[back]);
    }
    if (r.error) {
      this.#flush(dir);
      this.#fail(r.error, dir);
      return false;
    }
    return true;
  }

  #encoderFor(dir: Direction): Framer {
    return dir === 'toUpstream' ? this.#decodeUp! : this.#decodeDown!;
  }

  /**
   * Write collected output (both ways: a pump of `dir` may also have queued replies to its source); pause the
   * source of a direction whose destination is full. Returns true if `dir`'s destination is not backpressured.
   */
  #flush(dir: Direction): boolean {
    if (this.#pumping > 0) return true;
    const ok = this.#write('toUpstream');
    const okDown = this.#write('toDownstream');
    return dir === 'toUpstream' ? ok : okDown;
  }

  #write(dir: Direction): boolean {
    const out = this.#out[dir];
    if (out.length === 0) return true;
    const dest = dir === 'toUpstream' ? this.upstream : this.client;
    if (!dest || dest.destroyed) {
      out.length = 0;
      return true;
    }
    const ok = writeGathered(dest, out);
    out.length = 0;
    if (!ok) (dir === 'toUpstream' ? this.client : this.upstream!).pause();
    return ok;
  }

  /** A framing/handler error: count it, and close this session only. */
  #fail(err: unknown, dir: Direction, count = true): void {
    if (this.#closed) return;
    if (count) this.#countError(err);
    this.#opts.logger.warn({ session: this.id, direction: dir, code: errorCode(err), err: (err as Error).message }, 'closing session');
    this.destroy();
  }

  // ---- lifecycle ----------------------------------------------------------------------------------------

  #onSocketError(side: 'client' | 'upstream', err: NodeJS.ErrnoException): void {
    const other = side === 'client' ? this.upstream : this.client;
    const reset = err.code === 'ECONNRESET';
    const code = reset ? (side === 'client' ? ErrorCodes.CLIENT_RESET : ErrorCodes.UPSTREAM_RESET) : side === 'client' ? ErrorCodes.CLIENT_ERROR : ErrorCodes.UPSTREAM_ERROR;
    for (const s of this.#stats) s.error(code);
    this.#opts.logger.debug({ session: this.id, side, code, syscode: err.code }, reset ? 'peer reset; resetting the other side' : 'socket error');
    // An RST (or any abnormal end) on one side becomes an RST on the other.
    if (other && !other.destroyed) other.resetAndDestroy();
    if (side === 'client') this.#abortNow();
  }

  #onSocketClose(): void {
    this.#openSockets--;
    if (this.#openSockets === 0 || (this.upstream === undefined && this.client.destroyed)) this.#finish();
    else if (this.client.destroyed && this.upstream && !this.upstream.destroyed && this.upstream.readableEnded === false && this.client.readableEnded === false) {
      // Client vanished without FIN or RST (destroyed locally): nothing more can reach it.
      this.upstream.destroy();
    }
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#abortNow();
    this.#chain?.close();
    for (const s of this.#stats) s.active--;
    this.#resolveClosed?.();
    this.#opts.onClose?.(this);
  }

  #armIdle(ms: number): void {
    this.#lastActivity = Date.now();
    const check = (): void => {
      const idle = Date.now() - this.#lastActivity;
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
    if (this.#context) return this.#context;
    const opts = this.#opts;
    const client = opts.client;
    const self = this;
    this.#context = {
      sessionId: opts.id,
      listenerId: opts.listenerId,
      remoteAddress: client.remoteAddress,
      remotePort: client.remotePort,
      logger: opts.logger,
      get signal() {
        self.#signalShared = true;
        return self.#signal();
      },
      get io() {
        return self.#ioFacade();
      },
      get codec() {
        return self.#codec;
      },
      framing: opts.framing,
    };
    return this.#context;
  }

  #ioFacade(): SessionIO {
    if (this.#io) return this.#io;
    const self = this;
    this.#io = {
      write(dir: Direction, frames: readonly Frame[]): boolean {
        if (self.#closed) return true;
        const enc = self.#encoderFor(dir);
        const out = self.#out[dir];
        for (const f of frames) encodeInto(enc, f, out);
        if (self.#pumping > 0) return true;
        return self.#write(dir);
      },
      drained(dir: Direction): Promise<void> {
        const dest = dir === 'toUpstream' ? self.upstream : self.client;
        if (self.#closed || !dest || dest.destroyed || !dest.writableNeedDrain) return Promise.resolve();
        return new Promise<void>((resolve) => {
          const done = (): void => {
            dest.off('drain', done);
            dest.off('close', done);
            resolve();
          };
          dest.on('drain', done);
          dest.on('close', done);
        });
      },
      end(dir: Direction): void {
        if (!self.#closed) self.#endToward(dir);
      },
      reset(): void {
        if (self.#closed) return;
        self.#abortNow();
        self.client.resetAndDestroy();
        if (self.upstream && !self.upstream.destroyed) self.upstream.resetAndDestroy();
        if (!self.upstream) self.#finish();
      },
      close(error?: SwitchyardError): void {
        if (self.#closed) return;
        // Write what is collected for both sides now, even inside a pump (its flush would come after the close and
        // find the sockets destroyed: e.g. a server response followed by an injected reply that closes).
        self.#write('toUpstream');
        self.#write('toDownstream');
        if (error) {
          self.#countError(error);
          self.#opts.logger.debug({ session: self.id, code: errorCode(error), err: error.message }, 'handler closed the session');
        }
        self.#closeGracefully();
      },
      get closed() {
        return self.#closed;
      },
    };
    return this.#io;
  }

  #signal(): AbortSignal {
    this.#abort ??= new AbortController();
    return this.#abort.signal;
  }

  /** Abort pending work, but only when something may be listening (a connect in flight, or a handler). */
  #abortNow(): void {
    if (this.#abort && !this.#abort.signal.aborted && (this.#connecting || this.#signalShared)) this.#abort.abort(SESSION_ENDED);
  }

  /** Resolves when both sockets are closed. */
  get closed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closedPromise ??= new Promise<void>((r) => (this.#resolveClosed = r));
    return this.#closedPromise;
  }

  /** Stop reading; let written bytes reach both peers (FIN), then close; destroy whatever lingers after 2 s. */
  #closeGracefully(): void {
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

  /** Close both sides now. */
  destroy(): void {
    this.#abortNow();
    this.client.destroy();
    this.upstream?.destroy();
    if (!this.upstream) this.#finish();
  }

  /** Shutdown helper: FIN both sides, let buffered bytes flush. */
  end(): void {
    this.client.end();
    this.upstream?.end();
  }

  get isClosed(): boolean {
    return this.#closed;
  }
}

function opposite(dir: Direction): Direction {
  return dir === 'toUpstream' ? 'toDownstream' : 'toUpstream';
}

function isPassthrough(f: FramerFactory): boolean {
  return f.name === 'passthrough';
}

/** One preallocated abort reason: abort() without a reason builds a DOMException per call. */
const SESSION_ENDED = new SwitchyardError(ErrorCodes.SHUTDOWN, 'session ended');


/** Append a frame's wire bytes, without an intermediate copy when the framer offers encodeTo. */
function encodeInto(framer: Framer, frame: Buffer, out: Buffer[]): void {
  if (framer.encodeTo) framer.encodeTo(frame, out);
  else out.push(framer.encode(frame));
}

/**
 * Write frames' wire bytes with as few copies as possible: views that are adjacent in one received chunk are
 * joined into one view (a chunk of re-encoded lines is written as the chunk itself); a few runs go out as one
 * corked writev; many small pieces are concatenated once.
 */
function writeGathered(dest: UpstreamStream | Socket, parts: Buffer[]): boolean {
  if (parts.length === 1) return dest.write(parts[0]!);
  const runs: Buffer[] = [];
  let cur = parts[0]!;
  let curLen = cur.length;
  for (let i = 1; i < parts.length; i++) {
    const b = parts[i]!;
    if (b.buffer === cur.buffer && cur.byteOffset + curLen === b.byteOffset) {
      curLen += b.length;
    } else {
      runs.push(curLen === cur.length ? cur : Buffer.from(cur.buffer, cur.byteOffset, curLen));
      cur = b;
      curLen = b.length;
    }
  }
  runs.push(curLen === cur.length ? cur : Buffer.from(cur.buffer, cur.byteOffset, curLen));
  if (runs.length === 1) return dest.write(runs[0]!);
  if (runs.length > 8) return dest.write(Buffer.concat(runs));
  dest.cork();
  let ok = true;
  for (const r of runs) ok = dest.write(r);
  dest.uncork();
  return ok;
}
