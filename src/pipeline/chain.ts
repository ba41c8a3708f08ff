import type { Frame } from '../framing/framer.js';
import type { Direction, FrameHandler, SessionContext, Verdict } from './handler.js';
import type { SwitchyardError } from '../core/errors.js';

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
  readonly #ctx: SessionContext;

  constructor(handlers: readonly FrameHandler[], ctx: SessionContext) {
    this.#handlers = handlers;
    this.#ctx = ctx;
  }

  get length(): number {
    return this.#handlers.length;
  }

  run(frame: Frame, direction: Direction): ChainResult | Promise<ChainResult> {
    const result: ChainResult = { forward: [], reply: [] };
    const order = direction === 'toUpstream' ? this.#handlers : [...this.#handlers].reverse();
    return this.#step(order, 0, [frame], direction, result);
  }

  #step(order: readonly FrameHandler[], index: number, frames: readonly Frame[], direction: Direction, result: ChainResult): ChainResult | Promise<ChainResult> {
    if (index === order.length) {
      for (const f of frames) result.forward.push(f);
      return result;
    }
    const handler = order[index]!;
    let next: Frame[] = [];
    for (let i = 0; i < frames.length; i++) {
      const verdict = handler.onFrame(frames[i]!, direction, this.#ctx);
      if (verdict instanceof Promise) {
        return this.#stepAsync(order, index, frames, i, verdict, next, direction, result);
      }
      if (this.#apply(verdict, frames[i]!, next, result)) return result;
    }
    return this.#step(order, index + 1, next, direction, result);
  }

  async #stepAsync(
    order: readonly FrameHandler[], index: number, frames: readonly Frame[], i: number,
    pending: Promise<Verdict>, next: Frame[], direction: Direction, result: ChainResult,
  ): Promise<ChainResult> {
    const handler = order[index]!;
    let verdict = await pending;
    for (;;) {
      if (this.#apply(verdict, frames[i]!, next, result)) return result;
      i++;
      if (i >= frames.length) break;
      verdict = await handler.onFrame(frames[i]!, direction, this.#ctx);
    }
    return this.#step(order, index + 1, next, direction, result);
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
      try {
        h.onClose?.(this.#ctx);
      } catch (err) {
        this.#ctx.logger.warn({ err }, 'handler onClose threw');
      }
    }
  }
}
