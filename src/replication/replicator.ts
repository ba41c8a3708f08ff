import type { Socket } from 'node:net';
import { LatencyHistogram } from '../core/latency.js';
import type { Logger } from '../core/log.js';
import type { ReplicateConfig } from '../config/replication.js';
import type { AcceptContext, EngineLatency, EngineSession, RouteEngine } from '../routing/engine.js';
import type { Cluster } from '../upstream/cluster.js';
import { buildComparator, validateNormalise, type Comparator } from '../compare/comparator.js';
import type { ProtocolRegistry } from '../protocols/registry.js';
import type { RequestRoutingHooks } from '../protocols/protocol.js';
import { NoiseModel } from '../compare/noise.js';
import { DivergenceReporter } from './divergence-report.js';
import type { DivergenceLog } from './events.js';
import type { ReplicaEnv, ReplicateSettings } from './replicate-env.js';
import { ReplicaSession } from './replicate-session.js';
import { StreamReplicaSession } from './stream.js';
import type { VariantTarget } from './variant.js';

export interface QuarantineEntry {
  readonly since: string;
  readonly reason: string;
}

/**
 * The engine of a `replicate` route: holds the variants, the noise model learned from the filter pair, the
 * quarantine set, and the comparators per protocol; each accepted connection becomes a ReplicaSession (framed) or
 * a StreamReplicaSession (raw bytes).
 */
export class Replicator implements RouteEngine, ReplicaEnv {
  readonly route: string;
  readonly settings: ReplicateSettings;
  readonly variants: readonly VariantTarget[];
  readonly report: DivergenceReporter;
  readonly noise: NoiseModel;
  readonly #config: ReplicateConfig;
  readonly #comparators = new Map<string, Comparator>();
  readonly #protocols: ProtocolRegistry;
  readonly #quarantined = new Map<string, QuarantineEntry>();
  readonly #logger: Logger;
  readonly #sessions = new Set<EngineSession>();
  /** Exchanges judged so far (the noise warm-up counts them). */
  #exchanges = 0;

  constructor(route: string, config: ReplicateConfig, variants: readonly { name: string; cluster: Cluster }[], deps: { log: DivergenceLog; logger: Logger; protocols: ProtocolRegistry }) {
    this.route = route;
    this.#config = config;
    this.settings = {
      policy: config.policy,
      timeout: config.timeout,
      filterPair: config.filterPair,
      filterPairDelay: config.filterPair ? config.filterPairDelay : 0,
      quarantine: config.quarantine,
      maxMessageBytes: config.maxMessageSize,
      maxInFlight: config.maxInFlight,
    };
    this.variants = variants.map((v) => ({ name: v.name, cluster: v.cluster, latency: new LatencyHistogram() }));
    this.report = new DivergenceReporter(deps.log, route, 'replicate');
    this.#logger = deps.logger;
    this.#protocols = deps.protocols;
    this.noise = new NoiseModel({ relative: config.noise.relative, absolute: config.noise.absolute, minSamples: config.noise.minSamples });
    // Validate the normalisation options now (bad masks fail the config, not the first request).
    validateNormalise(config.normalise);
  }

  comparator(protocol: string): Comparator {
    let c = this.#comparators.get(protocol);
    if (!c) {
      c = buildComparator(protocol, this.#config.normalise, { protocols: this.#protocols });
      this.#comparators.set(protocol, c);
    }
    return c;
  }

  requestHooks(protocol: string): RequestRoutingHooks | undefined {
    return this.#protocols.get(protocol)?.requestRouting;
  }

  warmingUp(): boolean {
    return ++this.#exchanges <= this.#config.noise.warmup;
  }

  isQuarantined(name: string): boolean {
    return this.#quarantined.has(name);
  }

  get anyQuarantined(): boolean {
    return this.#quarantined.size > 0;
  }

  quarantine(name: string, reason: string): void {
    if (this.#quarantined.has(name)) return;
    this.#quarantined.set(name, { since: new Date().toISOString(), reason });
    this.#logger.warn({ route: this.route, variant: name, reason }, 'variant quarantined (out of the set until restored)');
  }

  /** Put a quarantined variant back; returns false when it was not quarantined. */
  restore(name: string): boolean {
    const was = this.#quarantined.delete(name);
    if (was) this.#logger.info({ route: this.route, variant: name }, 'variant restored');
    return was;
  }

  accept(socket: Socket, ctx: AcceptContext): EngineSession {
    // No framer and no protocol: no message boundaries; the answer streams are compared byte for byte.
    const raw = !ctx.framing.codec && ctx.framing.toUpstream.name === 'passthrough';
    const Kind = raw ? StreamReplicaSession : ReplicaSession;
    const session = new Kind(this, socket, {
      ...ctx,
      onClose: () => {
        this.#sessions.delete(session);
        ctx.onClose();
      },
    });
    this.#sessions.add(session);
    session.start();
    return session;
  }

  variantsJSON(): Array<Record<string, unknown>> {
    return this.variants.map((v, i) => ({
      name: v.name,
      role: i === 0 ? 'primary' : this.settings.filterPair && i === 1 ? 'filter-pair' : 'variant',
      cluster: v.cluster.id,
      endpoints: v.cluster.toJSON()['endpoints'],
      state: this.#quarantined.has(v.name) ? 'quarantined' : 'active',
      ...(this.#quarantined.has(v.name) ? { quarantine: this.#quarantined.get(v.name) } : {}),
      latency: { count: v.latency.count, meanMs: v.latency.count === 0 ? null : Math.round((v.latency.sum / v.latency.count) * 1e5) / 100 },
    }));
  }

  *latencies(): Iterable<EngineLatency> {
    for (const v of this.variants) yield { variant: v.name, histogram: v.latency };
  }

  toJSON(): Record<string, unknown> {
    return { mode: 'replicate', policy: this.settings.policy, sessions: this.#sessions.size, variants: this.variantsJSON() };
  }

  close(): void {
    for (const s of [...this.#sessions]) s.destroy();
  }
}
