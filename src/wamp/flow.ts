/**
 * Flow control between the two sides of a WAMP session: when the bytes queued toward one side (WebSocket
 * `bufferedAmount`, socket `writableLength`) pass the high-water mark, the proxy stops reading from the other side
 * (TCP backpressure then reaches the sender); it reads again once the queue is under the low-water mark.
 */
import type { WampChannel } from './channel.js';

export const DEFAULT_HIGH_WATER = 1024 * 1024;
export const DEFAULT_LOW_WATER = 256 * 1024;

/** How often a paused direction checks whether its destination has drained. */
const DRAIN_CHECK_MS = 10;

/** Counters of one direction (admin API `flow`). */
export interface FlowStats {
  /** Bytes queued in the proxy toward the destination now. */
  queued: number;
  /** The most bytes ever queued toward it. */
  peakQueued: number;
  /** Times reading from the source was paused. */
  pauses: number;
  /** Is reading from the source paused now? */
  paused: boolean;
}

/** One direction: messages read from `source` are written to `sink`. */
export class FlowGate {
  readonly #source: WampChannel;
  readonly #sink: WampChannel;
  readonly #high: number;
  readonly #low: number;
  #peak = 0;
  #pauses = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(source: WampChannel, sink: WampChannel, marks: { highWaterMark?: number | undefined; lowWaterMark?: number | undefined } = {}) {
    this.#source = source;
    this.#sink = sink;
    this.#high = Math.max(1, marks.highWaterMark ?? DEFAULT_HIGH_WATER);
    this.#low = Math.min(this.#high, Math.max(0, marks.lowWaterMark ?? DEFAULT_LOW_WATER));
  }

  /** After a write to the sink: pause the source when the sink's queue passed the high-water mark. */
  wrote(): void {
    const queued = this.#sink.buffered;
    if (queued > this.#peak) this.#peak = queued;
    if (queued <= this.#high || this.#timer !== undefined || this.#sink.closed || this.#source.closed) return;
    this.#source.pause();
    this.#pauses++;
    const check = (): void => {
      if (this.#sink.closed || this.#source.closed) {
        this.#timer = undefined;
        return;
      }
      if (this.#sink.buffered <= this.#low) {
        this.#timer = undefined;
        this.#source.resume();
        return;
      }
      this.#timer = setTimeout(check, DRAIN_CHECK_MS);
    };
    this.#timer = setTimeout(check, DRAIN_CHECK_MS);
  }

  /** The session ended: stop checking. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  toJSON(): FlowStats {
    return { queued: this.#sink.closed ? 0 : this.#sink.buffered, peakQueued: this.#peak, pauses: this.#pauses, paused: this.#timer !== undefined };
  }
}
