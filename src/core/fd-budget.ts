import { readdirSync, readFileSync } from 'node:fs';

/**
 * The process's file-descriptor budget (Linux: the soft RLIMIT_NOFILE from /proc/self/limits, open descriptors
 * counted in /proc/self/fd). When a process runs out, libuv accepts the waiting connections and closes them at once
 * (its EMFILE trick) and reports nothing, and upstream connects fail with EMFILE: clients see connections that open
 * and close with no answer. Listeners ask this budget before they run out, stop accepting while it is spent, and
 * accept again when descriptors are free.
 *
 * Counting /proc/self/fd costs a directory read, so the count is taken at most once per `sampleMs` and, in between,
 * estimated: each connection accepted since the count is assumed to hold two descriptors (client and upstream), or
 * four when the listener hands it to the splice addon (which holds a dup of each).
 * Elsewhere than Linux the limit is unknown and the budget never reports spent (only EMFILE errors are counted).
 */
export class FdBudget {
  /** Soft limit on open descriptors; undefined when unknown (not Linux, or unlimited). */
  readonly limit: number | undefined;
  /** Descriptors kept free for everything else (logs, upstream retries, the admin API). */
  readonly reserve: number;
  readonly #sampleMs: number;
  #open = 0;
  #sampledAt = 0;
  /** Descriptors the connections accepted since the count are assumed to hold. */
  #heldSinceSample = 0;

  constructor(options: { limit?: number | undefined; reserve?: number | undefined; sampleMs?: number | undefined } = {}) {
    this.limit = options.limit ?? readSoftLimit();
    this.reserve = options.reserve ?? (this.limit === undefined ? 0 : Math.max(16, Math.ceil(this.limit * 0.02)));
    this.#sampleMs = options.sampleMs ?? 250;
  }

  /** Descriptors open at the last count plus those of the connections accepted since (an upper estimate). */
  get estimate(): number {
    return this.#open + this.#heldSinceSample;
  }

  /** A connection was accepted: it will hold about `descriptors` (client and upstream; 4 with the splice addon's dups). */
  accepted(descriptors = 2): void {
    this.#heldSinceSample += descriptors;
  }

  /**
   * A connection counted by {@link accepted} closed (its sockets are closed): its descriptors leave the estimate, so
   * a stream of short connections does not look like a pile of open ones until the next count.
   */
  released(descriptors = 2): void {
    const held = this.#heldSinceSample;
    if (held >= descriptors) {
      this.#heldSinceSample = held - descriptors;
    } else {
      // accepted before the last count: its descriptors are in that count
      this.#heldSinceSample = 0;
      this.#open = Math.max(0, this.#open - (descriptors - held));
    }
  }

  /**
   * True when accepting one more connection would eat into the reserve. Counts again when the estimate says so
   * (or the count is stale), so a burst of accepts is caught before the process runs out.
   */
  spent(): boolean {
    const limit = this.limit;
    if (limit === undefined) return false;
    const room = limit - this.reserve;
    const now = Date.now();
    const age = now - this.#sampledAt;
    // Count again at the edge, every sampleMs past half the budget, and every 5 s otherwise (other code may open
    // descriptors the estimate does not see); far from the limit an accept costs a clock read and a comparison.
    if (this.estimate + 2 >= room || (age >= this.#sampleMs && this.estimate * 2 >= room) || age >= 5000) this.#sample(now);
    return this.estimate + 2 >= room;
  }

  /**
   * True while the descriptors in use stay under a quarter of the room: a new connection may take the splice path
   * (four descriptors). Past it, new connections take the JS path (two), so a process near its limit serves about
   * as many connections as without splice.
   */
  roomy(): boolean {
    const limit = this.limit;
    if (limit === undefined) return true;
    const quarter = (limit - this.reserve) / 4;
    if (this.estimate < quarter) return true;
    // The estimate only grows between counts (connections that closed since are still in it): count again, at
    // most every sampleMs, before sending a connection to the JS path. Without this, a steady stream of short
    // connections pushed the estimate past the quarter within a second or two and about half of them took the
    // JS path although a few dozen were open.
    const now = Date.now();
    if (now - this.#sampledAt < this.#sampleMs) return false;
    this.#sample(now);
    return this.estimate < quarter;
  }

  /** True when there is room again with some slack (half the reserve again), so accepting does not flap. */
  recovered(): boolean {
    const limit = this.limit;
    if (limit === undefined) return true;
    this.#sample(Date.now());
    return this.#open + 2 < limit - this.reserve - Math.ceil(this.reserve / 2);
  }

  #sample(now: number): void {
    const n = countOpen();
    if (n !== undefined) this.#open = n;
    this.#sampledAt = now;
    this.#heldSinceSample = 0;
  }
}

function readSoftLimit(): number | undefined {
  try {
    const text = readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\S+)/m.exec(text);
    if (!m || m[1] === 'unlimited') return undefined;
    const n = Number(m[1]);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function countOpen(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

let shared: FdBudget | undefined;

/** The process-wide budget (one process, one limit). */
export function processFdBudget(): FdBudget {
  shared ??= new FdBudget();
  return shared;
}
