import type { ListenerConfig } from '../config/types.js';
import type { Address } from '../core/address.js';
import { RuntimeBase } from '../core/lifecycle.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { UdpProxy } from './udp-proxy.js';
import type { UdpFlowStats } from './udp-flow-table.js';
import type { ListenerDeps, StopOptions } from './tcp.js';

/** A UDP listener as a run-time object: a UdpProxy whose flows are routed through the route table. */
export class UdpListenerObject extends RuntimeBase<ListenerConfig> {
  readonly kind = 'listener' as const;
  readonly #deps: ListenerDeps;
  #proxy: UdpProxy | undefined;
  #bound: Address | undefined;
  /** Flow counters survive stop(), so a stopped listener still reports what it did. */
  #lastFlows: UdpFlowStats | undefined;
  #stopping: Promise<void> | undefined;

  constructor(config: ListenerConfig, deps: ListenerDeps) {
    super(config);
    this.#deps = deps;
  }

  get address(): Address | undefined {
    return this.#bound;
  }

  async start(): Promise<void> {
    this.life.starting();
    try {
      this.#proxy = await UdpProxy.start({
        id: this.id,
        listen: this.config.listen,
        udp: this.config.udp,
        stats: this.stats,
        logger: this.#deps.logger,
        pickUpstream: () => {
          const target = this.#deps.director.resolve(this.id);
          const cluster = target?.cluster;
          if (!target || !cluster) throw new SwitchyardError(ErrorCodes.NO_UPSTREAM, `no route with a cluster for udp listener '${this.id}'`);
          return { address: cluster.pickAddress(), stats: [target.route.stats, cluster.stats] };
        },
      });
      const a = this.#proxy.address();
      this.#bound = { kind: 'tcp', host: a.address, port: a.port };
      this.life.started();
      this.#deps.logger.info({ listener: this.id, address: this.#bound, transport: 'udp' }, 'listener started');
    } catch (err) {
      const e = err as { code?: string; message: string };
      this.life.failed(e.code ?? ErrorCodes.LISTEN_FAILED, e.message);
      throw err;
    }
  }

  /** UDP has no connections to drain: stopping closes the flows at once. */
  stop(_options: StopOptions = {}): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.life.state === 'stopped') return;
    this.life.stopping();
    await this.#proxy?.close();
    this.#lastFlows = this.#proxy?.flowStats();
    this.#proxy = undefined;
    this.life.stopped();
  }

  /** Flow-table counters: active, total, expired (idle), evicted (table full). */
  flowStats(): UdpFlowStats | undefined {
    return this.#proxy?.flowStats() ?? this.#lastFlows;
  }

  override toJSON(): Record<string, unknown> {
    return this.json({ address: this.#bound ?? null, flows: this.flowStats() ?? null });
  }

}
