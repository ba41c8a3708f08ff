import type { Frame, FramerFactory } from '../framing/framer.js';
import type { SwitchyardError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { MessageInfo, ProtocolCodec, ProtocolCodecFactory } from '../protocols/protocol.js';

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
  /** Writing and closing outside a verdict (delayed frames, injected replies): see {@link SessionIO}. */
  readonly io: SessionIO;
  /** The connection's protocol codec when the listener speaks a protocol (pairing, error replies). */
  readonly codec: ProtocolCodec | undefined;
  /** How the listener frames connections (to open more connections framed alike: a mirror's shadow). Undefined = raw bytes. */
  readonly framing?: { readonly codec?: ProtocolCodecFactory | undefined; readonly toUpstream: FramerFactory; readonly toDownstream: FramerFactory } | undefined;
}

/**
 * What a handler may do to the session on its own schedule (a fault delaying frames, a timer closing the
 * connection). Writes are encoded with the direction's framer and kept in order with the frames the session
 * forwards itself.
 */
export interface SessionIO {
  /** Write frames toward the direction's destination. Returns false when that destination is full (then await `drained`). */
  write(direction: Direction, frames: readonly Frame[]): boolean;
  /** Resolves when the direction's destination can take more (at once when it can, or when the session ended). */
  drained(direction: Direction): Promise<void>;
  /** Forward end-of-stream (FIN) toward the direction's destination. */
  end(direction: Direction): void;
  /**
   * A whole answer to a request (the server's response, or a reply the handler made up) was written toward the
   * client by the handler itself (through `write`), not passed on in a verdict. Feeds the request-duration metric;
   * only a handler that writes answers on its own schedule calls it (the fault stage's pairing books).
   */
  answered(): void;
  /** Close both sides with an RST. */
  reset(): void;
  /** Close both sides, letting what was written reach the peers (FIN; destroyed if it lingers); `error` is counted and logged. */
  close(error?: SwitchyardError): void;
  /** True once the session has ended. */
  readonly closed: boolean;
}

/**
 * A frame handler instance belongs to ONE session (factories are built at config time, instances per session).
 * Handlers run first→last toward the upstream and last→first toward the client. A handler may return a promise;
 * the session then holds back later frames of that direction (and pauses the source) until it settles, so order
 * is kept.
 */
export interface FrameHandler {
  /** `info` is the protocol framer's facts about this frame (undefined on plain framers). */
  onFrame(frame: Frame, direction: Direction, ctx: SessionContext, info?: MessageInfo): Verdict | Promise<Verdict>;
  /**
   * End of stream arrived in `direction`, after its last frame went through onFrame. A returned promise holds the
   * FIN back until it settles (a fault still delivering delayed frames, slow_close).
   */
  onEnd?(direction: Direction, ctx: SessionContext): void | Promise<void>;
  /** Called once when the session ends. */
  onClose?(ctx: SessionContext): void;
}

export interface HandlerFactory {
  readonly name: string;
  /** `ticket`: what {@link ticket} gave the session when it started without the handler (see {@link idle}). */
  create(ctx: SessionContext, ticket?: number): FrameHandler;
  /**
   * Optional: true while the handler has nothing to do on any connection (a fault stage whose faults are all
   * passive). A session that would otherwise forward raw bytes then starts without it (taking a {@link ticket}),
   * and creates it, switching to the framed path between two chunks, when its owner calls `Session.addHandler`
   * with this factory once `idle()` is false (a listener does on every change of its fault set).
   */
  idle?(): boolean;
  /** With {@link idle}: what `create` is given later (the fault stage: the connection's ordinal for its random streams). */
  ticket?(): number;
}
