import type { RouteConfig } from '../config/types.js';
import { isEndpointRef } from '../config/replication.js';
import { parseAddress } from '../core/address.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { RandomSource } from '../faults/random.js';
import type { ProtocolRegistry } from '../protocols/registry.js';
import type { Route } from '../routing/director.js';
import { Cluster } from '../upstream/cluster.js';
import type { DivergenceLog } from './events.js';
import { Replicator } from './replicator.js';
import { MirrorHandlerFactory } from './mirror.js';
import { Merger } from './merge.js';

export interface EngineDeps {
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly log: DivergenceLog;
  readonly logger: Logger;
  readonly random: RandomSource;
  /** Protocol modules: engines find each protocol's lifter (comparators) and merge-startup hook here. */
  readonly protocols: ProtocolRegistry;
}

/** Cluster ids a route depends on (so the cluster cannot be deleted under it). */
export function routeClusterRefs(config: RouteConfig): string[] {
  const refs: string[] = [];
  if (config.cluster !== undefined) refs.push(config.cluster);
  if (config.replicate) for (const v of config.replicate.variants) if (!isEndpointRef(v)) refs.push(v);
  if (config.mirror) refs.push(config.mirror.cluster);
  if (config.grpc) refs.push(...config.grpc.secondaries);
  return refs;
}

/** Attach the replicate/merge engine or the mirror handler a route's config asks for. */
export function buildRouteEngine(route: Route, deps: EngineDeps): void {
  const config = route.config;
  if (config.replicate) {
    const variants = config.replicate.variants.map((ref, i) => {
      if (!isEndpointRef(ref)) {
        const cluster = deps.clusters.get(ref);
        if (!cluster) throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `route '${config.id}': variant cluster '${ref}' does not exist`);
        return { name: ref, cluster };
      }
      const address = parseAddress(ref, { role: 'connect' });
      const cluster = new Cluster({
        id: `${config.id}.variant${i + 1}`,
        endpoints: [{ address, weight: 1 }],
        balancer: 'round_robin',
        connectTimeout: Math.min(5_000, config.replicate!.timeout),
        socket: { noDelay: true, keepAlive: 0 },
      });
      cluster.start();
      return { name: ref, cluster };
    });
    route.engine = new Replicator(config.id, config.replicate, variants, { log: deps.log, logger: deps.logger, protocols: deps.protocols });
  }
  if (config.mirror) {
    const shadow = deps.clusters.get(config.mirror.cluster);
    if (!shadow) throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `route '${config.id}': mirror cluster '${config.mirror.cluster}' does not exist`);
    const rng = deps.random.stream(`mirror:${config.id}`);
    const factory = new MirrorHandlerFactory({
      route: config.id,
      config: config.mirror,
      shadow,
      primaryName: config.cluster ?? 'primary',
      log: deps.log,
      logger: deps.logger,
      random: () => rng.next(),
      protocols: deps.protocols,
    });
    route.handlers = [factory];
    route.mirrorStats = factory.stats;
    route.extraLatencies = [{ variant: `${config.mirror.cluster} (shadow)`, histogram: factory.latency }];
  }
  if (config.merge) {
    const backend = config.cluster === undefined ? undefined : deps.clusters.get(config.cluster);
    if (!backend) throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `route '${config.id}': merge backend cluster '${config.cluster ?? ''}' does not exist`);
    route.engine = new Merger(config.id, config.merge, backend, { log: deps.log, logger: deps.logger, protocols: deps.protocols });
  }
}
