import type { Socket } from 'node:net';
import { ErrorCodes } from '../core/errors.js';
import type { AcceptContext } from '../routing/engine.js';

/**
 * The listener-facing bookkeeping of a client connection a replicate session owns: counted as active in its stats
 * from accept to `release()`, `closed` resolved then, and the listener's idleTimeout.
 */
export class EngineConnection {
  readonly closed: Promise<void>;
  #resolve!: () => void;
  #released = false;
  readonly #ctx: AcceptContext;

  constructor(ctx: AcceptContext) {
    this.#ctx = ctx;
    this.closed = new Promise((r) => (this.#resolve = r));
    for (const s of ctx.stats) {
      s.active++;
      s.total++;
    }
  }

  /**
   * Apply the listener's idleTimeout (0 = none) to the client socket: after that long without bytes, `close()` unless
   * `busy()` (something is still being answered).
   */
  watchIdle(socket: Socket, busy: () => boolean, close: () => void): void {
    const idle = this.#ctx.idleTimeout ?? 0;
    if (idle <= 0) return;
    socket.setTimeout(idle);
    socket.on('timeout', () => {
      if (busy()) return;
      for (const s of this.#ctx.stats) s.error(ErrorCodes.IDLE_TIMEOUT);
      close();
    });
  }

  /** The connection is over: uncount it, tell the listener, resolve `closed`. False when it already was. */
  release(): boolean {
    if (this.#released) return false;
    this.#released = true;
    for (const s of this.#ctx.stats) s.active--;
    this.#ctx.onClose();
    this.#resolve();
    return true;
  }
}
