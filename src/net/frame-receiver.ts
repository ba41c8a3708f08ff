/**
 * The receive side of a FramedConnection: a bounded read-ahead list, the receive framer, and the readers waiting
 * for frames. No I/O of its own: the connection feeds it socket events and it tells the connection when to pause
 * or resume the socket.
 *
 * Frames are produced on demand (pull): the framer is drained with `next()` and fed one read-ahead chunk at a
 * time, only when it has no complete frame, so it never holds more than one socket read beyond an incomplete frame
 * (the framers' `maxBufferedBytes` headroom). The socket is paused while `highWaterMark` bytes wait unread.
 */
import { ByteList } from '../core/byte-list.js';
import type { Frame, Framer } from '../framing/framer.js';

const DONE = Symbol('done');

/** How the receiver throttles the socket (the connection's current one: plain, then TLS after an upgrade). */
export interface FlowControl {
  pause(): void;
  resume(): void;
  isPaused(): boolean;
}

interface Reader {
  resolve(frame: Frame | null): void;
  reject(err: unknown): void;
}

export class FrameReceiver {
  framesIn = 0;
  #framer: Framer;
  readonly #hwm: number;
  readonly #flow: FlowControl;
  readonly #pending = new ByteList();
  readonly #readers: Reader[] = [];
  /** The peer's FIN was seen (everything before it is in #pending). */
  #eof = false;
  /** `#framer.end()` was called. */
  #framerEnded = false;
  #closed = false;
  /** A socket error: thrown to readers after the frames received before it. */
  #readError: Error | undefined;
  /** A framing error or destroy(err): thrown to readers at once, for good. */
  #fatal: Error | undefined;
  /** close()/destroy(): no more frames; new input is discarded. */
  #stopped = false;
  /** STARTTLS in progress: no frames, no resume. */
  #held = false;

  constructor(framer: Framer, highWaterMark: number, flow: FlowControl) {
    this.#framer = framer;
    this.#hwm = highWaterMark;
    this.#flow = flow;
  }

  get framer(): Framer {
    return this.#framer;
  }

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes(): number {
    return this.#pending.length + this.#framer.bufferedBytes;
  }

  get eof(): boolean {
    return this.#eof;
  }

  get readError(): Error | undefined {
    return this.#readError;
  }

  get fatal(): Error | undefined {
    return this.#fatal;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  // ---- socket events ----

  data(chunk: Buffer): void {
    if (this.#stopped) return; // closing: discard
    this.#pending.append(chunk);
    if (this.#pending.length >= this.#hwm) this.#flow.pause();
    if (this.#readers.length > 0) this.pump();
  }

  end(): void {
    this.#eof = true;
    this.pump();
  }

  error(err: Error): void {
    this.#readError ??= err;
    this.pump();
  }

  closed(): void {
    this.#closed = true;
    this.pump();
  }

  // ---- consumer side ----

  read(): Promise<Frame | null> {
    return new Promise((resolve, reject) => {
      this.#readers.push({ resolve, reject });
      this.pump();
    });
  }

  /** Switch framers, handing over the bytes the old one held but had not framed. Throws if the new one rejects them. */
  setFramer(next: Framer): void {
    if (next === this.#framer) return;
    const rest = this.#framer.takeBuffered();
    this.#framer = next;
    this.#framerEnded = false;
    try {
      if (rest.length > 0) next.push(rest);
    } catch (err) {
      this.fail(err);
      throw err;
    }
    this.pump();
  }

  /** No more frames: readers get the end of input (or the fatal error); unread input is dropped. */
  stop(): void {
    this.#stopped = true;
    this.#pending.consumeAll();
    this.pump();
  }

  /** Reading failed for good (framing error, destroy(err)): reject every reader now and later; pause the socket. */
  fail(err: unknown): void {
    this.#fatal ??= err as Error;
    if (!this.#closed) this.#flow.pause();
    for (const r of this.#readers.splice(0)) r.reject(this.#fatal);
  }

  /** Suspend (STARTTLS in progress) or continue delivering frames. */
  hold(on: boolean): void {
    this.#held = on;
    if (!on) this.pump();
  }

  /** Remove every byte received but not yet framed (framer buffer first, then read-ahead), in wire order. */
  takeUnread(): Buffer {
    const framed = this.#framer.takeBuffered();
    const ahead = this.#pending.consumeAll();
    if (framed.length === 0) return ahead;
    return ahead.length === 0 ? framed : Buffer.concat([framed, ahead]);
  }

  /** Serve waiting readers from buffered bytes; resume the socket when there is room. */
  pump(): void {
    while (this.#readers.length > 0) {
      let item: Frame | null | typeof DONE;
      try {
        item = this.#pull();
      } catch (err) {
        this.fail(err);
        return;
      }
      if (item === null) break;
      this.#readers.shift()!.resolve(item === DONE ? null : item);
    }
    if (!this.#held && this.#fatal === undefined && !this.#closed && this.#pending.length < this.#hwm && this.#flow.isPaused()) {
      this.#flow.resume();
    }
  }

  /** One frame, DONE at the end of input, or null when more bytes are needed. Throws framing/socket errors. */
  #pull(): Frame | null | typeof DONE {
    for (;;) {
      if (this.#fatal !== undefined) throw this.#fatal;
      if (this.#stopped) return DONE;
      if (this.#held) return null;
      const frame = this.#framer.next();
      if (frame !== null) {
        this.framesIn++;
        return frame;
      }
      if (this.#pending.length > 0) {
        this.#framer.push(this.#pending.consumeChunk());
        continue;
      }
      if (this.#readError) throw this.#readError;
      if (this.#eof) {
        if (this.#framerEnded) return DONE;
        this.#framerEnded = true;
        this.#framer.end();
        continue;
      }
      return this.#closed ? DONE : null;
    }
  }
}
