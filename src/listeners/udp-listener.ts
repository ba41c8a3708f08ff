/**
 * UdpListenerObject: the run-time object (id, state, config, stats) for a `transport: udp` listener, as the
 * Switchyard runtime and admin API see it. It runs a UdpProxy whose flows are routed by the director: each new
 * flow asks the listener's route for its cluster's next endpoint (the cluster's balancer does the round robin)
 * and is counted into the listener's, the route's and the cluster's stats.
 *
 * The library-level pieces live in udp-flow-table.ts (UdpFlowTable), udp-flow-listener.ts (UdpListener,
 * UdpFlow) and udp-proxy.ts (UdpProxy).
 */
import type { Address, ListenerConfig } from '../control/config-types.js';
import { ErrorCodes, SwitchyardError, errorCode } from '../core/errors.js';
import { Lifecycle, type RuntimeObject } from '../core/lifecycle.js';
import { TrafficStats } from '../core/stats.js';
import type { ListenerDeps, StopOptions } from './tcp.js';
import type { UdpFlowStats } from './udp-flow-table.js';
import { UdpProxy, type UdpUpstreamChoice } from './udp-proxy.js';

export class UdpListenerObject implements RuntimeObject<ListenerConfig> {
  readonly kind = 'listener' as const;
  readonly id: string;
  readonly config: ListenerConfig;
  readonly stats = new TrafficStats();
  readonly #life = new Lifecycle();
  readonly #deps: ListenerDeps;
  #proxy: UdpProxy | undefined;
  #bound: Address | undefined;
  #flowStats: UdpFlowStats = { flowsActive: 0, flowsTotal: 0, flowsExpired: 0, flowsEvicted: 0 };

  constructor(config: ListenerConfig, deps: ListenerDeps) {
    this.id = config.id;
    this.config = config;
    this.#deps = deps;
  }

  get state() {
    return this.#life.state;
  }
  get startedAt() {
    return this.#life.startedAt;
  }
  get stoppedAt() {
    return this.#life.stoppedAt;
  }

  /** The bound address (the real port when configured with port 0). */
  get address(): Address | undefined {
    return this.#bound;
  }

  /** Flow-table counters (the last ones seen once stopped). */
  flowStats(): UdpFlowStats {
    return this.#proxy?.flowStats() ?? this.#flowStats;
  }

  async start(): Promise<void> {
    this.#life.starting();
    try {
      const proxy = await UdpProxy.start({
        id: this.id,
        listen: this.config.listen,
        udp: this.config.udp,
        stats: this.stats,
        logger: this.#deps.logger,
        pickUpstream: () => this.#pick(),
      });
      this.#proxy = proxy;
      const a = proxy.address();
      this.#bound = { kind: 'tcp', host: a.address, port: a.port };
      this.#life.started();
      this.#deps.logger.info({ listener: this.id, address: this.#bound, transport: 'udp' }, 'listener started');
    } catch (err) {
      const e = err as Error;
      this.#life.failed(errorCode(err), e.message);
      if (errorCode(err) === ErrorCodes.LISTEN_FAILED || errorCode(err) === ErrorCodes.CONFIG_INVALID) throw err;
      throw new SwitchyardError(ErrorCodes.LISTEN_FAILED, `listener '${this.id}': ${e.message}`, { cause: err });
    }
  }

  /** UDP flows have no end to wait for: stopping closes every flow and the socket at once (drainTimeout unused). */
  async stop(_options: StopOptions = {}): Promise<void> {
    if (this.#life.state === 'stopped' || this.#life.state === 'stopping') return;
    this.#life.stopping();
    const proxy = this.#proxy;
    if (proxy !== undefined) {
      await proxy.close();
      this.#flowStats = proxy.flowStats();
      this.#proxy = undefined;
    }
    this.#life.stopped();
    this.#deps.logger.info({ listener: this.id }, 'listener stopped');
  }

  #pick(): UdpUpstreamChoice {
    const target = this.#deps.director.resolve(this.id);
    if (!target) throw new SwitchyardError(ErrorCodes.NO_UPSTREAM, `listener '${this.id}' has no route`);
    return { address: target.cluster.pickAddress(), stats: [target.route.stats, target.cluster.stats] };
  }

  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      kind: this.kind,
      ...this.#life.toJSON(),
      address: this.#bound ?? null,
      config: this.config,
      stats: this.stats.toJSON(),
      flows: this.flowStats(),
    };
  }
}
