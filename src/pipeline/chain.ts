import type { Frame } from '../framing/framer.js';
import type { Direction, FrameHandler, SessionContext, Verdict } from './handler.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { MessageInfo } from '../protocols/protocol.js';

/** Result of running one frame through the whole chain. */
export interface ChainResult {
  /** Frames to write toward the direction's destination. */
  forward: Frame[];
  /** Frames to send back to the frame's source. */
  reply: Frame[];
  error?: SwitchyardError;
}

/**
 * The per-session handler chain. Runs synchronously while every handler answers synchronously; the first
 * promise switches that frame to the async path. Callers keep frame order by awaiting the returned promise
 * before feeding the next frame of the same direction.
 */
export class HandlerChain {
  readonly #handlers: readonly FrameHandler[];
  readonly #ctx: SessionContext | undefined;
  /** The handlers in toDownstream order, made on first use. */
  #rev: readonly FrameHandler[] | undefined;

  /** `ctx` may be left out only when there are no handlers (nothing then asks for it: see {@link EMPTY_CHAIN}). */
  constructor(handlers: readonly FrameHandler[], ctx?: SessionContext) {
    this.#handlers = handlers;
    this.#ctx = ctx;
  }

  get #context(): SessionContext {
    if (this.#ctx === undefined) throw new SwitchyardError(ErrorCodes.INTERNAL, 'handler chain: handlers without a session context');
    return this.#ctx;
  }

  get length(): number {
    return this.#handlers.length;
  }

  /**
   * Run one frame through every handler. Undefined: every handler passed it on unchanged (the common case: no
   * result object is made; the caller forwards the frame itself).
   */
  run(frame: Frame, direction: Direction, info?: MessageInfo): ChainResult | Promise<ChainResult> | undefined {
    const order = direction === 'toUpstream' ? this.#handlers : this.#reversed;
    if (order.length === 0) return undefined;
    const ctx = this.#context;
    for (let i = 0; i < order.length; i++) {
      const verdict = order[i]!.onFrame(frame, direction, ctx, info);
      if (!(verdict instanceof Promise) && verdict.action === 'continue' && verdict.frames === undefined) continue;
      // From the first handler that does anything else on, the general path (its verdict is applied as it came).
      const result: ChainResult = { forward: [], reply: [] };
      const next: Frame[] = [];
      if (verdict instanceof Promise) return this.#stepAsync(order, i, [frame], 0, verdict, next, direction, result, info);
      if (this.#apply(verdict, frame, next, result)) return result;
      return this.#step(order, i + 1, next, direction, result, next.length === 1 && next[0] === frame ? info : undefined);
    }
    return undefined;
  }

  get #reversed(): readonly FrameHandler[] {
    this.#rev ??= [...this.#handlers].reverse();
    return this.#rev;
  }

  /**
   * End of stream in `direction`: every handler's onEnd, in the direction's order; resolves when all settled.
   * Returns undefined when nothing has to be waited for.
   */
  end(direction: Direction): Promise<void> | undefined {
    const order = direction === 'toUpstream' ? this.#handlers : this.#reversed;
    let pending: Promise<void>[] | undefined;
    for (const h of order) {
      const r = h.onEnd?.(direction, this.#context);
      if (r instanceof Promise) (pending ??= []).push(r);
    }
    return pending ? Promise.all(pending).then(() => undefined) : undefined;
  }

  /** `info` describes the frame while it is still the single, unchanged frame the framer returned. */
  #step(order: readonly FrameHandler[], index: number, frames: readonly Frame[], direction: Direction, result: ChainResult, info: MessageInfo | undefined): ChainResult | Promise<ChainResult> {
    if (index === order.length) {
      for (const f of frames) result.forward.push(f);
      return result;
    }
    const handler = order[index]!;
    const next: Frame[] = [];
    for (let i = 0; i < frames.length; i++) {
      const verdict = handler.onFrame(frames[i]!, direction, this.#context, info);
      if (verdict instanceof Promise) {
        return this.#stepAsync(order, index, frames, i, verdict, next, direction, result, info);
      }
      if (this.#apply(verdict, frames[i]!, next, result)) return result;
    }
    return this.#step(order, index + 1, next, direction, result, sameFrame(next, frames) ? info : undefined);
  }

  async #stepAsync(
    order: readonly FrameHandler[], index: number, frames: readonly Frame[], i: number,
    pending: Promise<Verdict>, next: Frame[], direction: Direction, result: ChainResult, info: MessageInfo | undefined,
  ): Promise<ChainResult> {
    const handler = order[index]!;
    let verdict = await pending;
    for (;;) {
      if (this.#apply(verdict, frames[i]!, next, result)) return result;
      i++;
      if (i >= frames.length) break;
      verdict = await handler.onFrame(frames[i]!, direction, this.#context, info);
    }
    return this.#step(order, index + 1, next, direction, result, sameFrame(next, frames) ? info : undefined);
  }

  /** Returns true when processing must stop (close). */
  #apply(verdict: Verdict, frame: Frame, next: Frame[], result: ChainResult): boolean {
    switch (verdict.action) {
      case 'continue':
        if (verdict.frames === undefined) next.push(frame);
        else for (const f of verdict.frames) next.push(f);
        return false;
      case 'reply':
        for (const f of verdict.frames) result.reply.push(f);
        return false;
      case 'drop':
        return false;
      case 'close':
        result.error = verdict.error;
        return true;
    }
  }

  close(): void {
    for (const h of this.#handlers) {
      const ctx = this.#context;
      try {
        h.onClose?.(ctx);
      } catch (err) {
        ctx.logger.warn({ err }, 'handler onClose threw');
      }
    }
  }
}

/** The chain of a session without handlers: runs nothing, so it needs no session context (one for every such session). */
export const EMPTY_CHAIN = new HandlerChain([]);

/** The handler passed the single frame on unchanged, so its protocol info still applies. */
function sameFrame(next: readonly Frame[], frames: readonly Frame[]): boolean {
  return next.length === 1 && frames.length === 1 && next[0] === frames[0];
}
