/**
 * Noise learning for N-variant execution (RDDR's filter pair, Diffy's thresholds).
 *
 * Variants 0 and 1 are two identical copies of the service: the leaf paths where THEY differ are noise (timestamps,
 * random ids...). Per endpoint (see Comparator.endpoint) the model counts, per path, how often the filter pair
 * differed (`noise`) and how often another variant differed from the primary (`raw`), out of `total` exchanges.
 * Feed `raw` with differences computed WITHOUT the ignore set, or an ignored path could never become a signal.
 *
 * A path is ignored for an endpoint when the filter pair has differed on it at least once, unless the raw difference
 * clearly exceeds the noise (Diffy's rule, once the endpoint has `minSamples` exchanges):
 *   raw > noise  &&  100·|raw − noise| / (raw + noise) > relative  &&  100·|raw − noise| / total > absolute
 * Paths the filter pair never differed on are always signals.
 *
 * Memory is bounded: at most `maxEndpoints` endpoints (least recently used evicted) and `maxFieldsPerEndpoint` paths
 * per endpoint (least recently updated evicted).
 */
import { ErrorCodes, SwitchyardError } from '../core/errors.js';

export interface NoiseThresholds {
  /** Relative difference, in percent of raw + noise, that raw must exceed (default 20). */
  relative: number;
  /** Absolute difference, in percent of the endpoint's exchanges, that raw − noise must exceed (default 0.03). */
  absolute: number;
  /** Exchanges an endpoint needs before Diffy's rule can turn a noisy path back into a signal (default 1). */
  minSamples: number;
}

export interface NoiseLimits {
  /** Endpoints tracked, least recently used evicted (default 1000). */
  maxEndpoints?: number;
  /** Paths tracked per endpoint, least recently updated evicted (default 500). */
  maxFieldsPerEndpoint?: number;
}

export const DEFAULT_NOISE_THRESHOLDS: Readonly<NoiseThresholds> = Object.freeze({ relative: 20, absolute: 0.03, minSamples: 1 });

interface FieldCounts {
  noise: number;
  raw: number;
}

interface EndpointStats {
  total: number;
  /** Insertion order = least recently updated first. */
  fields: Map<string, FieldCounts>;
  /** ignored() result, dropped on record(). */
  ignored: ReadonlySet<string> | undefined;
  /** noisy() result, dropped on record(). */
  noisy: ReadonlySet<string> | undefined;
}

const EMPTY: ReadonlySet<string> = Object.freeze(new Set<string>());

function configError(message: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.CONFIG_INVALID, message);
}

function checkNumber(name: string, v: unknown, integer: boolean, min: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
    throw configError(`noise ${name}: must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${JSON.stringify(v) ?? String(v)}`);
  }
  return v;
}

export class NoiseModel {
  readonly thresholds: Readonly<NoiseThresholds>;
  readonly maxEndpoints: number;
  readonly maxFieldsPerEndpoint: number;
  readonly #endpoints = new Map<string, EndpointStats>();

  constructor(thresholds: Partial<NoiseThresholds> = {}, limits: NoiseLimits = {}) {
    const t = { ...DEFAULT_NOISE_THRESHOLDS };
    for (const key of ['relative', 'absolute', 'minSamples'] as const) {
      const v = thresholds[key];
      if (v !== undefined) t[key] = checkNumber(`thresholds.${key}`, v, key === 'minSamples', 0);
    }
    this.thresholds = Object.freeze(t);
    this.maxEndpoints = limits.maxEndpoints === undefined ? 1000 : checkNumber('limits.maxEndpoints', limits.maxEndpoints, true, 1);
    this.maxFieldsPerEndpoint = limits.maxFieldsPerEndpoint === undefined ? 500 : checkNumber('limits.maxFieldsPerEndpoint', limits.maxFieldsPerEndpoint, true, 1);
  }

  /** One exchange for `endpoint`: `noise` = paths where the filter pair (two identical copies) differed; `raw` = paths where another variant differed from the primary. */
  record(endpoint: string, noise: Iterable<string>, raw: Iterable<string>): void {
    let stats = this.#endpoints.get(endpoint);
    if (stats) this.#endpoints.delete(endpoint);
    else {
      stats = { total: 0, fields: new Map(), ignored: undefined, noisy: undefined };
      while (this.#endpoints.size >= this.maxEndpoints) {
        const oldest = this.#endpoints.keys().next();
        if (oldest.done) break;
        this.#endpoints.delete(oldest.value);
      }
    }
    this.#endpoints.set(endpoint, stats);
    stats.total++;
    stats.ignored = undefined;
    stats.noisy = undefined;
    // a path listed twice in one exchange counts once
    for (const path of new Set(noise)) this.#field(stats, path).noise++;
    for (const path of new Set(raw)) this.#field(stats, path).raw++;
  }

  #field(stats: EndpointStats, path: string): FieldCounts {
    let f = stats.fields.get(path);
    if (f) stats.fields.delete(path);
    else {
      f = { noise: 0, raw: 0 };
      while (stats.fields.size >= this.maxFieldsPerEndpoint) {
        const oldest = stats.fields.keys().next();
        if (oldest.done) break;
        stats.fields.delete(oldest.value);
      }
    }
    stats.fields.set(path, f);
    return f;
  }

  /** Diffy's rule: the raw difference count clearly exceeds the filter pair's. */
  #exceeds(total: number, f: FieldCounts): boolean {
    if (total < this.thresholds.minSamples) return false;
    const { raw, noise } = f;
    if (!(raw > noise)) return false;
    const delta = Math.abs(raw - noise);
    return (100 * delta) / (raw + noise) > this.thresholds.relative && (100 * delta) / total > this.thresholds.absolute;
  }

  /** Paths to ignore for this endpoint now: every path the filter pair has differed on, unless Diffy's rule says the
   *  other variants differ there clearly more often. Cached per endpoint until the next record(). */
  ignored(endpoint: string): ReadonlySet<string> {
    const stats = this.#endpoints.get(endpoint);
    if (!stats) return EMPTY;
    if (stats.ignored === undefined) {
      const out = new Set<string>();
      for (const [path, f] of stats.fields) if (f.noise > 0 && !this.#exceeds(stats.total, f)) out.add(path);
      stats.ignored = out.size === 0 ? EMPTY : out;
    }
    return stats.ignored;
  }

  /** Every path the filter pair has ever differed on for this endpoint (RDDR: their differences are ignored across
   *  the entire set). Cached per endpoint until the next record(). */
  noisy(endpoint: string): ReadonlySet<string> {
    const stats = this.#endpoints.get(endpoint);
    if (!stats) return EMPTY;
    if (stats.noisy === undefined) {
      const out = new Set<string>();
      for (const [path, f] of stats.fields) if (f.noise > 0) out.add(path);
      stats.noisy = out.size === 0 ? EMPTY : out;
    }
    return stats.noisy;
  }

  /** Diffy's rule on this endpoint's own counts, with at least `minSamples` exchanges seen: the other variants differ
   *  at `path` clearly more often than the filter pair does. False when the endpoint has no counts for the path. */
  exceedsNoise(endpoint: string, path: string): boolean {
    const stats = this.#endpoints.get(endpoint);
    const f = stats?.fields.get(path);
    return stats !== undefined && f !== undefined && f.noise > 0 && this.#exceeds(stats.total, f);
  }

  /** True when a raw difference at `path` should be reported: the filter pair never differed there, or Diffy's rule
   *  says the raw difference clearly exceeds the noise. */
  isSignal(endpoint: string, path: string): boolean {
    const stats = this.#endpoints.get(endpoint);
    const f = stats?.fields.get(path);
    if (!stats || !f || f.noise === 0) return true;
    return this.#exceeds(stats.total, f);
  }

  /** Endpoints tracked (least recently used first). */
  endpoints(): string[] {
    return [...this.#endpoints.keys()];
  }

  /** Snapshot for the admin API: per endpoint { total, fields: { path: { noise, raw } } }. */
  toJSON(): Record<string, { total: number; fields: Record<string, { noise: number; raw: number }> }> {
    const out: Record<string, { total: number; fields: Record<string, { noise: number; raw: number }> }> = {};
    const put = <T>(obj: Record<string, T>, key: string, value: T): void => {
      Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
    };
    for (const [endpoint, stats] of this.#endpoints) {
      const fields: Record<string, { noise: number; raw: number }> = {};
      for (const path of [...stats.fields.keys()].sort()) {
        const f = stats.fields.get(path)!;
        put(fields, path, { noise: f.noise, raw: f.raw });
      }
      put(out, endpoint, { total: stats.total, fields });
    }
    return out;
  }

  clear(): void {
    this.#endpoints.clear();
  }
}
