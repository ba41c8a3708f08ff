import { ByteList } from '../core/byte-list.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { Frame, Framer } from './framer.js';

/**
 * Room for one full socket read on top of the largest incomplete frame: the default `maxBufferedBytes` of a framer
 * is its largest incomplete frame plus this.
 */
export const READ_HEADROOM = 64 * 1024;

/**
 * The decoder half of the Framer contract that every buffering framer shares: a {@link ByteList} holding the bytes
 * pushed but not yet framed (bounded by `maxBufferedBytes`), the end-of-input flag, and the latched error.
 *
 * A subclass implements {@link decodeOne} (and `encode`, optionally `encodeTo`); this class supplies `push`, `next`,
 * `end`, `takeBuffered` and `bufferedBytes` with the contract's rules:
 * - `push()` appends by reference; above the limit it throws SWY_BUFFER_OVERFLOW, which is latched; after `end()`
 *   it throws SWY_INTERNAL (a caller bug, not latched).
 * - whatever `decodeOne()` throws is latched: every later `push()`/`next()` throws the same error again.
 * - `takeBuffered()` calls {@link resetDecodeState} (while the held bytes are still there), then hands them over.
 */
export abstract class BufferedFramer implements Framer {
  abstract readonly name: string;
  abstract readonly passthrough: boolean;
  /** Bytes pushed but not yet returned in a frame. */
  protected readonly buf: ByteList;
  #inputEnded = false;
  #failure: Error | undefined;

  /** @param maxBufferedBytes the ByteList limit (the framer's `maxBufferedBytes` option or its default). */
  protected constructor(maxBufferedBytes: number) {
    this.buf = new ByteList({ limit: maxBufferedBytes });
  }

  /**
   * The next complete frame at the head of {@link buf}, consuming it, or `null` when more bytes are needed. When
   * {@link ended} is true and an incomplete frame is held, throw SWY_FRAME_TRUNCATED (or return a final frame where
   * the format allows it). Throw typed framing errors; the base class latches them.
   */
  protected abstract decodeOne(): Frame | null;

  abstract encode(frame: Frame): Buffer;

  /** Forget per-frame decode state (scan positions, a parsed header): the held bytes are about to be taken. */
  protected resetDecodeState(): void {}

  /** True once a decode error was latched (later calls rethrow it). */
  protected get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** True once `end()` was called. */
  protected get ended(): boolean {
    return this.#inputEnded;
  }

  get bufferedBytes(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#inputEnded) throw new SwitchyardError(ErrorCodes.INTERNAL, `${this.name}: push() after end()`);
    try {
      this.buf.append(chunk);
    } catch (err) {
      this.#failure = err as Error;
      throw err;
    }
  }

  next(): Frame | null {
    if (this.#failure !== undefined) throw this.#failure;
    try {
      return this.decodeOne();
    } catch (err) {
      this.#failure = err as Error;
      throw err;
    }
  }

  end(): void {
    this.#inputEnded = true;
  }

  takeBuffered(): Buffer {
    this.resetDecodeState();
    return this.buf.consumeAll();
  }
}
