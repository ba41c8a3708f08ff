import { isIP, type LookupFunction } from 'node:net';
import dns, { type LookupAddress } from 'node:dns';
import type { EndpointConfig } from '../config/types.js';
import type { BalancedEndpoint } from './balancer.js';
import { describeAddress } from './connector.js';

/** `unknown` until the health-check thresholds say otherwise (and always, without a `healthCheck`). */
export type EndpointHealth = 'healthy' | 'unhealthy' | 'unknown';

/** The last active health check of an endpoint. */
export interface CheckResult {
  readonly at: Date;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly error?: string | undefined;
}

/** The cached answer for a host-name endpoint. */
export interface DnsState {
  /** Last good answer (empty until the first resolution succeeds: connects then resolve by themselves). */
  addresses: LookupAddress[];
  resolvedAt: Date | undefined;
  /** Resolutions that failed since the cluster started (the last good answer was kept). */
  failures: number;
  lastError: string | undefined;
}

/** One endpoint of a cluster with its live state: connections, health, ejection, DNS. */
export class Endpoint implements BalancedEndpoint {
  readonly config: EndpointConfig;
  readonly key: string;
  active = 0;
  health: EndpointHealth = 'unknown';
  /** Consecutive passing / failing active checks. */
  checkPasses = 0;
  checkFailures = 0;
  lastCheck: CheckResult | undefined;
  /** Consecutive failed connects (reset by a successful one). */
  connectFailures = 0;
  /** Consecutive failed exchanges: resets, protocol errors (reset by an `ok` report or a clean close). */
  exchangeFailures = 0;
  /** Epoch ms the current ejection ends; 0 = not ejected. */
  ejectedUntil = 0;
  timesEjected = 0;
  ejectionTimer: NodeJS.Timeout | undefined;
  /** Present for host-name endpoints when the cluster caches DNS answers. */
  readonly dns: DnsState | undefined;
  /** net.connect's `lookup` answering from the cache (undefined when there is no cache). */
  readonly lookup: LookupFunction | undefined;

  constructor(config: EndpointConfig, cacheDns: boolean) {
    this.config = config;
    this.key = describeAddress(config.address);
    const a = config.address;
    if (cacheDns && a.kind === 'tcp' && isIP(a.host) === 0) {
      const state: DnsState = { addresses: [], resolvedAt: undefined, failures: 0, lastError: undefined };
      this.dns = state;
      this.lookup = cachedLookup(state);
    } else {
      this.dns = undefined;
      this.lookup = undefined;
    }
  }

  get ejected(): boolean {
    return this.ejectedUntil > 0;
  }

  /** Eligible for the balancer: not unhealthy and not ejected. */
  get eligible(): boolean {
    return this.health !== 'unhealthy' && this.ejectedUntil === 0;
  }

  /** The host to send datagrams to / connect to: the first cached address, else the configured host. */
  resolvedHost(): string | undefined {
    const a = this.config.address;
    if (a.kind !== 'tcp') return undefined;
    return this.dns?.addresses[0]?.address ?? a.host;
  }

  toJSON(): Record<string, unknown> {
    return {
      address: this.key,
      weight: this.config.weight,
      active: this.active,
      health: this.health,
      ejected: this.ejected,
      ejectedUntil: this.ejectedUntil > 0 ? new Date(this.ejectedUntil).toISOString() : null,
      timesEjected: this.timesEjected,
      lastCheck: this.lastCheck
        ? { at: this.lastCheck.at.toISOString(), ok: this.lastCheck.ok, durationMs: this.lastCheck.durationMs, ...(this.lastCheck.error !== undefined ? { error: this.lastCheck.error } : {}) }
        : null,
      ...(this.dns
        ? {
            dns: {
              addresses: this.dns.addresses.map((x) => x.address),
              resolvedAt: this.dns.resolvedAt?.toISOString() ?? null,
              failures: this.dns.failures,
              ...(this.dns.lastError !== undefined ? { lastError: this.dns.lastError } : {}),
            },
          }
        : {}),
    };
  }
}

/** A `lookup` for net.connect that answers from the cache, or asks the system resolver while the cache is empty. */
function cachedLookup(state: DnsState): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    const all = family === 0 ? state.addresses : state.addresses.filter((a) => a.family === family);
    if (all.length === 0) {
      dns.lookup(hostname, options as dns.LookupAllOptions, callback as unknown as (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void);
      return;
    }
    if (options.all === true) {
      (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, all);
      return;
    }
    callback(null, all[0]!.address, all[0]!.family);
  };
}

/** Resolve one host-name endpoint into its cache; a failure keeps the last good answer and is counted. */
export async function resolveEndpoint(e: Endpoint): Promise<{ ok: boolean; error?: string }> {
  const state = e.dns;
  const a = e.config.address;
  if (!state || a.kind !== 'tcp') return { ok: true };
  try {
    const addresses = await dns.promises.lookup(a.host, { all: true });
    if (addresses.length === 0) throw new Error('no addresses');
    state.addresses = addresses;
    state.resolvedAt = new Date();
    state.lastError = undefined;
    return { ok: true };
  } catch (err) {
    state.failures++;
    state.lastError = `${(err as NodeJS.ErrnoException).code ?? 'ERROR'}: ${(err as Error).message}`;
    return { ok: false, error: state.lastError };
  }
}
