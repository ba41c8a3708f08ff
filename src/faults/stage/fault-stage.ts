import type { Direction, FrameHandler, HandlerFactory, SessionContext, Verdict } from '../../pipeline/handler.js';
import type { MessageInfo } from '../../protocols/protocol.js';
import type { Fault, FaultSet } from '../fault-set.js';
import type { Stream } from '../../config/fault-input.js';
import type { FaultStageOptions } from './options.js';
import { PairingBooks } from './pairing.js';
import { Link } from './link.js';

/**
 * The fault stage of a listener's pipeline: one handler per session holding two links (one per direction), each a
 * chain of the live faults for its stream. It sits at the wire: frames it passes are written by it, in order.
 */
export class FaultHandlerFactory implements HandlerFactory {
  readonly name = 'faults';
  readonly options: FaultStageOptions;
  /** Connections seen: the random streams are keyed by this ordinal, so a seeded run repeats whatever else runs in the process. */
  #ordinal = 0;
  /** {@link idle}'s answer for the set's `version` (-1: not worked out yet). */
  #idleVersion = -1;
  #idle = false;

  constructor(options: FaultStageOptions) {
    this.options = options;
  }

  /** `ticket`: the ordinal {@link ticket} gave a session that started without the stage (it was idle then). */
  create(ctx: SessionContext, ticket?: number): FrameHandler {
    return new FaultStageHandler(this.options, ctx, ticket ?? ++this.#ordinal);
  }

  /**
   * True while no fault of the set can act on a connection: each one is {@link inert}. A raw session then starts
   * without the stage (nothing per connection) and takes it when the set changes so that this is false.
   */
  idle(): boolean {
    const set = this.options.set;
    if (this.#idleVersion !== set.version) {
      this.#idleVersion = set.version;
      const include = this.options.include;
      // faults the stage does not run (left out by `include`) do not count
      const all = (stream: Stream): boolean => set.chain(stream).every((f) => (include !== undefined && !include(f)) || inert(f));
      this.#idle = all('upstream') && all('downstream');
    }
    return this.#idle;
  }

  /** The connection's ordinal, taken when it starts without the stage (a seeded run draws the same either way). */
  ticket(): number {
    return ++this.#ordinal;
  }
}

/**
 * A fault that does nothing on a connection, now or later, unless the set changes (which reaches live sessions):
 * a passive one (noop, dummy: never touches data) or a connection-scope one with toxicity 0 (never drawn), outside
 * exclusive groups, and not drawing per request (a passive request-scope fault with toxicity between 0 and 1 draws
 * from the link's random stream on every request: deferring it would shift a seeded run's later draws).
 */
function inert(f: Fault): boolean {
  if (f.group !== undefined) return false;
  if (f.plugin.passive === true) return f.scope !== 'request' || f.toxicity >= 1 || f.toxicity <= 0;
  return f.scope === 'connection' && f.toxicity <= 0;
}

/** What the fault stages of one fault set's live sessions hold (see {@link faultStagePending}). */
export interface FaultStagePending {
  /** Live sessions running through the stage. */
  readonly sessions: number;
  /** Links not idle: an item inside a fault (delivering) or an end of stream on its way (ending). */
  readonly busyLinks: number;
  /** Frames queued behind a fault, and their bytes. */
  readonly queuedFrames: number;
  readonly queuedBytes: number;
  /** Senders paused because a queue was over its bounds. */
  readonly heldSenders: number;
  /** Requests sent whose response has not started / not completed yet. */
  readonly awaitingResponses: number;
  readonly owedResponses: number;
  /** Replies the proxy made up, waiting behind server responses. */
  readonly waitingReplies: number;
}

/**
 * Live handlers per fault set: registered on create, removed on close (never touched per frame). One subscription
 * per set (made with its first handler) reconfigures them all when the set changes: a session costs a set entry,
 * not a listener closure of its own.
 */
const liveHandlers = new WeakMap<FaultSet, Set<FaultStageHandler>>();

function liveHandlersOf(set: FaultSet): Set<FaultStageHandler> {
  let live = liveHandlers.get(set);
  if (live === undefined) {
    const handlers = (live = new Set());
    liveHandlers.set(set, handlers);
    set.onChange(() => {
      for (const h of handlers) h.reconfigure();
    });
  }
  return live;
}

/**
 * Read-only sum of what the live sessions' fault stages of `set` hold: everything but `sessions` is 0 once every
 * request got its answer and nothing waits inside a fault. For tests and diagnostics.
 */
export function faultStagePending(set: FaultSet): FaultStagePending {
  const p = { sessions: 0, busyLinks: 0, queuedFrames: 0, queuedBytes: 0, heldSenders: 0, awaitingResponses: 0, owedResponses: 0, waitingReplies: 0 };
  for (const h of liveHandlers.get(set) ?? []) {
    p.sessions++;
    for (const link of h.links) {
      const l = link.pending;
      if (l.state !== 'idle' && l.state !== 'ended') p.busyLinks++;
      p.queuedFrames += l.queuedFrames;
      p.queuedBytes += l.queuedBytes;
      p.heldSenders += l.heldSenders;
    }
    p.awaitingResponses += h.books.awaiting.length;
    p.owedResponses += h.books.order.length - h.books.waitingReplies;
    p.waitingReplies += h.books.waitingReplies;
  }
  return p;
}

/** One session's fault stage: its two links and the pairing books they share; its set's changes reach it through {@link liveHandlersOf}. */
class FaultStageHandler implements FrameHandler {
  readonly #up: Link;
  readonly #down: Link;
  readonly #live: Set<FaultStageHandler>;
  readonly books: PairingBooks;

  constructor(opts: FaultStageOptions, ctx: SessionContext, ordinal: number) {
    const books = (this.books = new PairingBooks(ctx));
    this.#live = liveHandlersOf(opts.set);
    this.#live.add(this);
    this.#up = new Link(opts, ctx, ordinal, books, 'upstream', 'toUpstream');
    this.#down = new Link(opts, ctx, ordinal, books, 'downstream', 'toDownstream');
    this.reconfigure();
  }

  /** Match both links to the live fault set (at once when it changes). */
  reconfigure(): void {
    this.#up.reconfigure();
    this.#down.reconfigure();
  }

  onFrame(frame: Buffer, direction: Direction, _ctx: SessionContext, info?: MessageInfo): Verdict | Promise<Verdict> {
    return (direction === 'toUpstream' ? this.#up : this.#down).accept(frame, info);
  }

  onEnd(direction: Direction): void | Promise<void> {
    return (direction === 'toUpstream' ? this.#up : this.#down).acceptEnd();
  }

  get links(): readonly Link[] {
    return [this.#up, this.#down];
  }

  onClose(): void {
    this.#live.delete(this);
    this.#up.dispose();
    this.#down.dispose();
  }
}
