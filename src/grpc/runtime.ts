/**
 * What gRPC routes share at run time: one HTTP/2 session pool per cluster, counters per route, and the directors
 * registered from code. The Switchyard object owns one.
 */
import type { GrpcRouteConfig } from '../config/types.js';
import type { Logger } from '../core/log.js';
import type { Route } from '../routing/director.js';
import type { Cluster } from '../upstream/cluster.js';
import type { GrpcRouteSetup } from './call.js';
import type { GrpcDirector } from './director.js';
import { H2Pool } from './pool.js';
import { GrpcRouteStats } from './route-stats.js';
import type { DivergenceLog } from '../replication/events.js';
import type { Comparator } from '../compare/comparator.js';
import { buildGrpcComparator } from '../compare/grpc-comparator.js';
import type { GrpcVoteSetup } from './vote.js';

/** Default bytes that may wait toward one secondary. */
export const DEFAULT_SECONDARY_QUEUE = 4 * 1024 * 1024;

export class GrpcRuntime {
  readonly #pools = new Map<string, H2Pool>();
  readonly #stats = new Map<string, GrpcRouteStats>();
  /** Directors by route id (set before or after the route exists; read at each call). */
  readonly directors = new Map<string, GrpcDirector>();
  readonly #clusters: ReadonlyMap<string, Cluster>;
  readonly logger: Logger;

  readonly #divergences: DivergenceLog | undefined;

  constructor(clusters: ReadonlyMap<string, Cluster>, logger: Logger, directors?: Readonly<Record<string, GrpcDirector>>, divergences?: DivergenceLog) {
    this.#clusters = clusters;
    this.#divergences = divergences;
    this.logger = logger;
    for (const [k, v] of Object.entries(directors ?? {})) this.directors.set(k, v);
  }

  /** The session pool of a cluster id (replaced when the cluster object was replaced). */
  pool(clusterId: string): H2Pool | undefined {
    const cluster = this.#clusters.get(clusterId);
    if (!cluster || cluster.state !== 'started') return undefined;
    let pool = this.#pools.get(clusterId);
    if (pool?.cluster !== cluster) {
      pool?.close();
      pool = new H2Pool(cluster);
      this.#pools.set(clusterId, pool);
    }
    return pool;
  }

  /** Forget a cluster's pool (its sessions are closed). */
  dropCluster(clusterId: string): void {
    this.#pools.get(clusterId)?.close();
    this.#pools.delete(clusterId);
  }

  stats(routeId: string): GrpcRouteStats {
    let s = this.#stats.get(routeId);
    if (!s) {
      s = new GrpcRouteStats();
      this.#stats.set(routeId, s);
    }
    return s;
  }

  /** Every route's counters (metrics). */
  allStats(): Iterable<[string, GrpcRouteStats]> {
    return this.#stats.entries();
  }

  dropRoute(routeId: string): void {
    this.#stats.delete(routeId);
  }

  /** What a call on this route needs. */
  setup(route: Route, traffic: GrpcRouteSetup['traffic']): GrpcRouteSetup {
    const g: GrpcRouteConfig | undefined = route.config.grpc;
    const stats = this.stats(route.id);
    stats.onNewDestination ??= (variant, histogram) => route.extraLatencies.push({ variant, histogram });
    return {
      routeId: route.id,
      primary: route.config.cluster ?? '',
      secondaries: g?.secondaries ?? [],
      secondaryErrors: g?.secondaryErrors ?? 'swallow',
      mutators: g?.mutators === undefined ? undefined : this.#regex(g.mutators),
      secondaryQueue: g?.secondaryQueue ?? DEFAULT_SECONDARY_QUEUE,
      director: this.directors.get(route.id),
      stats,
      traffic,
      report: g?.compare.policy === 'report' ? this.#divergences : undefined,
      vote: this.#vote(route),
    };
  }

  readonly #comparators = new WeakMap<GrpcRouteConfig, Comparator>();

  /**
   * The comparator of a route with a voting policy (built once per route config: a bad mask or descriptor set
   * throws CONFIG_INVALID naming it, so a route is checked when it is added).
   */
  prepare(route: Route): void {
    const g = route.config.grpc;
    if (!g || g.compare.policy === 'off') return;
    if (this.#comparators.has(g)) return;
    const c = g.compare;
    const what = `route '${route.id}': grpc.compare`;
    this.#comparators.set(g, buildGrpcComparator({ masks: c.masks, regex: c.regex, ignoreHeaders: c.ignoreHeaders, compareHeaders: c.compareHeaders, descriptorSet: c.descriptorSet, maxMessageSize: c.maxMessageSize }, what));
  }

  #vote(route: Route): GrpcVoteSetup | undefined {
    const g = route.config.grpc;
    const policy = g?.compare.policy;
    if (!g || !this.#divergences || (policy !== 'majority' && policy !== 'unanimous' && policy !== 'weighted')) return undefined;
    this.prepare(route);
    return { policy, comparator: this.#comparators.get(g)!, blockStatus: g.compare.blockStatus, holdLimit: g.compare.holdLimit, log: this.#divergences };
  }

  readonly #regexes = new Map<string, RegExp>();

  #regex(source: string): RegExp {
    let rx = this.#regexes.get(source);
    if (!rx) {
      rx = new RegExp(source);
      this.#regexes.set(source, rx);
    }
    return rx;
  }

  /** The admin view of a route: primary, secondaries, director, per-destination counters, pools. */
  routeJSON(route: Route): Record<string, unknown> {
    const g = route.config.grpc;
    const clusters = [route.config.cluster ?? '', ...(g?.secondaries ?? [])];
    return {
      primary: route.config.cluster ?? null,
      secondaries: g?.secondaries ?? [],
      secondaryErrors: g?.secondaryErrors ?? 'swallow',
      compare: g?.compare ?? { policy: 'off' },
      director: this.directors.has(route.id),
      ...this.stats(route.id).toJSON(),
      sessions: clusters.map((c) => this.#pools.get(c)?.toJSON() ?? { cluster: c, sessions: 0, sessionsOpened: 0 }),
    };
  }

  close(): void {
    for (const p of this.#pools.values()) p.close();
    this.#pools.clear();
  }
}
