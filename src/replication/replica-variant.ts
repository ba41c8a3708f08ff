import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { Frame } from '../framing/framer.js';
import type { Attributes, ProtocolCodec } from '../protocols/protocol.js';
import type { VariantStatus } from './events.js';
import type { Exchange } from './exchange.js';
import type { Peer } from './peer.js';
import type { VariantTarget } from './variant.js';

/**
 * Request frames of one client read for one variant. `starts`: the start attributes of the requests that begin in
 * them, when the variant's codec is told of those requests by the client's codec (see {@link Expect}) instead of
 * parsing the bytes again; undefined: the codec parses what is written.
 */
export interface Outgoing {
  readonly frames: Frame[];
  readonly starts: readonly Attributes[] | undefined;
}

/** Tell the variant connection's codec `to` of the requests (start attributes) the client's codec framed. */
export type Expect = (to: ProtocolCodec, starts: readonly Attributes[]) => void;

/** Frames held back for a staggered variant, with the time they may leave ('end': the end of input after them). */
interface Held {
  readonly at: number;
  readonly out: Outgoing | 'end';
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
  /**
   * While the session handles one read of this variant's socket: the chunk read, if the framer held no bytes before
   * it (its frames are then cut from it, from its first byte); else undefined.
   */
  fresh: Buffer | undefined;
  /** While the session handles one read: no frame of it was handled yet. */
  firstFrame = false;
  /** Frames written before the connection is up, one entry per client read. */
  #queued: Outgoing[] = [];
  readonly #expect: Expect | undefined;
  /** ms this variant's frames are held back (0: not staggered). */
  readonly #delay: number;
  readonly #held: Held[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** A held write failed (the session closes). */
  readonly #onError: (err: unknown) => void;

  constructor(index: number, target: VariantTarget, delay: number, onError: (err: unknown) => void, expect?: Expect) {
    this.index = index;
    this.#expect = expect;
    this.target = target;
    this.#delay = delay;
    this.#onError = onError;
  }

  /** True for the filter pair's staggered copy (its end of input follows its held frames). */
  get staggered(): boolean {
    return this.#delay > 0;
  }

  /** Write the request frames of one client read together (or queue them until the connection is up or their time comes). */
  send(out: Outgoing): void {
    if (this.#delay > 0) this.#hold(out);
    else if (this.peer) this.#write(this.peer, out);
    else this.#queued.push(out);
  }

  #write(peer: Peer, out: Outgoing): void {
    const starts = out.starts;
    if (starts !== undefined && this.#expect !== undefined && peer.codec !== undefined) {
      if (starts.length > 0) this.#expect(peer.codec, starts);
      peer.write(out.frames, true);
    } else peer.write(out.frames);
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
    for (const out of queued) this.#write(peer, out);
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

  #hold(out: Outgoing | 'end'): void {
    this.#held.push({ at: performance.now() + this.#delay, out });
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
      const { out } = q.shift()!;
      if (this.dead) continue;
      try {
        if (out === 'end') this.socket?.end();
        else if (this.peer) this.#write(this.peer, out);
        else this.#queued.push(out);
      } catch (err) {
        this.#onError(err);
        return;
      }
    }
    this.#arm();
  }
}
