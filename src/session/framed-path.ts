import type { Socket } from 'node:net';
import type { Frame, Framer } from '../framing/framer.js';
import type { Direction, SessionIO } from '../pipeline/handler.js';
import type { ChainResult, HandlerChain } from '../pipeline/chain.js';
import type { MessageInfo, ProtocolCodec, ProtocolFramer } from '../protocols/protocol.js';
import { ErrorCodes, errorCode, type SwitchyardError } from '../core/errors.js';
import { emptyArray } from '../core/empty-array.js';
import type { TrafficStats } from '../core/stats.js';
import type { Logger } from '../core/log.js';
import { frameTaker, type FrameTaker, type UpstreamStream } from './upstream-stream.js';
import { DirectionPhase, heldPhase, phaseCanMove, phaseName, releasedPhase } from './direction-phase.js';
import { illegalTransition } from './state.js';
import { encodeInto, writeGathered } from './gather.js';
import type { RequestDeadline } from './request-deadline.js';
import type { RequestClock } from './request-clock.js';

/** A direction's index in the framed path's per-direction arrays. */
function ix(dir: Direction): 0 | 1 {
  return dir === 'toUpstream' ? 0 : 1;
}

/** What the framed path asks of its session: the lifecycle stays the session's. */
export interface FramedOwner {
  isClosed(): boolean;
  /** A framing or handler error in `dir`: count it and close the session. */
  fail(err: unknown, dir: Direction): void;
  /** `dir`'s input ended inside a frame: the complete frames went on; count and log the dropped tail. */
  truncated(err: unknown, dir: Direction): void;
  /** A FIN was handed on toward `dir`'s destination. */
  finForwarded(dir: Direction): void;
  /** Close both sides with an RST. */
  reset(): void;
  /** Close both sides, letting written bytes reach the peers; `error` is counted and logged. */
  close(error: SwitchyardError | undefined): void;
  /** The upstream ended while a request waited for its answer: true when the session answered the client itself. */
  upstreamLost(): boolean;
}

export interface FramedPathInit {
  readonly sessionId: number;
  readonly client: Socket;
  readonly upstream: UpstreamStream;
  /** Framer of each direction (both from one codec when the listener speaks a protocol). */
  readonly toUpstream: Framer;
  readonly toDownstream: Framer;
  readonly codec: ProtocolCodec | undefined;
  readonly stats: readonly TrafficStats[];
  /** Keep `lastActivity` (the session has an idle timeout). */
  readonly trackActivity: boolean;
  readonly logger: Logger;
  readonly owner: FramedOwner;
  /** The request limits of a protocol listener (absent: none). */
  readonly deadline?: RequestDeadline | undefined;
  /** Times requests to their answers (protocol listeners; undefined = not measured). */
  readonly clock?: RequestClock | undefined;
  /** Directions whose FIN was already handed on before this path took over (a session leaving the zero-copy path). */
  readonly ended?: readonly Direction[] | undefined;
}

/**
 * The framed half of a session: decodes each direction into frames, runs them through the handler chain, and
 * writes their encodings, in order, with backpressure. It is also the handlers' {@link SessionIO}.
 */
export class FramedPath implements SessionIO {
  /** Date.now() of the last chunk read (kept only when the session has an idle timeout). */
  lastActivity = 0;
  readonly codec: ProtocolCodec | undefined;
  readonly #sessionId: number;
  readonly #client: Socket;
  readonly #upstream: UpstreamStream;
  readonly #decodeUp: Framer;
  readonly #decodeDown: Framer;
  readonly #stats: readonly TrafficStats[];
  readonly #track: boolean;
  readonly #logger: Logger;
  readonly #trace: boolean;
  readonly #owner: FramedOwner;
  readonly #clock: RequestClock | undefined;
  /** The toDownstream frame a handler holds (its verdict is a promise) ends a response: the settled result answers it if it forwards. */
  #heldAnswer = false;
  /** Set by `attach`, once the handlers exist (they may use this io while they are created). */
  #chain: HandlerChain | undefined;
  /**
   * Encoded bytes waiting to be written, by the direction they travel ({@link ix}: toUpstream = to the upstream).
   * Indexed arrays, not objects keyed by the direction's name: a keyed load with two different names goes
   * megamorphic at once, and these are read for every chunk and frame.
   */
  readonly #out: readonly [Buffer[], Buffer[]] = [[], []];
  readonly #phase: [DirectionPhase, DirectionPhase] = [DirectionPhase.Flowing, DirectionPhase.Flowing];
  /** >0 while a pump is collecting output (writes are then flushed once, at its end). Changed only by #pump. */
  #pumping = 0;
  readonly #deadline: RequestDeadline | undefined;
  /** Protocol sessions: a request that gets an answer was decoded, and no byte went to the client since. */
  #awaiting = false;
  /** Protocol sessions: the last response frame decoded did not end its message (the client has part of it). */
  #downMid = false;
  /** Protocol sessions: the codec turned the stream into a tunnel (no more messages to answer). */
  #tunnel = false;
  /** The upstream takes request frames directly (a per-request router): see {@link FrameTaker}. */
  readonly #taker: FrameTaker | undefined;
  /** Request frames go to {@link #taker} now instead of being written to the upstream stream. */
  #handingOff = false;
  /** The last frame handed over did not end its request: the rest of it goes the same way. */
  #handoffMid = false;
  /** Frames were handed over since the last flush. */
  #handedOver = false;
  /** Scratch list for a frame handed to the taker (made when the first one is: only request-routed sessions hand frames over). */
  #one: Buffer[] | undefined;
  /**
   * The last chunk read in each direction, until its output is written: {@link writeGathered} writes it itself when
   * the frames collected are exactly its bytes. Dropped at every write, so an idle connection holds no chunk here.
   */
  readonly #lastRead: [Buffer | undefined, Buffer | undefined] = [undefined, undefined];

  constructor(init: FramedPathInit) {
    this.#sessionId = init.sessionId;
    this.#client = init.client;
    this.#upstream = init.upstream;
    this.#decodeUp = init.toUpstream;
    this.#decodeDown = init.toDownstream;
    this.codec = init.codec;
    this.#stats = init.stats;
    this.#track = init.trackActivity;
    this.#logger = init.logger;
    this.#trace = init.logger.isLevelEnabled('debug');
    this.#owner = init.owner;
    this.#deadline = init.deadline;
    this.#clock = init.codec !== undefined ? init.clock : undefined;
    this.#taker = init.codec !== undefined ? frameTaker(init.upstream) : undefined;
    for (const dir of init.ended ?? []) this.#phase[ix(dir)] = DirectionPhase.Ended;
    // The codec may unblock a direction without new input (HTTP: bytes held behind an Upgrade that got a 200)
    if (init.codec !== undefined) {
      // assigned from a local: a function literal assigned straight to a property is allocated in the old generation
      const onUnblocked = (dir: Direction): void => this.#wake(dir);
      init.codec.onUnblocked = onUnblocked;
    }
  }

  /** Decode `dir` again, after the current pump (the codec calls this from inside a framer). */
  #wake(dir: Direction): void {
    queueMicrotask(() => {
      if (this.#owner.isClosed()) return;
      if (this.#phase[ix(dir)] <= DirectionPhase.Finishing) this.#pump(dir);
    });
  }

  /** Set the handler chain; a later call replaces it (a handler added live: frames inside the old one finish there). */
  attach(chain: HandlerChain): void {
    this.#chain = chain;
    // with no handler and no per-request router, nothing can name a request by its attributes
    const codec = this.codec;
    if (codec !== undefined && 'namesRequests' in codec) codec.namesRequests = chain.length > 0 || this.#taker !== undefined;
  }

  /** The session closed: tell the handlers. */
  detach(): void {
    this.#chain?.close();
  }

  /** The proxy may answer in the protocol now: a protocol session, at a response boundary, not a tunnel. */
  get canRefuse(): boolean {
    return this.codec !== undefined && !this.#downMid && !this.#tunnel;
  }

  /** A request waits for its answer and nothing of it reached the client yet. */
  get awaitingAnswer(): boolean {
    return this.#awaiting;
  }

  // ---- input ---------------------------------------------------------------------------------------------

  onData(dir: Direction, chunk: Buffer): void {
    if (this.#track) this.lastActivity = Date.now();
    const stats = this.#stats;
    for (let i = 0; i < stats.length; i++) {
      if (dir === 'toUpstream') stats[i]!.bytesToUpstream += chunk.length;
      else stats[i]!.bytesToDownstream += chunk.length;
    }
    if (this.#deadline !== undefined && dir === 'toUpstream') this.#deadline.onBytes(chunk.length);
    const decoder = dir === 'toUpstream' ? this.#decodeUp : this.#decodeDown;
    try {
      decoder.push(chunk);
    } catch (err) {
      this.#owner.fail(err, dir);
      return;
    }
    this.#lastRead[ix(dir)] = chunk;
    if (this.#phase[ix(dir)] <= DirectionPhase.Finishing) this.#pump(dir);
  }

  onEnd(dir: Direction): void {
    // a direction that started ended (its FIN handed on before this path took over) sees its source's EOF again
    if (this.#phase[ix(dir)] === DirectionPhase.Ended) return;
    const decoder = dir === 'toUpstream' ? this.#decodeUp : this.#decodeDown;
    try {
      decoder.end();
    } catch (err) {
      this.#owner.fail(err, dir);
      return;
    }
    const held = this.#phase[ix(dir)] === DirectionPhase.Held;
    if (this.#to(dir, held ? DirectionPhase.HeldFinishing : DirectionPhase.Finishing) && !held) this.#pump(dir);
  }

  /** `dir`'s destination drained: read its source again, unless a handler holds the direction. */
  onDrained(dir: Direction): void {
    const phase = this.#phase[ix(dir)];
    if (phase < DirectionPhase.Held || phase > DirectionPhase.Ending) (dir === 'toUpstream' ? this.#client : this.#upstream).resume();
  }

  // ---- the pump ------------------------------------------------------------------------------------------

  /**
   * Pull frames from the decoder and push them through the chain, keeping order across async handlers. `settled`
   * is the result of the handler answer that held the direction, applied first.
   */
  #pump(dir: Direction, settled?: ChainResult): void {
    let stop: Promise<ChainResult> | SwitchyardError | undefined;
    let thrown: unknown;
    let threw = false;
    this.#pumping++;
    try {
      stop = this.#collect(dir, settled);
    } catch (err) {
      threw = true;
      thrown = err;
    } finally {
      this.#pumping--;
    }
    if (threw) {
      this.#flush(dir);
      // Input that ends inside a frame: the frames before it went on, so end the direction as usual (the answers to
      // them still come back) and report the tail instead of closing the whole session.
      if (this.#phase[ix(dir)] === DirectionPhase.Finishing && errorCode(thrown) === ErrorCodes.FRAME_TRUNCATED) {
        this.#owner.truncated(thrown, dir);
        this.#finishDirection(dir);
      } else this.#owner.fail(thrown, dir);
    } else if (stop instanceof Promise) {
      this.#hold(dir, stop);
    } else if (stop !== undefined) {
      this.#owner.fail(stop, dir);
    } else {
      const writable = this.#flush(dir);
      if (this.#phase[ix(dir)] === DirectionPhase.Finishing) this.#finishDirection(dir);
      else if (writable) {
        const source = dir === 'toUpstream' ? this.#client : this.#upstream;
        if (source.isPaused() && !this.#owner.isClosed()) source.resume();
      }
    }
  }

  /** Collect the output of every decoded frame; stop at a handler's promise or at the error a result carries. */
  #collect(dir: Direction, settled: ChainResult | undefined): Promise<ChainResult> | SwitchyardError | undefined {
    if (settled !== undefined) {
      if (dir === 'toDownstream' && this.#heldAnswer) {
        this.#heldAnswer = false;
        if (settled.forward.length > 0) this.#clock?.answered();
      }
      const error = this.#apply(dir, settled);
      if (error !== undefined) return error;
    }
    const decoder = dir === 'toUpstream' ? this.#decodeUp : this.#decodeDown;
    const chain = this.#chain!;
    const out = this.#out[ix(dir)];
    const protocol = this.codec !== undefined;
    // With no handlers, frames that re-encode to their received bytes are forwarded as those bytes, in bulk.
    const raw = chain.length === 0 && decoder.forwardRaw !== undefined && !(dir === 'toUpstream' && this.#handingOff);
    for (;;) {
      if (raw) {
        const n = decoder.forwardRaw!(out);
        if (n > 0) this.#countFrames(dir, n);
      }
      const frame = decoder.next();
      if (frame === null) {
        if (dir === 'toUpstream') this.#deadline?.settle(decoder.bufferedBytes);
        return undefined;
      }
      this.#countFrames(dir, 1);
      const info = protocol ? (decoder as ProtocolFramer).info : undefined;
      if (info !== undefined) this.#trackExchange(dir, info);
      // Request durations: a request starts when its first frame is read; its answer ends with the response's last
      // frame passed on here (or, when a handler keeps the frame and writes it later, when the handler says so).
      let answer = false;
      if (this.#clock !== undefined && info !== undefined && !info.opaque) {
        if (dir === 'toUpstream') {
          if (info.start) this.#clock.started(info.responses ?? 1, info.attributes);
        } else if (info.unsolicited !== true) {
          answer = info.end;
          if (info.start) this.#clock.answerStarted(frame);
        }
      }
      if (dir === 'toUpstream' && this.#taker !== undefined && info !== undefined && this.#handOff(chain.length > 0)) {
        this.#giveFrame(decoder, frame, info);
        continue;
      }
      const result = chain.length === 0 ? undefined : chain.run(frame, dir, info);
      if (result === undefined) {
        encodeInto(decoder, frame, out);
        if (answer) this.#clock!.answered();
        continue;
      }
      if (result instanceof Promise) {
        this.#heldAnswer = answer;
        return result;
      }
      if (answer && result.forward.length > 0) this.#clock!.answered();
      const error = this.#apply(dir, result);
      if (error !== undefined) return error;
    }
  }

  /**
   * Whether this request frame goes to the frame taker: while the session has no handlers, from the first request
   * boundary where the taker is ready (nothing written to it is pending); a request half handed over when a handler
   * is added live finishes that way (the handler applies from the next request on).
   */
  #handOff(chained: boolean): boolean {
    if (this.#handoffMid) return true;
    if (chained) return (this.#handingOff = false);
    if (!this.#handingOff) this.#handingOff = this.#out[0].length === 0 && this.#taker!.framesReady();
    return this.#handingOff;
  }

  #giveFrame(decoder: Framer, frame: Buffer, info: MessageInfo): void {
    const one = (this.#one ??= []);
    encodeInto(decoder, frame, one);
    const bytes = one.length === 1 ? one[0]! : Buffer.concat(one);
    emptyArray(one);
    this.#handedOver = true;
    this.#handoffMid = !info.end;
    this.#taker!.takeFrame(bytes, info, this.codec!);
  }

  /** A handler answers later: write what is collected, pause the source, and go on when the answer comes. */
  #hold(dir: Direction, pending: Promise<ChainResult>): void {
    this.#flush(dir);
    this.#to(dir, heldPhase(this.#phase[ix(dir)]));
    (dir === 'toUpstream' ? this.#client : this.#upstream).pause();
    pending.then(
      (r) => {
        this.#to(dir, releasedPhase(this.#phase[ix(dir)]));
        if (!this.#owner.isClosed()) this.#pump(dir, r);
      },
      (err: unknown) => {
        this.#to(dir, releasedPhase(this.#phase[ix(dir)]));
        this.#owner.fail(err, dir);
      },
    );
  }

  /** Every frame before the FIN went through: run the handlers' onEnd, then hand the FIN on. */
  #finishDirection(dir: Direction): void {
    const chain = this.#chain!;
    this.#to(dir, DirectionPhase.Ending);
    const waiting = chain.length === 0 ? undefined : chain.end(dir);
    if (waiting === undefined) {
      this.#to(dir, DirectionPhase.Ended);
      this.#endToward(dir, true);
      return;
    }
    waiting.then(
      () => {
        if (this.#owner.isClosed()) return;
        this.#to(dir, DirectionPhase.Ended);
        this.#endToward(dir, true);
      },
      (err: unknown) => this.#owner.fail(err, dir),
    );
  }

  /** Returns the error that closes the session, if the result carries one. */
  #apply(dir: Direction, r: ChainResult): SwitchyardError | undefined {
    const enc = dir === 'toUpstream' ? this.#decodeUp : this.#decodeDown;
    const out = this.#out[ix(dir)];
    for (const f of r.forward) encodeInto(enc, f, out);
    if (r.reply.length > 0) {
      const back: Direction = dir === 'toUpstream' ? 'toDownstream' : 'toUpstream';
      const renc = dir === 'toUpstream' ? this.#decodeDown : this.#decodeUp;
      for (const f of r.reply) encodeInto(renc, f, this.#out[ix(back)]);
    }
    return r.error;
  }

  /** Where the exchanges stand (protocol sessions): what a refusal needs to know, and the request deadline. */
  #trackExchange(dir: Direction, info: MessageInfo): void {
    if (info.opaque === true) this.#tunnel = true;
    if (dir === 'toUpstream') {
      if (info.start && info.responses !== 0) this.#awaiting = true;
      this.#deadline?.onFrame(info);
    } else this.#downMid = !info.end;
  }

  #countFrames(dir: Direction, n: number): void {
    const stats = this.#stats;
    for (let i = 0; i < stats.length; i++) {
      if (dir === 'toUpstream') stats[i]!.framesToUpstream += n;
      else stats[i]!.framesToDownstream += n;
    }
  }

  /** The one transition function of a direction's phase: refuses (and reports) an edge the diagram lacks. */
  #to(dir: Direction, next: DirectionPhase): boolean {
    const from = this.#phase[ix(dir)];
    if (!phaseCanMove(from, next)) {
      const err = illegalTransition(`session ${this.#sessionId} ${dir}`, phaseName(from), phaseName(next));
      for (const s of this.#stats) s.error(err.code);
      this.#logger.error({ session: this.#sessionId, direction: dir, code: err.code, err: err.message }, 'framed path refused a phase change');
      return false;
    }
    this.#phase[ix(dir)] = next;
    if (this.#trace) this.#logger.debug({ session: this.#sessionId, direction: dir, from: phaseName(from), to: phaseName(next) }, 'direction phase');
    return true;
  }

  // ---- output --------------------------------------------------------------------------------------------

  /**
   * FIN toward the direction's destination, after anything still queued for it. `natural`: the source itself ended
   * (not a handler); an upstream that ends so while a request waits for its answer is refused in the protocol.
   */
  #endToward(dir: Direction, natural = false): void {
    this.#flush(dir);
    const dest = dir === 'toUpstream' ? this.#upstream : this.#client;
    if (dest.destroyed) return;
    if (natural && dir === 'toDownstream' && this.#awaiting && this.canRefuse && this.#owner.upstreamLost()) return;
    this.#owner.finForwarded(dir);
    dest.end();
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
    const out = this.#out[ix(dir)];
    const whole = this.#lastRead[ix(dir)];
    this.#lastRead[ix(dir)] = undefined;
    let handed = true;
    // frames handed to the taker leave first: they were decoded before anything collected after them
    if (dir === 'toUpstream' && this.#handedOver) {
      this.#handedOver = false;
      if (!this.#upstream.destroyed && !this.#taker!.flushFrames()) {
        handed = false;
        this.#client.pause();
      }
    }
    if (out.length === 0) return handed;
    const dest = dir === 'toUpstream' ? this.#upstream : this.#client;
    if (dest.destroyed) {
      emptyArray(out);
      return true;
    }
    const ok = writeGathered(dest, out, whole);
    // emptied keeping its backing store: `length = 0` would make the next read's frames allocate a new one
    emptyArray(out);
    if (dir === 'toDownstream' && this.codec !== undefined) {
      this.#awaiting = false;
      this.#deadline?.onAnswer();
    }
    if (!ok) (dir === 'toUpstream' ? this.#client : this.#upstream).pause();
    return ok && handed;
  }

  // ---- SessionIO (handlers acting on their own schedule) -------------------------------------------------

  write(dir: Direction, frames: readonly Frame[]): boolean {
    if (this.#owner.isClosed()) return true;
    const enc = dir === 'toUpstream' ? this.#decodeUp : this.#decodeDown;
    const out = this.#out[ix(dir)];
    for (const f of frames) encodeInto(enc, f, out);
    if (this.#pumping > 0) return true;
    return this.#write(dir);
  }

  answered(): void {
    this.#clock?.answered();
  }

  drained(dir: Direction): Promise<void> {
    const dest = dir === 'toUpstream' ? this.#upstream : this.#client;
    if (this.#owner.isClosed() || dest.destroyed || !dest.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        dest.off('drain', done);
        dest.off('close', done);
        resolve();
      };
      dest.on('drain', done);
      dest.on('close', done);
    });
  }

  end(dir: Direction): void {
    if (!this.#owner.isClosed()) this.#endToward(dir);
  }

  reset(): void {
    this.#owner.reset();
  }

  close(error?: SwitchyardError): void {
    if (this.#owner.isClosed()) return;
    // Write what is collected for both sides now, even inside a pump (its flush would come after the close and
    // find the sockets destroyed: e.g. a server response followed by an injected reply that closes).
    this.#write('toUpstream');
    this.#write('toDownstream');
    this.#owner.close(error);
  }

  get closed(): boolean {
    return this.#owner.isClosed();
  }
}
