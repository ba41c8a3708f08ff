/** Counters of one gRPC route: calls by method and final status, and per destination (primary, secondaries). */
import { LatencyHistogram } from '../core/latency.js';
import { codeName } from './status.js';

export interface DestinationCounters {
  /** Calls this destination took part in. */
  calls: number;
  /** Calls it ended with a status other than OK (before error handlers), by code name. */
  readonly errors: Map<string, number>;
  /** Calls where it was cancelled because its queue was full. */
  queueOverflows: number;
  /** Time from the call's start to this destination's end. */
  readonly latency: LatencyHistogram;
}

export class GrpcRouteStats {
  /** `method \0 code` → calls. */
  readonly calls = new Map<string, number>();
  readonly destinations = new Map<string, { role: 'primary' | 'secondary'; counters: DestinationCounters }>();
  /** Called once per new destination with its latency histogram (the runtime hands it to the route's metrics). */
  onNewDestination: ((name: string, latency: LatencyHistogram) => void) | undefined;

  /** `method` → code → its `calls` key (no string built per call). */
  readonly #keys = new Map<string, Map<number, string>>();

  call(method: string, code: number): void {
    let byCode = this.#keys.get(method);
    if (!byCode) this.#keys.set(method, (byCode = new Map<number, string>()));
    let key = byCode.get(code);
    if (key === undefined) byCode.set(code, (key = `${method}\0${codeName(code)}`));
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
  }

  /** The counters by cluster, per role (the per-call lookup: no key string built per call). */
  readonly #primaries = new Map<string, DestinationCounters>();
  readonly #secondaries = new Map<string, DestinationCounters>();

  destination(cluster: string, role: 'primary' | 'secondary'): DestinationCounters {
    const byCluster = role === 'primary' ? this.#primaries : this.#secondaries;
    let c = byCluster.get(cluster);
    if (!c) {
      const key = `${role}:${cluster}`;
      let d = this.destinations.get(key);
      if (!d) {
        d = { role, counters: { calls: 0, errors: new Map(), queueOverflows: 0, latency: new LatencyHistogram() } };
        this.destinations.set(key, d);
        this.onNewDestination?.(role === 'primary' ? cluster : `${cluster} (secondary)`, d.counters.latency);
      }
      c = d.counters;
      byCluster.set(cluster, c);
    }
    return c;
  }

  /** `[method, codeName, count]` rows. */
  *rows(): Iterable<[string, string, number]> {
    for (const [k, n] of this.calls) {
      const i = k.indexOf('\0');
      yield [k.slice(0, i), k.slice(i + 1), n];
    }
  }

  toJSON(): Record<string, unknown> {
    const destinations = [...this.destinations.entries()].map(([key, d]) => ({
      cluster: key.slice(key.indexOf(':') + 1),
      role: d.role,
      calls: d.counters.calls,
      errors: Object.fromEntries(d.counters.errors),
      queueOverflows: d.counters.queueOverflows,
    }));
    const calls: Record<string, Record<string, number>> = {};
    for (const [method, code, n] of this.rows()) (calls[method] ??= {})[code] = n;
    return { calls, destinations };
  }
}
