/**
 * A session's splice(2) path: the raw byte path of a plain TCP passthrough session moved by the native addon
 * (net/splice.ts) instead of JS. The session keeps its lifecycle; this file turns the addon's records into what
 * the JS path would have done:
 *
 * - bytes: counted into the session's TrafficStats as the addon reports them (every ~250 ms, and at the end); with
 *   `countFrames` (a session whose handlers are idle), each read that moved bytes counts as one frame, as the JS path
 *   counts each chunk;
 * - a FIN handed on: the session's half-close transition (`finForwarded`);
 * - both FINs through: both sockets closed (destroy: the addon's dups are gone, so this closes them);
 * - an error on one side (an RST read, a write to a reset peer): that socket is destroyed with the error, so the
 *   session's own error handling runs (counts SWY_*_RESET, resets the other side);
 * - idle timeout (timed by the addon): counted SWY_IDLE_TIMEOUT, the session is destroyed.
 *
 * JS never touches the sockets while the addon holds them: {@link SplicePath.release} asks the addon to stop and
 * runs its continuation once the sockets are JS's again (the bytes in flight written, a forwarded FIN mirrored
 * into the JS socket's state), so the session can close them or carry on in JS (a fault added at run time).
 */
import type { Socket } from 'node:net';
import { ErrorCodes } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { TrafficStats } from '../core/stats.js';
import type { Direction } from '../pipeline/handler.js';
import { spliceSockets, type SpliceHandle, type SpliceResult } from '../net/splice.js';

export interface SpliceOwner {
  /** A FIN was handed on toward `dir`'s destination. */
  finForwarded(dir: Direction): void;
  /** The addon timed the connection out: close the session. */
  idle(): void;
}

/** `handedBack`: the sockets are JS's and open (the addon stopped on request), not closed by how the connection ended. */
export type SpliceContinuation = (handedBack: boolean) => void;

const DIRS: readonly Direction[] = ['toUpstream', 'toDownstream'];

export class SplicePath {
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #stats: readonly TrafficStats[];
  readonly #owner: SpliceOwner;
  readonly #logger: Logger;
  readonly #sessionId: number;
  #handle: SpliceHandle | undefined;
  #counted: [number, number] = [0, 0];
  readonly #countFrames: boolean;
  #reads: [number, number] = [0, 0];
  #then: SpliceContinuation[] | undefined;

  constructor(sessionId: number, client: Socket, upstream: Socket, stats: readonly TrafficStats[], owner: SpliceOwner, logger: Logger, countFrames: boolean) {
    this.#sessionId = sessionId;
    this.#countFrames = countFrames;
    this.#client = client;
    this.#upstream = upstream;
    this.#stats = stats;
    this.#owner = owner;
    this.#logger = logger;
  }

  /** Hand the pair to the addon; undefined when it is unavailable or the sockets do not qualify (nothing changed). */
  static start(opts: {
    sessionId: number;
    client: Socket;
    upstream: Socket;
    idleTimeout: number;
    stats: readonly TrafficStats[];
    owner: SpliceOwner;
    logger: Logger;
    /** Count each read that moved bytes as a frame (the session has idle handlers; see session.ts #wireRaw). */
    countFrames?: boolean;
  }): SplicePath | undefined {
    const path = new SplicePath(opts.sessionId, opts.client, opts.upstream, opts.stats, opts.owner, opts.logger, opts.countFrames === true);
    const handle = spliceSockets(opts.client, opts.upstream, opts.idleTimeout, {
      progress: (up, down, readsUp, readsDown) => path.#count(up, down, readsUp, readsDown),
      fin: (dir) => opts.owner.finForwarded(DIRS[dir]!),
      done: (result) => path.#done(result),
    });
    if (handle === undefined) return undefined;
    path.#handle = handle;
    return path;
  }

  /** True while the addon holds the sockets. */
  get active(): boolean {
    return this.#handle !== undefined;
  }

  /**
   * Take the sockets back: false when the addon no longer holds them (do what you meant to at once); true when
   * `then` runs later, once it has let them go.
   */
  release(then: SpliceContinuation): boolean {
    const handle = this.#handle;
    if (handle === undefined) return false;
    if (this.#then === undefined) {
      this.#then = [then];
      handle.abort();
    } else {
      this.#then.push(then);
    }
    return true;
  }

  #count(up: number, down: number, readsUp: number, readsDown: number): void {
    const dUp = up - this.#counted[0];
    const dDown = down - this.#counted[1];
    this.#counted = [up, down];
    const stats = this.#stats;
    for (let i = 0; i < stats.length; i++) {
      stats[i]!.bytesToUpstream += dUp;
      stats[i]!.bytesToDownstream += dDown;
    }
    if (!this.#countFrames) return;
    const fUp = readsUp - this.#reads[0];
    const fDown = readsDown - this.#reads[1];
    this.#reads = [readsUp, readsDown];
    for (let i = 0; i < stats.length; i++) {
      stats[i]!.framesToUpstream += fUp;
      stats[i]!.framesToDownstream += fDown;
    }
  }

  #done(r: SpliceResult): void {
    this.#handle = undefined;
    this.#count(r.bytes[0], r.bytes[1], r.reads[0], r.reads[1]);
    const client = this.#client;
    const upstream = this.#upstream;
    const back = r.end === 'aborted';
    switch (r.end) {
      case 'aborted':
        this.#handBack(r);
        break;
      case 'closed':
        client.destroy();
        upstream.destroy();
        break;
      case 'idle':
        for (const s of this.#stats) s.error(ErrorCodes.IDLE_TIMEOUT);
        this.#logger.debug({ session: this.#sessionId }, 'idle timeout (splice)');
        this.#owner.idle();
        break;
      case 'error': {
        const sock = r.side === 'client' ? client : r.side === 'upstream' ? upstream : undefined;
        if (sock === undefined) {
          // the addon itself failed (out of memory, epoll): count it and close, as the JS path closes on an internal error
          for (const s of this.#stats) s.error(ErrorCodes.INTERNAL);
          this.#logger.warn({ session: this.#sessionId, code: ErrorCodes.INTERNAL, err: r.code }, 'splice worker failed; closing session');
          client.destroy();
          upstream.destroy();
        } else {
          // the session's socket error handler counts it and resets the other side, as on the JS path
          sock.destroy(Object.assign(new Error(`${r.code ?? 'error'} (splice)`), { code: r.code, errno: -r.errno, syscall: 'splice' }));
        }
        break;
      }
    }
    const then = this.#then;
    this.#then = undefined;
    if (then !== undefined) for (const f of then) f(back && !client.destroyed && !upstream.destroyed);
  }

  /** The sockets are JS's again: write the bytes that were in flight; mirror a FIN the addon handed on. */
  #handBack(r: SpliceResult): void {
    const dests = [this.#upstream, this.#client] as const;
    for (let d = 0; d < 2; d++) {
      const dest = dests[d]!;
      const pending = r.pending[d];
      if (pending !== undefined && pending.length > 0 && !dest.destroyed) dest.write(pending);
      // the addon shut the destination down for writing: end the JS side too (a second shutdown is harmless)
      if (r.fin[d] && !dest.destroyed) dest.end();
    }
  }
}
