/**
 * UdpFlowTable: the bookkeeping half of UDP "connections". A flow is one client address (ip + port + family);
 * the table tracks when each flow was last active, expires idle flows with ONE periodic sweep timer per table
 * (unref'd, running only while the table holds flows), and bounds its size: when full, adding a flow evicts the
 * least recently active one.
 *
 * LRU in O(1): a `Map` iterates in insertion order, and every activity re-inserts the flow at the end. So the
 * first entry is always the least recently active flow (the eviction victim), and the idle sweep walks from the
 * front and stops at the first flow that is still fresh: a sweep costs O(expired + 1), not O(flows).
 *
 * Tendril's UDP manager had neither expiry nor a bound (a tendril lived until closed): this is the fix.
 */
import { ErrorCodes, SwitchyardError } from '../core/errors.js';

/** Why a flow left the table. */
export type FlowCloseReason =
  /** No datagram either way for `flowIdleTimeout` ms. */
  | 'idle'
  /** The table was full (`maxFlows`) and this was the least recently active flow. */
  | 'evicted'
  /** Closed by its owner (`flow.close()`, `table.delete()`). */
  | 'closed'
  /** The whole table was cleared (listener/proxy shutdown). */
  | 'shutdown';

/** What the table needs from a flow. `lastActivity` is written by the table (monotonic ms). */
export interface TrackedFlow {
  readonly key: string;
  lastActivity: number;
}

/** The flow's client address. */
export interface UdpRemote {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/** Flow-table counters (a snapshot). */
export interface UdpFlowStats {
  /** Flows tracked now. */
  flowsActive: number;
  /** Flows created since start. */
  flowsTotal: number;
  /** Flows closed because they were idle for `flowIdleTimeout`. */
  flowsExpired: number;
  /** Flows evicted because the table was full (`maxFlows`). */
  flowsEvicted: number;
}

export interface UdpFlowTableOptions<F extends TrackedFlow> {
  /** A flow expires after this many ms without activity. 0 disables expiry. */
  flowIdleTimeout: number;
  /** Most tracked flows (>= 1). Adding one more evicts the least recently active flow. */
  maxFlows: number;
  /**
   * Called once per flow, after it has left the table (counters already updated). Must not throw: it may run
   * inside the sweep timer.
   */
  onClose?: ((flow: F, reason: FlowCloseReason) => void) | undefined;
  /** Sweep period in ms. Default: flowIdleTimeout / 4, clamped to [5, 1000]. */
  sweepInterval?: number | undefined;
  /** Monotonic clock in ms (tests may inject one). Default `performance.now`. */
  now?: (() => number) | undefined;
}

/** The stable map key of a client address. */
export function flowKey(remote: UdpRemote): string {
  return `${remote.family}|${remote.address}|${remote.port}`;
}

/** Default sweep period for an idle timeout: a quarter of it, at least 5 ms, at most 1 s. */
export function defaultSweepInterval(flowIdleTimeout: number): number {
  return Math.min(1000, Math.max(5, Math.floor(flowIdleTimeout / 4)));
}

export class UdpFlowTable<F extends TrackedFlow> {
  readonly flowIdleTimeout: number;
  readonly maxFlows: number;
  readonly sweepInterval: number;
  readonly #flows = new Map<string, F>();
  readonly #onClose: ((flow: F, reason: FlowCloseReason) => void) | undefined;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #total = 0;
  #expired = 0;
  #evicted = 0;

  constructor(options: UdpFlowTableOptions<F>) {
    const { flowIdleTimeout, maxFlows } = options;
    if (!Number.isFinite(flowIdleTimeout) || flowIdleTimeout < 0) {
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `udp.flowIdleTimeout: expected a duration >= 0, got ${flowIdleTimeout}`);
    }
    if (!Number.isSafeInteger(maxFlows) || maxFlows < 1) {
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `udp.maxFlows: expected an integer >= 1, got ${maxFlows}`);
    }
    const sweepInterval = options.sweepInterval ?? defaultSweepInterval(flowIdleTimeout);
    if (!Number.isFinite(sweepInterval) || sweepInterval <= 0) {
      throw new SwitchyardError(ErrorCodes.CONFIG_INVALID, `udp sweepInterval: expected a duration > 0, got ${sweepInterval}`);
    }
    this.flowIdleTimeout = flowIdleTimeout;
    this.maxFlows = maxFlows;
    this.sweepInterval = sweepInterval;
    this.#onClose = options.onClose;
    this.#now = options.now ?? (() => performance.now());
  }

  get size(): number {
    return this.#flows.size;
  }

  get flowsActive(): number {
    return this.#flows.size;
  }

  get flowsTotal(): number {
    return this.#total;
  }

  get flowsExpired(): number {
    return this.#expired;
  }

  get flowsEvicted(): number {
    return this.#evicted;
  }

  /** True while the sweep timer runs (only while flows are tracked and expiry is enabled). */
  get sweeping(): boolean {
    return this.#timer !== undefined;
  }

  stats(): UdpFlowStats {
    return { flowsActive: this.#flows.size, flowsTotal: this.#total, flowsExpired: this.#expired, flowsEvicted: this.#evicted };
  }

  /** The tracked flow for a key, without refreshing it. */
  get(key: string): F | undefined {
    return this.#flows.get(key);
  }

  /** True when this exact flow object is tracked. */
  has(flow: F): boolean {
    return this.#flows.get(flow.key) === flow;
  }

  /**
   * Track a new flow as the most recently active one. When the table is full, the least recently active flow is
   * evicted first (its onClose runs before this returns). A flow with the same key must not be tracked already.
   */
  add(flow: F): void {
    if (this.#flows.has(flow.key)) {
      throw new SwitchyardError(ErrorCodes.CONFLICT, `udp flow ${flow.key} is already tracked`);
    }
    while (this.#flows.size >= this.maxFlows) {
      const victim = this.leastRecent();
      if (victim === undefined) break;
      this.#evicted++;
      this.#remove(victim, 'evicted');
    }
    flow.lastActivity = this.#now();
    this.#flows.set(flow.key, flow);
    this.#total++;
    this.#startTimer();
  }

  /** Record activity: the flow becomes the most recently active one. Ignored for flows no longer tracked. */
  touch(flow: F): void {
    if (this.#flows.get(flow.key) !== flow) return;
    flow.lastActivity = this.#now();
    // Re-insert to move it to the end of the Map's iteration order (O(1)).
    this.#flows.delete(flow.key);
    this.#flows.set(flow.key, flow);
  }

  /** Stop tracking a flow (reason 'closed' unless told). Returns false when it was not tracked. */
  delete(flow: F, reason: FlowCloseReason = 'closed'): boolean {
    if (this.#flows.get(flow.key) !== flow) return false;
    if (reason === 'idle') this.#expired++;
    else if (reason === 'evicted') this.#evicted++;
    this.#remove(flow, reason);
    return true;
  }

  /** The least recently active flow (the next eviction victim), if any. */
  leastRecent(): F | undefined {
    for (const flow of this.#flows.values()) return flow;
    return undefined;
  }

  /** Expire every flow idle for at least flowIdleTimeout now. Returns how many expired. The timer calls this. */
  sweep(): number {
    if (this.flowIdleTimeout === 0) return 0;
    const deadline = this.#now() - this.flowIdleTimeout;
    let count = 0;
    // Oldest first; stop at the first fresh flow (everything after it is fresher).
    for (const flow of this.#flows.values()) {
      if (flow.lastActivity > deadline) break;
      this.#expired++;
      count++;
      this.#remove(flow, 'idle');
    }
    return count;
  }

  /** Remove every flow (onClose with `reason`, default 'shutdown') and stop the timer. The table stays usable. */
  clear(reason: FlowCloseReason = 'shutdown'): void {
    for (const flow of [...this.#flows.values()]) {
      if (this.#flows.get(flow.key) === flow) this.#remove(flow, reason);
    }
    this.#stopTimer();
  }

  /** Flows from least to most recently active. */
  [Symbol.iterator](): IterableIterator<F> {
    return this.#flows.values();
  }

  #remove(flow: F, reason: FlowCloseReason): void {
    this.#flows.delete(flow.key);
    if (this.#flows.size === 0) this.#stopTimer();
    this.#onClose?.(flow, reason);
  }

  #startTimer(): void {
    if (this.#timer !== undefined || this.flowIdleTimeout === 0) return;
    this.#timer = setInterval(() => this.sweep(), this.sweepInterval);
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
