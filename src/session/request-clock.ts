import { performance } from 'node:perf_hooks';
import type { LatencyHistogram } from '../core/latency.js';

/**
 * Request durations of one protocol session, for `switchyard_request_duration_seconds`: a FIFO of the start times of
 * the requests still owed an answer (pipelined requests are answered in order), one `performance.now()` when a
 * request starts and one when its answer has been written to the client. No timer, no object per request.
 */
export class RequestClock {
  readonly #histogram: LatencyHistogram;
  /** Start times (ms) of requests owed an answer, oldest at `#head`. */
  readonly #starts: number[] = [];
  #head = 0;

  constructor(histogram: LatencyHistogram) {
    this.#histogram = histogram;
  }

  /** A request's first frame was read from the client; it is owed `answers` answers (0: none, nothing is kept). */
  started(answers: number): void {
    if (answers <= 0) return;
    const t = performance.now();
    for (let i = 0; i < answers; i++) this.#starts.push(t);
  }

  /** The last byte of the oldest owed answer (the server's response or a reply the proxy made up) went to the client. */
  answered(): void {
    const starts = this.#starts;
    if (this.#head >= starts.length) return;
    const start = starts[this.#head++]!;
    this.#histogram.observe((performance.now() - start) / 1000);
    if (this.#head === starts.length) {
      starts.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024) {
      starts.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /** Requests still owed an answer (for tests and diagnostics). */
  get owed(): number {
    return this.#starts.length - this.#head;
  }
}
