import type { Frame } from '../framing/framer.js';
import type { SwitchyardError } from '../core/errors.js';
import type { Logger } from '../core/log.js';

/** toUpstream = client → server; toDownstream = server → client. */
export type Direction = 'toUpstream' | 'toDownstream';

/**
 * What a handler decides about one frame.
 * - continue: pass `frames` (default: the frame unchanged) to the next handler;
 * - reply: answer the peer the frame came from with `frames` (e.g. a protocol error), forward nothing;
 * - drop: forget the frame;
 * - close: end the session with a typed error.
 */
export type Verdict =
  | { readonly action: 'continue'; readonly frames?: readonly Frame[] }
  | { readonly action: 'reply'; readonly frames: readonly Frame[] }
  | { readonly action: 'drop' }
  | { readonly action: 'close'; readonly error: SwitchyardError };

export const CONTINUE: Verdict = Object.freeze({ action: 'continue' });

/** Per-session facts a handler may read. */
export interface SessionContext {
  readonly sessionId: number;
  readonly listenerId: string;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly logger: Logger;
  /** Aborted when the session ends; pass it to every async operation. */
  readonly signal: AbortSignal;
}

/**
 * A frame handler instance belongs to ONE session (habit 1: factories at config time, instances per session).
 * Handlers run first→last toward the upstream and last→first toward the client. A handler may return a promise;
 * the session then holds back later frames of that direction (and pauses the source) until it settles, so order
 * is kept.
 */
export interface FrameHandler {
  onFrame(frame: Frame, direction: Direction, ctx: SessionContext): Verdict | Promise<Verdict>;
  /** Called once when the session ends. */
  onClose?(ctx: SessionContext): void;
}

export interface HandlerFactory {
  readonly name: string;
  create(ctx: SessionContext): FrameHandler;
}
