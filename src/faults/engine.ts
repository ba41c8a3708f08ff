import { performance } from 'node:perf_hooks';
import { CONTINUE, type Direction, type FrameHandler, type HandlerFactory, type SessionContext, type Verdict } from '../pipeline/handler.js';
import type { Attributes, ErrorReplyRequest, MessageInfo } from '../protocols/protocol.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { Fault, FaultSet } from './fault-set.js';
import type { FaultChunk, FaultIO, FaultInstance } from './plugin.js';
import type { Stream } from '../config/fault-input.js';
import type { Random, RandomSource } from './random.js';

const DROP: Verdict = Object.freeze({ action: 'drop' });

export interface FaultEngineOptions {
  readonly set: FaultSet;
  readonly random: RandomSource;
  /** Most bytes a direction may hold while faults delay them before the source is paused (default 4 MiB). */
  readonly maxQueuedBytes?: number;
  /** Most frames a direction may hold (default 1024, Toxiproxy's latency buffer). */
  readonly maxQueuedFrames?: number;
}

/**
 * The fault stage of a listener's pipeline: one handler per session holding two links (one per direction), each a
 * chain of the live faults for its stream. It sits at the wire: frames it passes are written by it, in order.
 */
export class FaultHandlerFactory implements HandlerFactory {
  readonly name = 'faults';
  readonly options: FaultEngineOptions;

  constructor(options: FaultEngineOptions) {
    this.options = options;
  }

  /** Connections seen: the random streams are keyed by this ordinal, so a seeded run repeats whatever else runs in the process. */
  #ordinal = 0;

  create(ctx: SessionContext): FrameHandler {
    return new FaultSession(this.options, ctx, ++this.#ordinal);
  }
}

type OrderEntry = { server: true } | { server: false; frames: readonly Buffer[]; close: boolean };
const SERVER: OrderEntry = Object.freeze({ server: true });

/** Per-session state shared by both links: request↔response pairing and injected replies waiting their turn. */
class FaultSession implements FrameHandler {
  readonly ctx: SessionContext;
  readonly opts: FaultEngineOptions;
  readonly up: Link;
  readonly down: Link;
  /** Attributes of requests on the wire whose response has not started yet (downstream matching). */
  readonly awaiting: (Attributes | undefined)[] = [];
  /** Responses owed to the client, in order: the server's, or a reply the proxy made up. */
  readonly order: OrderEntry[] = [];
  readonly #unsubscribe: () => void;

  readonly ordinal: number;

  constructor(opts: FaultEngineOptions, ctx: SessionContext, ordinal: number) {
    this.opts = opts;
    this.ctx = ctx;
    this.ordinal = ordinal;
    this.up = new Link(this, 'upstream', 'toUpstream');
    this.down = new Link(this, 'downstream', 'toDownstream');
    this.#unsubscribe = opts.set.onChange(() => {
      this.up.reconfigure();
      this.down.reconfigure();
    });
    this.up.reconfigure();
    this.down.reconfigure();
  }

  onFrame(frame: Buffer, direction: Direction, _ctx: SessionContext, info?: MessageInfo): Verdict | Promise<Verdict> {
    return (direction === 'toUpstream' ? this.up : this.down).accept(frame, info);
  }

  onEnd(direction: Direction): void | Promise<void> {
    return (direction === 'toUpstream' ? this.up : this.down).acceptEnd();
  }

  onClose(): void {
    this.#unsubscribe();
    this.up.dispose();
    this.down.dispose();
  }

  /** A request's start frame went to the server: it is owed `responses` answers (default 1). */
  requestSent(info: MessageInfo, attributes: Attributes | undefined): void {
    const n = info.responses ?? 1;
    for (let i = 0; i < n; i++) {
      this.awaiting.push(attributes);
      this.order.push(SERVER);
    }
  }

  /** A reply made up for a request: written now if no server response is owed before it, else queued behind. */
  /** Replies waiting in `order` behind server responses. */
  waitingReplies = 0;

  reply(frames: readonly Buffer[], close: boolean): void {
    if (this.order.length === 0) this.#writeReply(frames, close);
    else {
      this.order.push({ server: false, frames, close });
      this.waitingReplies++;
    }
  }

  /** A server response completed on the wire: pop it, then write replies that were waiting for it. */
  responseDone(): void {
    if (this.order[0]?.server) this.order.shift();
    while (this.order.length > 0 && !this.order[0]!.server) {
      const r = this.order.shift() as { frames: readonly Buffer[]; close: boolean };
      this.waitingReplies--;
      this.#writeReply(r.frames, r.close);
    }
  }

  #writeReply(frames: readonly Buffer[], close: boolean): void {
    this.ctx.io.write('toDownstream', frames);
    if (close) this.ctx.io.close();
  }
}

interface Stage {
  readonly fault: Fault;
  readonly generation: number;
  readonly instance: FaultInstance;
  readonly controller: AbortController;
  /** The connection-scope draw (always true for request-scoped faults, which draw per request). */
  readonly drawn: boolean;
  readonly io: FaultIO;
}

type Item = FaultChunk | typeof END;
const END = Symbol('end');

/** One direction's chain of fault stages, processing frames strictly in order. */
class Link {
  readonly #s: FaultSession;
  readonly stream: Stream;
  readonly dir: Direction;
  #stages: Stage[] = [];
  #version = -1;
  readonly #queue: Item[] = [];
  #queuedBytes = 0;
  #running = false;
  #waiters: (() => void)[] = [];
  #endWaiter: (() => void) | undefined;
  #disposed = false;
  /** Stages that apply to the item being processed. */
  #active: Stage[] = [];
  /** Current request (or response) context. */
  #request: Attributes | undefined;
  #decisions = new Set<Fault>();
  #dropRest = false;
  #passive = true;
  /** The frame being processed (for replyError). */
  #current: FaultChunk | undefined;
  readonly #random: Random;
  readonly #maxBytes: number;
  readonly #maxFrames: number;

  constructor(session: FaultSession, stream: Stream, dir: Direction) {
    this.#s = session;
    this.stream = stream;
    this.dir = dir;
    this.#random = session.opts.random.stream(`${session.ctx.listenerId}|${session.ordinal}|${stream}`);
    this.#maxBytes = session.opts.maxQueuedBytes ?? 4 * 1024 * 1024;
    this.#maxFrames = session.opts.maxQueuedFrames ?? 1024;
  }

  // ---- configuration ------------------------------------------------------------------------------------

  /** Match the stages to the live fault set: keep unchanged ones (and their state), abort the rest. */
  reconfigure(): void {
    const set = this.#s.opts.set;
    if (this.#version === set.version || this.#disposed) return;
    this.#version = set.version;
    const wanted = set.chain(this.stream);
    const next: Stage[] = [];
    const old = new Map(this.#stages.map((st) => [st.fault, st]));
    for (const fault of wanted) {
      const st = old.get(fault);
      if (st && st.generation === fault.generation) {
        next.push(st);
        old.delete(fault);
      } else {
        next.push(this.#createStage(fault));
      }
    }
    this.#stages = next;
    // Nothing to do to any frame: every fault is passive (noop, dummy) or lost its connection draw.
    this.#passive = next.every((st) => st.fault.plugin.passive === true || (!st.drawn && st.fault.group === undefined));
    const removed = [...old.values()];
    for (const st of removed) st.controller.abort();
    for (const st of removed) {
      if (!wanted.includes(st.fault) && st.drawn) {
        try {
          st.instance.removed?.(st.io);
        } catch (err) {
          this.#s.ctx.logger.warn({ err, fault: st.fault.name }, 'fault removed() threw');
        }
      }
    }
    for (const st of next) if (st.drawn && st.instance.start) this.#startStage(st);
  }

  #started = new WeakSet<Stage>();
  #startStage(st: Stage): void {
    if (this.#started.has(st)) return;
    this.#started.add(st);
    try {
      st.instance.start!(st.io);
    } catch (err) {
      this.#fail(err);
    }
  }

  #createStage(fault: Fault): Stage {
    const key = `${this.#s.ctx.listenerId}|${this.#s.ordinal}|${this.stream}|${fault.name}|${fault.generation}`;
    const random = this.#s.opts.random.stream(key);
    const controller = new AbortController();
    const drawn = fault.scope === 'request' || fault.group !== undefined ? true : fault.toxicity >= 1 || (fault.toxicity > 0 && random.next() < fault.toxicity);
    const instance = fault.plugin.create(fault.options, { stream: this.stream, random, shared: fault.shared });
    const stage: Stage = { fault, generation: fault.generation, instance, controller, drawn, io: undefined as unknown as FaultIO };
    (stage as { io: FaultIO }).io = this.#makeIO(stage, random);
    return stage;
  }

  #makeIO(stage: Stage, random: Random): FaultIO {
    const link = this;
    const session = this.#s;
    const signal = stage.controller.signal;
    return {
      push: (chunk) => link.#runFrom(link.#active.indexOf(stage) + 1, chunk),
      end: () => link.#endFrom(link.#stages.indexOf(stage) + 1),
      replyError: (req) => link.#replyError(req),
      errorStatuses: (request) => session.ctx.codec?.errorStatuses?.(request),
      reset: () => session.ctx.io.reset(),
      close: (reason) => session.ctx.io.close(new SwitchyardError(ErrorCodes.FAULT_CLOSED, `closed by fault '${stage.fault.name}' (${stage.fault.type}): ${reason}`)),
      sleep: (ms) => sleep(ms, signal),
      signal,
      random,
      logger: session.ctx.logger,
      injected: () => {
        stage.fault.injected++;
      },
    };
  }

  // ---- input ----------------------------------------------------------------------------------------------

  accept(frame: Buffer, info: MessageInfo | undefined): Verdict | Promise<Verdict> {
    if (this.#passive && !this.#running && this.#queue.length === 0 && !this.#dropRest && this.#version === this.#s.opts.set.version) {
      // Fast path: no fault touches this frame; the session writes it. Keep the pairing books as #wire would.
      if (info === undefined || info.opaque) return CONTINUE;
      if (this.stream === 'upstream') {
        if (info.start) this.#s.requestSent(info, info.attributes);
        return CONTINUE;
      }
      if (this.#s.waitingReplies === 0) {
        if (info.start && !info.unsolicited) this.#s.awaiting.shift();
        if (info.end && !info.unsolicited && this.#s.order[0]?.server) this.#s.order.shift();
        return CONTINUE;
      }
    }
    const chunk: FaultChunk = { data: frame, time: performance.now(), info, request: undefined };
    if (!this.#running && this.#queue.length === 0) {
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
    if (!this.#running && this.#queue.length === 0) {
      const r = this.#processEnd();
      if (r === undefined && this.#eofReached) return;
      if (r !== undefined) this.#runAsync(r);
    } else {
      this.#queue.push(END);
    }
    if (this.#eofReached) return;
    return new Promise<void>((resolve) => (this.#endWaiter = resolve));
  }

  /** The FIN made it through every stage (a fault may hold it: hang, slow_close, or swallow it: timeout). */
  #eofReached = false;

  #runAsync(pending: Promise<void>): void {
    this.#running = true;
    pending.then(
      () => this.#drain(),
      (err: unknown) => this.#fail(err),
    );
  }

  /** Process queued items one by one until the queue is empty. */
  #drain(): void {
    while (this.#queue.length > 0 && !this.#disposed) {
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
    this.#running = false;
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
    if (this.stream === 'upstream') this.#request = opaque ? undefined : info?.attributes;
    else if (info !== undefined && !opaque && !info.unsolicited) this.#request = this.#s.awaiting.shift();
    else this.#request = undefined;
    this.#decide();
  }

  /** Per-request draws for request-scoped faults and exclusive groups. */
  #decide(): void {
    this.#decisions.clear();
    let groups: Map<string, Fault[]> | undefined;
    for (const st of this.#stages) {
      const f = st.fault;
      if (f.group !== undefined) {
        groups ??= new Map();
        const g = groups.get(f.group);
        if (g) g.push(f);
        else groups.set(f.group, [f]);
      } else if (f.scope === 'request' && f.toxicity > 0 && (f.toxicity >= 1 || this.#random.next() < f.toxicity)) {
        this.#decisions.add(f);
      }
    }
    if (groups) {
      for (const members of groups.values()) {
        const r = this.#random.next();
        let acc = 0;
        for (const f of members) {
          acc += f.toxicity;
          if (r < acc) {
            this.#decisions.add(f);
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
      if ((f.scope === 'request' || f.group !== undefined) && !this.#decisions.has(f)) continue;
      if (f.matcher && !f.matcher(this.#request)) continue;
      out.push(st);
    }
    return out;
  }

  #runFrom(index: number, chunk: FaultChunk): Promise<void> | void {
    const active = this.#active;
    if (index >= active.length) return this.#wire(chunk);
    const st = active[index]!;
    if (st.controller.signal.aborted) return this.#runFrom(index + 1, chunk);
    if (!st.instance.chunk) return this.#runFrom(index + 1, chunk);
    return st.instance.chunk(chunk, st.io);
  }

  /** The end of the chain: write the frame, keeping the pairing books. */
  #wire(chunk: FaultChunk): Promise<void> | void {
    const io = this.#s.ctx.io;
    if (io.closed) return;
    const info = chunk.info;
    const ok = io.write(this.dir, [chunk.data]);
    if (info !== undefined && !info.opaque) {
      if (this.stream === 'upstream') {
        if (info.start) this.#s.requestSent(info, chunk.request);
      } else if (info.end && !info.unsolicited) {
        this.#s.responseDone();
      }
    }
    if (!ok) return io.drained(this.dir);
  }

  #replyError(req: ErrorReplyRequest): boolean {
    const chunk = this.#current;
    if (this.stream !== 'upstream' || !chunk?.info || chunk.info.opaque || !chunk.info.start) return false;
    const codec = this.#s.ctx.codec;
    const reply = codec?.errorReply({ ...req, request: req.request ?? chunk.request });
    if (!reply) return false;
    this.#dropRest = !chunk.info.end;
    this.#s.reply(reply.frames, reply.close);
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
      if (!st.drawn || st.controller.signal.aborted || !st.instance.end) continue;
      const f = st.fault;
      if ((f.scope === 'request' || f.group !== undefined) && !this.#decisions.has(f)) continue;
      return st.instance.end(st.io);
    }
    // Through every stage: the session forwards the FIN once onEnd settles.
    this.#eofReached = true;
    const w = this.#endWaiter;
    this.#endWaiter = undefined;
    w?.();
  }

  #fail(err: unknown): void {
    this.#s.ctx.logger.warn({ err, stream: this.stream }, 'fault failed; closing the connection');
    this.#s.ctx.io.close(err instanceof SwitchyardError ? err : new SwitchyardError(ErrorCodes.FAULT_CLOSED, `fault failed: ${(err as Error).message}`));
  }

  dispose(): void {
    this.#disposed = true;
    for (const st of this.#stages) st.controller.abort();
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#release();
  }
}

/** setTimeout as a promise that resolves early (not rejects) on abort, so in-flight data moves on. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
