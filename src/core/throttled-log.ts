import type { Logger } from './log.js';

/**
 * A warning that can fire thousands of times a second (connections dropped over a limit, file descriptors
 * exhausted): the first occurrence is logged at once, later ones are counted and logged at most once per
 * `intervalMs` as one line with the count since the last line. Nothing is lost, and the log stays readable.
 */
export class ThrottledWarning {
  readonly #logger: Logger;
  readonly #message: string;
  readonly #intervalMs: number;
  #pending = 0;
  #fields: Record<string, unknown> = {};
  #timer: NodeJS.Timeout | undefined;
  #lastLogged = 0;

  constructor(logger: Logger, message: string, intervalMs = 1000) {
    this.#logger = logger;
    this.#message = message;
    this.#intervalMs = intervalMs;
  }

  /** One occurrence; `fields` (the latest wins) go on the next line logged. */
  note(fields: Record<string, unknown>): void {
    this.#pending++;
    this.#fields = fields;
    if (this.#timer !== undefined) return;
    const wait = this.#lastLogged + this.#intervalMs - Date.now();
    if (wait <= 0) this.#emit();
    else this.#timer = setTimeout(() => this.#emit(), wait).unref();
  }

  #emit(): void {
    this.#timer = undefined;
    if (this.#pending === 0) return;
    this.#logger.warn({ ...this.#fields, count: this.#pending, intervalMs: this.#intervalMs }, this.#message);
    this.#pending = 0;
    this.#lastLogged = Date.now();
  }

  /** Log what is pending now and stop the timer (shutdown). */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#emit();
  }
}
