import type { Socket } from 'node:net';
import type tls from 'node:tls';
import type { ClusterConfig } from '../config/types.js';
import type { Address } from '../core/address.js';
import { RuntimeBase } from '../core/lifecycle.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { buildClientTlsOptions } from '../core/tls.js';
import { createPicker, type Picker, type PickerState } from './balancer.js';
import { connectUpstream, type ConnectOptions } from './connector.js';
import { Endpoint, resolveEndpoint, type CheckResult } from './endpoint.js';
import { HealthChecker } from './health.js';
import { probeFor } from './probes.js';
import type { ProtocolRegistry } from '../protocols/registry.js';
import { createProtocolRegistry } from '../protocols/builtins.js';

/** A cluster config whose keys with defaults may be left out (code that builds clusters by hand). */
export type ClusterInit = Omit<ClusterConfig, 'retries' | 'retryBackoff' | 'retryOn' | 'dnsRefresh'> &
  Partial<Pick<ClusterConfig, 'retries' | 'retryBackoff' | 'retryOn' | 'dnsRefresh'>>;

/** The caller's verdict on an exchange over a socket connect() returned (HTTP 5xx = protocol_error). */
export type ExchangeOutcome = 'ok' | 'reset' | 'protocol_error';

export interface ConnectHints {
  /** Pause the socket as it connects (nothing is read until it is resumed). */
  paused?: boolean | undefined;
  /** The hash-key value for ring_hash / maglev (computed by the caller from `config.hashKey`). */
  hash?: string | undefined;
}

export interface ClusterDeps {
  logger?: Logger | undefined;
  /** Random source for the balancers and health-check jitter (tests). */
  random?: (() => number) | undefined;
  /** Protocol modules: health checks of a protocol type use the module's probe (default: the built-in modules). */
  protocols?: ProtocolRegistry | undefined;
}

/** Counters read by the metrics and the admin API. */
export interface ClusterCounters {
  /** Connect attempts made again on another endpoint. */
  retries: number;
  /** Picks made in panic mode (no endpoint eligible: all were used). */
  panics: number;
  /** Outlier ejections. */
  ejections: number;
  /** Failed DNS resolutions of host-name endpoints (the last good answer was kept). */
  dnsFailures: number;
}

function normalise(init: ClusterInit): ClusterConfig {
  return {
    ...init,
    retries: init.retries ?? 1,
    retryBackoff: init.retryBackoff ?? 25,
    retryOn: init.retryOn ?? ['connect-failure'],
    dnsRefresh: init.dnsRefresh ?? 30_000,
  };
}

const RETRY_BACKOFF_CAP_FACTOR = 10;

/**
 * A cluster: endpoints + a balancer, active health checks, passive outlier ejection, connect retries and a DNS
 * cache. Publishes an immutable picker over the eligible endpoints (swapped whole when health or ejection
 * changes); the hot path only calls pick(). Hands out connected upstream sockets; it never holds sockets itself
 * beyond counting them.
 */
export class Cluster extends RuntimeBase<ClusterConfig> {
  readonly kind = 'cluster' as const;
  readonly endpoints: readonly Endpoint[];
  readonly counters: ClusterCounters = { retries: 0, panics: 0, ejections: 0, dnsFailures: 0 };
  /**
   * The attribute whose value the caller passes as `hints.hash` (from `config.hashKey`): `sourceAddress`, `key`,
   * `user` or `header.NAME`; undefined when the cluster has no hash key.
   */
  readonly hashAttribute: string | undefined;
  #picker: Picker<Endpoint>;
  #panic = false;
  readonly #pickerState: PickerState = { cursor: 0 };
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #protocols: ProtocolRegistry | undefined;
  #tlsByHost = new Map<string, tls.ConnectionOptions>();
  #health: HealthChecker | undefined;
  #dnsTimer: NodeJS.Timeout | undefined;
  /** Sockets connect() handed out → their endpoint (for report()). */
  readonly #owners = new WeakMap<Socket, Endpoint>();

  constructor(init: ClusterInit, deps: ClusterDeps = {}) {
    const config = normalise(init);
    super(config);
    this.#random = deps.random ?? Math.random;
    this.#logger = deps.logger ?? silentLogger();
    this.#protocols = deps.protocols;
    this.endpoints = config.endpoints.map((e) => new Endpoint(e, config.dnsRefresh > 0));
    const hk = config.hashKey;
    this.hashAttribute = hk === undefined ? undefined : hk.startsWith('header:') ? `header.${hk.slice('header:'.length)}` : hk;
    this.#picker = this.#buildPicker();
  }

  /** Validate what can only be checked at run time (TLS files) and start: DNS cache, health checks. */
  start(): void {
    this.life.starting();
    try {
      const tlsCfg = this.config.tls;
      if (tlsCfg) {
        for (const e of this.endpoints) {
          const host = e.config.address.kind === 'tcp' ? e.config.address.host : 'localhost';
          if (!this.#tlsByHost.has(host)) this.#tlsByHost.set(host, buildClientTlsOptions(tlsCfg, host));
        }
      }
      this.#startDns();
      const check = this.config.healthCheck;
      if (check) {
        const probe = probeFor(check, this.#protocols ?? createProtocolRegistry());
        this.#health = new HealthChecker(
          check,
          this.endpoints,
          (e, signal) => probe({ address: e.config.address, lookup: e.lookup, tls: this.#tlsFor(e) }, signal),
          (e, r) => this.#checked(e, r),
          this.#random,
        );
        this.#health.start();
      }
      this.life.started();
    } catch (err) {
      this.#stopBackground();
      this.life.failed((err as { code?: string }).code ?? ErrorCodes.INTERNAL, (err as Error).message);
      throw err;
    }
  }

  stop(): void {
    this.life.stopping();
    this.#stopBackground();
    this.life.stopped();
  }

  #stopBackground(): void {
    this.#health?.stop();
    this.#health = undefined;
    if (this.#dnsTimer) clearInterval(this.#dnsTimer);
    this.#dnsTimer = undefined;
    for (const e of this.endpoints) {
      if (e.ejectionTimer) clearTimeout(e.ejectionTimer);
      e.ejectionTimer = undefined;
    }
  }

  /** True while no endpoint is eligible and traffic goes to all of them (panic mode). */
  get panic(): boolean {
    return this.#panic;
  }

  /** The endpoints the balancer picks among now. */
  get eligible(): readonly Endpoint[] {
    return this.#picker.endpoints;
  }

  /** Next endpoint address (for transports that connect themselves, e.g. UDP flows); the cached DNS answer when there is one. */
  pickAddress(hash?: string): Address {
    const e = this.#pick(hash);
    const a = e.config.address;
    if (a.kind === 'tcp' && e.dns && e.dns.addresses.length > 0) return { kind: 'tcp', host: e.dns.addresses[0]!.address, port: a.port };
    return a;
  }

  #pick(hash: string | undefined): Endpoint {
    if (this.life.state !== 'started') {
      throw new SwitchyardError(ErrorCodes.NO_UPSTREAM, `cluster '${this.id}' is ${this.life.state}`);
    }
    const e = this.#picker.pick(hash);
    if (!e) throw new SwitchyardError(ErrorCodes.NO_UPSTREAM, `cluster '${this.id}' has no endpoints`);
    if (this.#panic) this.counters.panics++;
    return e;
  }

  #tlsFor(e: Endpoint): tls.ConnectionOptions | undefined {
    if (!this.config.tls) return undefined;
    const a = e.config.address;
    return this.#tlsByHost.get(a.kind === 'tcp' ? a.host : 'localhost');
  }

  /**
   * Connect to the next endpoint. A failed connect counts toward the endpoint's outlier ejection and is retried
   * (`retries`, after `retryBackoff`, doubling) on endpoints not tried yet for this call; the last error is thrown.
   * Tracks the endpoint's active connection count.
   */
  connect(signal?: AbortSignal, hints?: ConnectHints): Promise<Socket> {
    // Errors are counted by the caller (the session counts into listener, route and cluster stats alike).
    let first: Endpoint;
    try {
      first = this.#pick(hints?.hash);
    } catch (err: unknown) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    // One promise step on the success path (this is every proxied connection's path).
    return connectUpstream(first.config.address, this.#connectOptions(first, signal, hints?.paused)).then(
      (socket) => this.#connected(first, socket),
      (err: unknown) => {
        if (!isShutdown(err)) this.#failed(first, 'connect');
        return this.#retry(err, first, signal, hints);
      },
    );
  }

  #connectOptions(e: Endpoint, signal: AbortSignal | undefined, paused: boolean | undefined): ConnectOptions {
    return { connectTimeout: this.config.connectTimeout, socket: this.config.socket, tls: this.#tlsFor(e), signal, paused, lookup: e.lookup };
  }

  async #retry(err: unknown, first: Endpoint, signal: AbortSignal | undefined, hints: ConnectHints | undefined): Promise<Socket> {
    let last = err;
    const tried = [first];
    const { retries, retryBackoff } = this.config;
    for (let attempt = 1; attempt <= retries; attempt++) {
      if (isShutdown(last) || isAborted(signal) || this.life.state !== 'started') break;
      const next = this.#another(tried);
      if (!next) break;
      const wait = Math.min(retryBackoff * 2 ** (attempt - 1), retryBackoff * RETRY_BACKOFF_CAP_FACTOR);
      if (wait > 0) await sleep(wait);
      if (isAborted(signal)) break; // may have been aborted while waiting
      this.counters.retries++;
      tried.push(next);
      let socket: Socket;
      try {
        socket = await connectUpstream(next.config.address, this.#connectOptions(next, signal, hints?.paused));
      } catch (e) {
        if (!isShutdown(e)) this.#failed(next, 'connect');
        last = e;
        continue;
      }
      return this.#connected(next, socket);
    }
    throw last;
  }

  /**
   * An eligible endpoint not tried yet, scanning from the round-robin position (without moving it, so retries do
   * not shift the rotation of later connections).
   */
  #another(tried: readonly Endpoint[]): Endpoint | undefined {
    const candidates = this.#picker.endpoints;
    const n = candidates.length;
    const start = this.#pickerState.cursor;
    for (let k = 0; k < n; k++) {
      const e = candidates[(start + k) % n]!;
      if (!tried.includes(e)) return e;
    }
    return undefined;
  }

  #connected(e: Endpoint, socket: Socket): Socket {
    e.connectFailures = 0;
    e.active++;
    if (!this.config.outlierDetection) {
      socket.once('close', () => e.active--);
      return socket;
    }
    this.#owners.set(socket, e);
    socket.once('close', (hadError: boolean) => {
      e.active--;
      // A socket already reported as reset is not counted twice.
      if (!this.#owners.delete(socket)) return;
      if (hadError) this.#failed(e, 'exchange');
      else e.exchangeFailures = 0;
    });
    return socket;
  }

  /**
   * The caller's verdict on an exchange over a socket connect() returned: `reset` and `protocol_error` (HTTP 5xx;
   * not Redis -ERR) count toward outlier ejection, `ok` resets the endpoint's count. A no-op without
   * `outlierDetection`.
   */
  report(socket: Socket, outcome: ExchangeOutcome): void {
    const e = this.#owners.get(socket);
    if (!e) return;
    if (outcome === 'ok') {
      e.exchangeFailures = 0;
      return;
    }
    if (outcome === 'reset') this.#owners.delete(socket);
    this.#failed(e, 'exchange');
  }

  /** Passive failure: counts, and ejects the endpoint after `consecutiveFailures` in a row. */
  #failed(e: Endpoint, kind: 'connect' | 'exchange'): void {
    const n = kind === 'connect' ? ++e.connectFailures : ++e.exchangeFailures;
    const od = this.config.outlierDetection;
    if (!od || e.ejectedUntil > 0 || n < od.consecutiveFailures || this.life.state !== 'started') return;
    // As Envoy: eject while the ejected share is below maxEjectionPercent; at least one endpoint may always be.
    const ejected = this.endpoints.reduce((k, x) => k + (x.ejectedUntil > 0 ? 1 : 0), 0);
    if (ejected > 0 && (ejected * 100) / this.endpoints.length >= od.maxEjectionPercent) return;
    e.timesEjected++;
    const ms = Math.min(od.baseEjectionTime * e.timesEjected, Math.max(od.maxEjectionTime, od.baseEjectionTime));
    e.ejectedUntil = Date.now() + ms;
    e.connectFailures = 0;
    e.exchangeFailures = 0;
    this.counters.ejections++;
    e.ejectionTimer = setTimeout(() => this.#uneject(e, 'ejection time over'), ms);
    e.ejectionTimer.unref();
    this.#logger.warn({ cluster: this.id, endpoint: e.key, ms, times: e.timesEjected, after: `${n} consecutive ${kind} failures` }, 'cluster: endpoint ejected');
    this.republish();
  }

  #uneject(e: Endpoint, why: string): void {
    if (e.ejectionTimer) clearTimeout(e.ejectionTimer);
    e.ejectionTimer = undefined;
    if (e.ejectedUntil === 0) return;
    e.ejectedUntil = 0;
    this.#logger.info({ cluster: this.id, endpoint: e.key, why }, 'cluster: endpoint back from ejection');
    this.republish();
  }

  /** One active health-check result: thresholds move the endpoint between unknown, healthy and unhealthy. */
  #checked(e: Endpoint, r: CheckResult): void {
    const check = this.config.healthCheck;
    if (!check) return;
    e.lastCheck = r;
    if (r.ok) {
      e.checkPasses++;
      e.checkFailures = 0;
      if (e.health !== 'healthy' && e.checkPasses >= check.healthyThreshold) {
        const was = e.health;
        e.health = 'healthy';
        if (was === 'unhealthy') this.#logger.info({ cluster: this.id, endpoint: e.key }, 'cluster: endpoint healthy again');
        this.republish();
      }
      // As Envoy: a passing active check ends an ejection.
      if (e.ejectedUntil > 0) this.#uneject(e, 'health check passed');
    } else {
      e.checkFailures++;
      e.checkPasses = 0;
      if (e.health !== 'unhealthy' && e.checkFailures >= check.unhealthyThreshold) {
        e.health = 'unhealthy';
        this.#logger.warn({ cluster: this.id, endpoint: e.key, error: r.error }, 'cluster: endpoint unhealthy');
        this.republish();
      }
    }
  }

  #buildPicker(): Picker<Endpoint> {
    const eligible = this.endpoints.filter((e) => e.eligible);
    const wasPanic = this.#panic;
    this.#panic = eligible.length === 0;
    if (this.#panic && !wasPanic && this.life.state === 'started') {
      this.#logger.warn({ cluster: this.id }, 'cluster: no endpoint is healthy: panic mode, traffic goes to all endpoints');
    }
    return createPicker(this.config.balancer, this.#panic ? this.endpoints : eligible, { state: this.#pickerState, random: this.#random });
  }

  /** Publish a new picker over the endpoints eligible now (called on every health or ejection change). */
  republish(): void {
    this.#picker = this.#buildPicker();
  }

  #startDns(): void {
    const names = this.endpoints.filter((e) => e.dns !== undefined);
    if (names.length === 0) return;
    const refresh = (): void => {
      for (const e of names) {
        void resolveEndpoint(e).then((r) => {
          if (r.ok) return;
          this.counters.dnsFailures++;
          this.#logger.warn({ cluster: this.id, endpoint: e.key, error: r.error, kept: e.dns?.addresses.map((a) => a.address) }, 'cluster: DNS resolution failed; keeping the last answer');
        });
      }
    };
    refresh();
    this.#dnsTimer = setInterval(refresh, this.config.dnsRefresh);
    this.#dnsTimer.unref();
  }

  override toJSON(): Record<string, unknown> {
    return this.json({ panic: this.#panic, counters: { ...this.counters }, endpoints: this.endpoints.map((e) => e.toJSON()) });
  }
}

function isShutdown(err: unknown): boolean {
  return (err as { code?: string } | undefined)?.code === ErrorCodes.SHUTDOWN;
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
