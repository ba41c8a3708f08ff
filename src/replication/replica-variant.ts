import type { Socket } from 'node:net';
import type { Frame } from '../framing/framer.js';
import type { VariantStatus } from './events.js';
import type { Exchange } from './exchange.js';
import type { Peer } from './peer.js';
import type { VariantTarget } from './variant.js';

/** Frames held back for a staggered variant, with the time they may leave ('end': the end of input after them). */
interface Held {
  readonly at: number;
  readonly frames: Frame[] | 'end';
}

/**
 * One variant's connection inside a replicate session: its socket once connected, the exchanges it still has to
 * answer, and what is written before the connection is up. The filter pair's second copy is staggered: its frames
 * wait `delay` ms in a FIFO with one timer.
 */
export class ReplicaVariant {
  readonly index: number;
  readonly target: VariantTarget;
  peer: Peer | undefined;
  socket: Socket | undefined;
  /** Exchanges this variant still has to answer, oldest first. */
  readonly awaiting: Exchange[] = [];
  /** Undefined while usable; otherwise why it is not. */
  dead: VariantStatus | undefined;
  /** Frames written before the connection is up, one entry per client read. */
  #queued: Frame[][] = [];
  /** ms this variant's frames are held back (0: not staggered). */
  readonly #delay: number;
  readonly #held: Held[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** A held write failed (the session closes). */
  readonly #onError: (err: unknown) => void;

  constructor(index: number, target: VariantTarget, delay: number, onError: (err: unknown) => void) {
    this.index = index;
    this.target = target;
    this.#delay = delay;
    this.#onError = onError;
  }

  /** True for the filter pair's staggered copy (its end of input follows its held frames). */
  get staggered(): boolean {
    return this.#delay > 0;
  }

  /** Write the request frames of one client read together (or queue them until the connection is up or their time comes). */
  send(frames: Frame[]): void {
    if (this.#delay > 0) this.#hold(frames);
    else if (this.peer) this.peer.write(frames);
    else this.#queued.push(frames);
  }

  /** The client's input ended: end ours, after anything held back. */
  end(): void {
    if (this.#delay > 0) this.#hold('end');
    else this.socket?.end();
  }

  /** The connection is up: write what was queued meanwhile. Throws a typed framing error if a frame cannot be encoded. */
  attach(socket: Socket, peer: Peer): void {
    this.socket = socket;
    this.peer = peer;
    const queued = this.#queued;
    this.#queued = [];
    for (const frames of queued) peer.write(frames);
  }

  /** Mark the variant unusable: nothing more is written to it and its socket is destroyed. False if it already was. */
  kill(status: VariantStatus): boolean {
    if (this.dead) return false;
    this.dead = status;
    this.#queued = [];
    if (this.socket && !this.socket.destroyed) this.socket.destroy();
    return true;
  }

  /** The session is over: stop the delay timer and close the socket. */
  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.socket && !this.socket.destroyed) this.socket.destroy();
  }

  #hold(frames: Frame[] | 'end'): void {
    this.#held.push({ at: performance.now() + this.#delay, frames });
    if (!this.#timer) this.#arm();
  }

  #arm(): void {
    const head = this.#held[0];
    if (!head) return;
    this.#timer = setTimeout(() => this.#release(), Math.max(0, head.at - performance.now()));
  }

  #release(): void {
    this.#timer = undefined;
    const now = performance.now();
    const q = this.#held;
    while (q.length > 0 && q[0]!.at <= now + 0.5) {
      const { frames } = q.shift()!;
      if (this.dead) continue;
      try {
        if (frames === 'end') this.socket?.end();
        else if (this.peer) this.peer.write(frames);
        else this.#queued.push(frames);
      } catch (err) {
        this.#onError(err);
        return;
      }
    }
    this.#arm();
  }
}
