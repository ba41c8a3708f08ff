import { performance } from 'node:perf_hooks';
import type { Exchange } from './exchange.js';

/**
 * The answer timeout of a session's exchanges, with one timer per session rather than one per request: deadlines
 * grow in request order, so the timer only wakes up for the oldest exchange still being answered.
 */
export class ExchangeTimer {
  /** Exchanges sent and not yet fully answered, oldest first (answered ones are dropped when met). */
  readonly #queue: Exchange[] = [];
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** ms every variant has to answer, from the time the request was sent. */
  readonly #timeout: number;
  /** True while the client is not reading: the variants are paused by us, not slow. */
  readonly #held: () => boolean;
  /** An exchange's time is up: whoever has not answered has failed. */
  readonly #expire: (ex: Exchange) => void;
  readonly #fire = (): void => this.#onTimer();

  constructor(timeout: number, held: () => boolean, expire: (ex: Exchange) => void) {
    this.#timeout = timeout;
    this.#held = held;
    this.#expire = expire;
  }

  /** Some exchange is still being answered. */
  get busy(): boolean {
    return this.#queue.some((ex) => ex.pending > 0);
  }

  /** Start the clock of an exchange whose request was sent. */
  arm(ex: Exchange): void {
    if (this.#stopped) return;
    ex.deadline = ex.sentAt + this.#timeout;
    this.#dropAnswered();
    this.#queue.push(ex);
    if (!this.#timer) this.#schedule(ex.deadline);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }

  #schedule(at: number): void {
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(at - performance.now())));
  }

  #dropAnswered(): void {
    const q = this.#queue;
    while (q.length > 0 && q[0]!.pending === 0) q.shift();
  }

  #onTimer(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    const q = this.#queue;
    this.#dropAnswered();
    if (q.length === 0) return;
    const now = performance.now();
    if (this.#held()) {
      // The variants' clocks start again once the client reads.
      for (const ex of q) ex.deadline = now + this.#timeout;
      this.#schedule(q[0]!.deadline);
      return;
    }
    // Timers fire on a millisecond clock: allow for it rather than waking up again for a fraction of one.
    while (q.length > 0 && (q[0]!.pending === 0 || q[0]!.deadline <= now + 1)) {
      const ex = q.shift()!;
      if (ex.pending === 0) continue;
      this.#expire(ex);
      if (this.#stopped) return;
    }
    this.#dropAnswered();
    if (q.length > 0) this.#schedule(q[0]!.deadline);
  }
}
