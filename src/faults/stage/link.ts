import { performance } from 'node:perf_hooks';
import { CONTINUE, type Direction, type SessionContext, type Verdict } from '../../pipeline/handler.js';
import type { Attributes, ErrorReplyRequest, MessageInfo } from '../../protocols/protocol.js';
import { ErrorCodes, SwitchyardError } from '../../core/errors.js';
import type { Stream } from '../../config/fault-input.js';
import type { Fault } from '../fault-set.js';
import type { FaultChunk, FaultIO } from '../plugin.js';
import type { Random } from '../random.js';
import type { FaultStageOptions } from './options.js';
import type { PairingBooks } from './pairing.js';
import { Stage, sleep } from './stage.js';
import { LinkState, illegalLinkTransition, linkCanMove, linkStateName } from './link-state.js';

const DROP: Verdict = Object.freeze({ action: 'drop' });
const END = Symbol('end');
type Item = FaultChunk | typeof END;

/**
 * One direction's chain of fault stages, processing frames strictly in order. Its lifecycle is one
 * {@link LinkState}, changed only by `#to`.
 */
export class Link {
  readonly stream: Stream;
  readonly dir: Direction;
  readonly #opts: FaultStageOptions;
  readonly #ctx: SessionContext;
  readonly #ordinal: number;
  readonly #books: PairingBooks;
  readonly #random: Random;
  readonly #maxBytes: number;
  readonly #maxFrames: number;
  /** Trace transitions at debug level (decided once, when the link is made). */
  readonly #trace: boolean;
  #state: LinkState = LinkState.Idle;
  // -- configuration
  #stages: Stage[] = [];
  /** The fault set version the stages match (-1: not matched yet). */
  #version = -1;
  /** Nothing to do to any frame: every fault is passive (noop, dummy) or lost its connection draw. */
  #passive = true;
  // -- input
  readonly #queue: Item[] = [];
  #queuedBytes = 0;
  /** Senders held back because the queue is over its bounds; released once it is under half of them. */
  #waiters: (() => void)[] = [];
  /** Settles the session's onEnd once the FIN passed every stage. */
  #endWaiter: (() => void) | undefined;
  // -- the message being processed
  /** Stages that apply to the item being processed. */
  #active: Stage[] = [];
  /** Current request (or response) context. */
  #request: Attributes | undefined;
  /** The current request (or the request the current response answers) is connection setup (`MessageInfo.setup`). */
  #setup = false;
  /** Request-scoped and group faults drawn for the current message (made on the first draw). */
  #decisions: Set<Fault> | undefined;
  /**
   * The proxy answered the current request itself: the rest of it (later pieces of the frame a fault split, later
   * frames of the message) never reaches the server. Reset by the next message.
   */
  #dropRest = false;
  /** The frame being processed (for replyError). */
  #current: FaultChunk | undefined;

  constructor(opts: FaultStageOptions, ctx: SessionContext, ordinal: number, books: PairingBooks, stream: Stream, dir: Direction) {
    this.stream = stream;
    this.dir = dir;
    this.#opts = opts;
    this.#ctx = ctx;
    this.#ordinal = ordinal;
    this.#books = books;
    this.#random = opts.random.stream(`${ctx.listenerId}|${ordinal}|${stream}`);
    this.#maxBytes = opts.maxQueuedBytes ?? 4 * 1024 * 1024;
    this.#maxFrames = opts.maxQueuedFrames ?? 1024;
    this.#trace = ctx.logger.isLevelEnabled('debug');
  }

  /** The one transition function: refuses (and logs, as a typed error) an edge the state diagram lacks. */
  #to(next: LinkState): boolean {
    const from = this.#state;
    if (!linkCanMove(from, next)) {
      const err = illegalLinkTransition(`faults ${this.#ctx.sessionId} ${this.stream}`, from, next);
      this.#ctx.logger.error({ session: this.#ctx.sessionId, stream: this.stream, code: err.code, err: err.message }, 'fault link refused a state change');
      return false;
    }
    this.#state = next;
    if (this.#trace) this.#ctx.logger.debug({ session: this.#ctx.sessionId, stream: this.stream, from: linkStateName(from), to: linkStateName(next) }, 'fault link state');
    return true;
  }

  // ---- configuration ------------------------------------------------------------------------------------

  /** Match the stages to the live fault set: keep unchanged ones (and their state), abort the rest. */
  reconfigure(): void {
    const set = this.#opts.set;
    if (this.#version === set.version || this.#state === LinkState.Disposed) return;
    this.#version = set.version;
    const include = this.#opts.include;
    const wanted = include === undefined ? set.chain(this.stream) : set.chain(this.stream).filter(include);
    const previous = this.#stages;
    if (previous.length === 0 && wanted.length === 0) {
      this.#passive = true;
      return;
    }
    const next: Stage[] = [];
    // The first match of a connection (nothing to keep) takes no map
    const old = previous.length === 0 ? undefined : new Map(previous.map((st) => [st.fault, st]));
    let passive = true;
    for (const fault of wanted) {
      const st = old?.get(fault);
      let stage: Stage;
      if (st && st.generation === fault.generation) {
        stage = st;
        old!.delete(fault);
      } else {
        stage = this.#createStage(fault);
      }
      next.push(stage);
      if (fault.plugin.passive !== true && (stage.drawn || fault.group !== undefined)) passive = false;
    }
    this.#stages = next;
    this.#passive = passive;
    if (old !== undefined && old.size > 0) {
      const removed = [...old.values()];
      for (const st of removed) st.abort();
      for (const st of removed) {
        if (!wanted.includes(st.fault) && st.drawn && st.instance.removed) {
          try {
            st.instance.removed(st.io);
          } catch (err) {
            this.#ctx.logger.warn({ err, fault: st.fault.name }, 'fault removed() threw');
          }
        }
      }
    }
    for (const st of next) if (st.drawn && st.instance.start) this.#startStage(st);
  }

  #startStage(st: Stage): void {
    if (st.started) return;
    st.started = true;
    try {
      st.instance.start!(st.io);
    } catch (err) {
      this.#fail(err);
    }
  }

  #createStage(fault: Fault): Stage {
    const key = `${this.#ctx.listenerId}|${this.#ordinal}|${this.stream}|${fault.name}|${fault.generation}`;
    const random = this.#opts.random.stream(key);
    const drawn = fault.scope === 'request' || fault.group !== undefined ? true : fault.toxicity >= 1 || (fault.toxicity > 0 && random.next() < fault.toxicity);
    const instance = fault.plugin.create(fault.options, { stream: this.stream, random, shared: fault.shared });
    return new Stage(fault, instance, drawn, (stage) => this.#makeIO(stage, random));
  }

  /** A stage's io, made on its first use (passive faults never need one). */
  #makeIO(stage: Stage, random: Random): FaultIO {
    const ctx = this.#ctx;
    return {
      push: (chunk) => this.#runFrom(this.#active.indexOf(stage) + 1, chunk),
      end: () => this.#endFrom(this.#stages.indexOf(stage) + 1),
      replyError: (req) => this.#replyError(req),
      errorStatuses: (request) => ctx.codec?.errorStatuses?.(request),
      reset: () => ctx.io.reset(),
      close: (reason) => ctx.io.close(new SwitchyardError(ErrorCodes.FAULT_CLOSED, `closed by fault '${stage.fault.name}' (${stage.fault.type}): ${reason}`)),
      sleep: (ms) => sleep(ms, stage.signal),
      get signal() {
        return stage.signal;
      },
      random,
      logger: ctx.logger,
      injected: () => {
        stage.fault.injected++;
      },
    };
  }

  // ---- input ----------------------------------------------------------------------------------------------

  accept(frame: Buffer, info: MessageInfo | undefined): Verdict | Promise<Verdict> {
    if (this.#passive && this.#state === LinkState.Idle && !this.#dropRest && this.#version === this.#opts.set.version) {
      // Fast path: no fault touches this frame; the session writes it. Keep the pairing books as #wire would.
      if (info === undefined || info.opaque) return CONTINUE;
      const books = this.#books;
      if (this.stream === 'upstream') {
        if (info.start) books.requestSent(info, info.attributes);
        return CONTINUE;
      }
      if (books.waitingReplies === 0) {
        if (info.start && !info.unsolicited) books.awaiting.shift();
        if (info.end && !info.unsolicited && books.order[0]?.server) books.order.shift();
        return CONTINUE;
      }
    }
    const chunk: FaultChunk = { data: frame, time: performance.now(), info, request: undefined };
    if (this.#state === LinkState.Idle) {
      const r = this.#process(chunk);
      if (r !== undefined) this.#runAsync(r);
      return DROP;
    }
    this.#queue.push(chunk);
    this.#queuedBytes += frame.length;
    if (this.#queuedBytes > this.#maxBytes || this.#queue.length > this.#maxFrames) {
      return new Promise<Verdict>((resolve) => this.#waiters.push(() => resolve(DROP)));
    }
    return DROP;
  }

  acceptEnd(): void | Promise<void> {
    const idle = this.#state === LinkState.Idle;
    if (!this.#to(LinkState.Ending)) return;
    if (idle) {
      const r = this.#processEnd();
      if (r !== undefined) this.#runAsync(r);
    } else {
      this.#queue.push(END);
    }
    if (this.#state !== LinkState.Ending) return;
    return new Promise<void>((resolve) => (this.#endWaiter = resolve));
  }

  #runAsync(pending: Promise<void>): void {
    if (this.#state === LinkState.Idle) this.#to(LinkState.Delivering);
    pending.then(
      () => this.#drain(),
      (err: unknown) => this.#fail(err),
    );
  }

  /** Process queued items one by one until the queue is empty. */
  #drain(): void {
    while (this.#queue.length > 0 && this.#state !== LinkState.Disposed) {
      const item = this.#queue.shift()!;
      let r: Promise<void> | undefined;
      try {
        if (item === END) r = this.#processEnd();
        else {
          this.#queuedBytes -= item.data.length;
          r = this.#process(item);
        }
      } catch (err) {
        this.#fail(err);
        return;
      }
      this.#release();
      if (r !== undefined) {
        r.then(
          () => this.#drain(),
          (err: unknown) => this.#fail(err),
        );
        return;
      }
    }
    if (this.#state === LinkState.Delivering) this.#to(LinkState.Idle);
    this.#release();
  }

  #release(): void {
    if (this.#waiters.length > 0 && this.#queuedBytes <= this.#maxBytes / 2 && this.#queue.length <= this.#maxFrames / 2) {
      const w = this.#waiters;
      this.#waiters = [];
      for (const f of w) f();
    }
  }

  // ---- processing -----------------------------------------------------------------------------------------

  /** Run one frame through the active stages. Returns a promise only when something waits. */
  #process(chunk: FaultChunk): Promise<void> | undefined {
    this.reconfigure();
    const info = chunk.info;
    const opaque = info?.opaque === true;
    if (info === undefined || opaque || info.start) this.#newMessage(info, opaque);
    else if (this.#dropRest) {
      // The rest of a request the proxy already answered itself.
      if (info.end) this.#dropRest = false;
      return undefined;
    }
    (chunk as { request: Attributes | undefined }).request = this.#request;
    const active = this.#activeStages();
    this.#active = active;
    this.#current = chunk;
    const r = active.length === 0 ? this.#wire(chunk) : this.#runFrom(0, chunk);
    return r instanceof Promise ? r : undefined;
  }

  #newMessage(info: MessageInfo | undefined, opaque: boolean): void {
    this.#dropRest = false;
    if (this.stream === 'upstream') {
      this.#request = opaque ? undefined : info?.attributes;
      this.#setup = !opaque && info?.setup === true;
    } else if (info !== undefined && !opaque && !info.unsolicited) {
      const awaited = this.#books.awaiting.shift();
      this.#request = awaited?.attributes;
      this.#setup = awaited?.setup === true;
    } else {
      this.#request = undefined;
      this.#setup = false;
    }
    this.#decide();
  }

  /**
   * Per-request draws for request-scoped faults and exclusive groups. On a connection setup request (and its
   * responses) only faults with `handshake: true` draw: the others neither fire nor consume a draw. A group member
   * left out keeps its share as "nothing fires", so the others' shares stay what they were configured to be.
   */
  #decide(): void {
    this.#decisions?.clear();
    const setup = this.#setup;
    let groups: Map<string, Fault[]> | undefined;
    for (const st of this.#stages) {
      const f = st.fault;
      if (setup && !f.handshake) continue;
      if (f.group !== undefined) {
        groups ??= new Map();
        const g = groups.get(f.group);
        if (g) g.push(f);
        else groups.set(f.group, [f]);
      } else if (f.scope === 'request' && f.toxicity > 0 && (f.toxicity >= 1 || this.#random.next() < f.toxicity)) {
        (this.#decisions ??= new Set()).add(f);
      }
    }
    if (groups) {
      for (const members of groups.values()) {
        const r = this.#random.next();
        let acc = 0;
        for (const f of members) {
          acc += f.toxicity;
          if (r < acc) {
            (this.#decisions ??= new Set()).add(f);
            break;
          }
        }
      }
    }
  }

  #activeStages(): Stage[] {
    const out: Stage[] = [];
    for (const st of this.#stages) {
      if (!st.drawn || st.fault.plugin.passive) continue;
      const f = st.fault;
      if ((f.scope === 'request' || f.group !== undefined) && this.#decisions?.has(f) !== true) continue;
      if (f.matcher && !f.matcher(this.#request)) continue;
      out.push(st);
    }
    return out;
  }

  #runFrom(index: number, chunk: FaultChunk): Promise<void> | void {
    const active = this.#active;
    if (index >= active.length) return this.#wire(chunk);
    const st = active[index]!;
    if (st.aborted) return this.#runFrom(index + 1, chunk);
    if (!st.instance.chunk) return this.#runFrom(index + 1, chunk);
    return st.instance.chunk(chunk, st.io);
  }

  /** The end of the chain: write the frame, keeping the pairing books. */
  #wire(chunk: FaultChunk): Promise<void> | void {
    const io = this.#ctx.io;
    if (io.closed || this.#dropRest) return;
    const info = chunk.info;
    const ok = io.write(this.dir, [chunk.data]);
    if (info !== undefined && !info.opaque) {
      if (this.stream === 'upstream') {
        if (info.start) this.#books.requestSent(info, chunk.request);
      } else if (info.end && !info.unsolicited) {
        this.#books.responseDone();
      }
    }
    if (!ok) return io.drained(this.dir);
  }

  #replyError(req: ErrorReplyRequest): boolean {
    const chunk = this.#current;
    if (this.stream !== 'upstream' || !chunk?.info || chunk.info.opaque || !chunk.info.start) return false;
    const codec = this.#ctx.codec;
    const reply = codec?.errorReply({ ...req, request: req.request ?? chunk.request });
    if (!reply) return false;
    this.#dropRest = true;
    this.#books.reply(reply.frames, reply.close);
    return true;
  }

  #processEnd(): Promise<void> | undefined {
    this.reconfigure();
    const r = this.#endFrom(0);
    return r instanceof Promise ? r : undefined;
  }

  /** End of stream through the stages (all drawn ones, whatever the per-request draws); the last hands it to the session. */
  #endFrom(index: number): Promise<void> | void {
    for (let i = index; i < this.#stages.length; i++) {
      const st = this.#stages[i]!;
      if (!st.drawn || st.aborted || !st.instance.end) continue;
      const f = st.fault;
      if ((f.scope === 'request' || f.group !== undefined) && this.#decisions?.has(f) !== true) continue;
      return st.instance.end(st.io);
    }
    // Through every stage (a fault may hold the FIN: hang, slow_close, or swallow it: timeout): the session
    // forwards it once onEnd settles.
    if (this.#state !== LinkState.Ended && this.#state !== LinkState.Disposed) this.#to(LinkState.Ended);
    const w = this.#endWaiter;
    this.#endWaiter = undefined;
    w?.();
  }

  #fail(err: unknown): void {
    this.#ctx.logger.warn({ err, stream: this.stream }, 'fault failed; closing the connection');
    this.#ctx.io.close(err instanceof SwitchyardError ? err : new SwitchyardError(ErrorCodes.FAULT_CLOSED, `fault failed: ${(err as Error).message}`));
  }

  /** What this link holds right now (read-only, for tests and diagnostics; not used on the data path). */
  get pending(): { readonly state: string; readonly queuedFrames: number; readonly queuedBytes: number; readonly heldSenders: number } {
    return { state: linkStateName(this.#state), queuedFrames: this.#queue.length, queuedBytes: this.#queuedBytes, heldSenders: this.#waiters.length };
  }

  dispose(): void {
    if (this.#state !== LinkState.Disposed) this.#to(LinkState.Disposed);
    for (const st of this.#stages) st.abort();
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#release();
  }
}
