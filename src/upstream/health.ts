import type { HealthCheckConfig } from '../config/types.js';
import type { CheckResult, Endpoint } from './endpoint.js';

/** Runs one probe against one endpoint; rejects with an Error saying what failed. */
export type EndpointProbe = (endpoint: Endpoint, signal: AbortSignal) => Promise<void>;

/**
 * Active health checks of one cluster: each endpoint is probed every `interval` (+ up to `jitter` at random), with
 * at most one probe in flight per endpoint (the next wait starts when a probe ends, so slow endpoints never pile
 * up checks). Timers are unref'd: checks never keep the process alive. The first check of each endpoint runs
 * within `jitter` of start.
 */
export class HealthChecker {
  readonly #config: HealthCheckConfig;
  readonly #endpoints: readonly Endpoint[];
  readonly #probe: EndpointProbe;
  readonly #onResult: (endpoint: Endpoint, result: CheckResult) => void;
  readonly #random: () => number;
  readonly #timers = new Map<Endpoint, NodeJS.Timeout>();
  readonly #inFlight = new Map<Endpoint, AbortController>();
  #stopped = true;

  constructor(
    config: HealthCheckConfig,
    endpoints: readonly Endpoint[],
    probe: EndpointProbe,
    onResult: (endpoint: Endpoint, result: CheckResult) => void,
    random: () => number = Math.random,
  ) {
    this.#config = config;
    this.#endpoints = endpoints;
    this.#probe = probe;
    this.#onResult = onResult;
    this.#random = random;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    for (const e of this.#endpoints) this.#schedule(e, Math.floor(this.#random() * (this.#config.jitter + 1)));
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    for (const c of this.#inFlight.values()) c.abort();
    this.#inFlight.clear();
  }

  /** Probes running now (tests: never more than one per endpoint). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  #schedule(e: Endpoint, delay: number): void {
    const t = setTimeout(() => void this.#run(e), delay);
    t.unref();
    this.#timers.set(e, t);
  }

  async #run(e: Endpoint): Promise<void> {
    this.#timers.delete(e);
    if (this.#stopped || this.#inFlight.has(e)) return;
    const controller = new AbortController();
    this.#inFlight.set(e, controller);
    const timeout = this.#config.timeout;
    const timer = setTimeout(() => controller.abort(), timeout);
    timer.unref();
    const t0 = performance.now();
    let error: string | undefined;
    try {
      await this.#probe(e, controller.signal);
    } catch (err) {
      error = controller.signal.aborted ? `timed out after ${timeout} ms` : describeError(err);
    } finally {
      clearTimeout(timer);
      if (this.#inFlight.get(e) === controller) this.#inFlight.delete(e);
    }
    if (this.#stopped) return;
    const durationMs = Math.round((performance.now() - t0) * 10) / 10;
    this.#onResult(e, error === undefined ? { at: new Date(), ok: true, durationMs } : { at: new Date(), ok: false, durationMs, error });
    this.#schedule(e, this.#config.interval + Math.floor(this.#random() * (this.#config.jitter + 1)));
  }
}

function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(describeError).join('; ');
  if (err instanceof Error) return err.message || (err as NodeJS.ErrnoException).code || err.name;
  return String(err);
}
