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
import { FramePool } from './frames/pool.js';
import { GrpcRouteStats } from './route-stats.js';
import type { DivergenceLog } from '../replication/events.js';
import type { Comparator } from '../compare/comparator.js';
import { buildGrpcComparator } from '../compare/grpc-comparator.js';
import type { GrpcVoteSetup } from './vote.js';
import type { GrpcMirrorSetup } from './call.js';
import { RandomSource, type Random } from '../faults/random.js';

/** Default bytes that may wait toward one secondary. */
export const DEFAULT_SECONDARY_QUEUE = 4 * 1024 * 1024;

export class GrpcRuntime {
  readonly #pools = new Map<string, H2Pool>();
  /** The frame engine's connections per cluster (frames/pool.ts). */
  readonly #framePools = new Map<string, FramePool>();
  readonly #stats = new Map<string, GrpcRouteStats>();
  /** Directors by route id (set before or after the route exists; read at each call). */
  readonly directors = new Map<string, GrpcDirector>();
  readonly #clusters: ReadonlyMap<string, Cluster>;
  readonly logger: Logger;

  readonly #divergences: DivergenceLog | undefined;

  /** The run's random source (mirror sampling); set by the Switchyard. */
  random: () => RandomSource = () => new RandomSource();

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

  /** The frame engine's connection pool of a cluster id (replaced when the cluster object was replaced). */
  framePool(clusterId: string): FramePool | undefined {
    const cluster = this.#clusters.get(clusterId);
    if (!cluster || cluster.state !== 'started') return undefined;
    let pool = this.#framePools.get(clusterId);
    if (pool?.cluster !== cluster) {
      pool?.close();
      pool = new FramePool(cluster);
      this.#framePools.set(clusterId, pool);
    }
    return pool;
  }

  /** Forget a cluster's pools (their sessions are closed). */
  dropCluster(clusterId: string): void {
    this.#pools.get(clusterId)?.close();
    this.#pools.delete(clusterId);
    this.#framePools.get(clusterId)?.close();
    this.#framePools.delete(clusterId);
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

  /** The last setup built per route, with what it was built from (reused while none of that changed). */
  readonly #setups = new WeakMap<Route, { config: Route['config']; director: GrpcDirector | undefined; stats: GrpcRouteStats | undefined; traffic: GrpcRouteSetup['traffic']; setup: GrpcRouteSetup }>();

  /**
   * What a call on this route needs: built once per route and reused by its calls while the route's config, its
   * director, its counters and `traffic`'s counters are the same objects (the per-call path allocates nothing here).
   */
  setup(route: Route, traffic: GrpcRouteSetup['traffic']): GrpcRouteSetup {
    const director = this.directors.get(route.id);
    const c = this.#setups.get(route);
    if (c && c.config === route.config && c.director === director && c.stats === this.#stats.get(route.id) && sameItems(c.traffic, traffic)) return c.setup;
    const setup = this.#build(route, traffic);
    this.#setups.set(route, { config: route.config, director, stats: setup.stats, traffic: [...traffic], setup });
    return setup;
  }

  #build(route: Route, traffic: GrpcRouteSetup['traffic']): GrpcRouteSetup {
    const g: GrpcRouteConfig | undefined = route.config.grpc;
    const stats = this.stats(route.id);
    if (stats.onNewDestination === undefined) {
      const onNewDestination: NonNullable<GrpcRouteStats['onNewDestination']> = (variant, histogram) => route.extraLatencies.push({ variant, histogram });
      stats.onNewDestination = onNewDestination;
    }
    const rep = route.config.replicate;
    if (rep) {
      // replicate on a grpc listener: variants[0] is the primary, the rest secondaries; the policy votes.
      return {
        routeId: route.id,
        primary: rep.variants[0] ?? '',
        secondaries: rep.variants.slice(1),
        secondaryErrors: 'swallow',
        mutators: undefined,
        secondaryQueue: DEFAULT_SECONDARY_QUEUE,
        director: this.directors.get(route.id),
        stats,
        traffic,
        report: undefined,
        vote: this.#replicateVote(route),
        variantTimeout: rep.timeout,
      };
    }
    const m = route.config.mirror;
    return {
      routeId: route.id,
      primary: route.config.cluster ?? '',
      secondaries: g?.secondaries ?? [],
      secondaryErrors: g?.secondaryErrors ?? 'swallow',
      mirror: m ? this.#mirror(route) : undefined,
      mutators: g?.mutators === undefined ? undefined : this.#regex(g.mutators),
      secondaryQueue: g?.secondaryQueue ?? DEFAULT_SECONDARY_QUEUE,
      director: this.directors.get(route.id),
      stats,
      traffic,
      report: this.#report(route),
      vote: this.#vote(route),
    };
  }

  readonly #comparators = new WeakMap<GrpcRouteConfig, Comparator>();

  /**
   * The comparator of a route with a voting policy (built once per route config: a bad mask or descriptor set
   * throws CONFIG_INVALID naming it, so a route is checked when it is added).
   */
  prepare(route: Route): void {
    const rep = route.config.replicate ?? route.config.mirror;
    if (rep) {
      const key = rep as object;
      if (this.#normalised.has(key)) return;
      const n = rep.normalise;
      this.#normalised.set(key, buildGrpcComparator({ masks: n.masks, regex: n.regex, ignoreHeaders: n.ignoreHeaders, compareHeaders: n.compareHeaders, maxMessageSize: rep.maxMessageSize }, `route '${route.id}': ${route.config.replicate ? 'replicate' : 'mirror'}.normalise`));
      return;
    }
    const g = route.config.grpc;
    if (!g || g.compare.policy === 'off') return;
    if (this.#comparators.has(g)) return;
    const c = g.compare;
    const what = `route '${route.id}': grpc.compare`;
    this.#comparators.set(g, buildGrpcComparator({ masks: c.masks, regex: c.regex, ignoreHeaders: c.ignoreHeaders, compareHeaders: c.compareHeaders, descriptorSet: c.descriptorSet, maxMessageSize: c.maxMessageSize }, what));
  }

  readonly #normalised = new WeakMap<object, Comparator>();
  readonly #mirrorRandom = new WeakMap<object, Random>();

  #replicateVote(route: Route): GrpcVoteSetup | undefined {
    const rep = route.config.replicate!;
    if (!this.#divergences) return undefined;
    this.prepare(route);
    return { policy: rep.policy, comparator: this.#normalised.get(rep)!, blockStatus: 'INTERNAL', holdLimit: rep.maxMessageSize, log: this.#divergences, mode: 'replicate' };
  }

  #mirror(route: Route): GrpcMirrorSetup {
    const m = route.config.mirror!;
    this.prepare(route);
    let rng = this.#mirrorRandom.get(m);
    if (!rng) this.#mirrorRandom.set(m, (rng = this.random().stream(`mirror:${route.id}`)));
    const r = rng;
    return {
      cluster: m.cluster,
      sample: () => m.fraction >= 1 || (m.fraction > 0 && r.next() < m.fraction),
      queueSize: m.queueSize,
      timeout: m.timeout,
      compare: m.compare && this.#divergences ? { policy: 'primary', comparator: this.#normalised.get(m)!, blockStatus: 'INTERNAL', holdLimit: m.maxMessageSize, log: this.#divergences, mode: 'mirror' } : undefined,
    };
  }

  #report(route: Route): GrpcRouteSetup['report'] {
    const g = route.config.grpc;
    if (!g || !this.#divergences || g.compare.policy !== 'report') return undefined;
    this.prepare(route);
    return { comparator: this.#comparators.get(g)!, log: this.#divergences, holdLimit: g.compare.holdLimit };
  }

  #vote(route: Route): GrpcVoteSetup | undefined {
    const g = route.config.grpc;
    const policy = g?.compare.policy;
    if (!g || !this.#divergences || (policy !== 'majority' && policy !== 'unanimous' && policy !== 'weighted')) return undefined;
    this.prepare(route);
    return { policy, comparator: this.#comparators.get(g)!, blockStatus: g.compare.blockStatus, holdLimit: g.compare.holdLimit, log: this.#divergences, mode: 'grpc' };
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
    const rep = route.config.replicate;
    const primary = rep ? rep.variants[0] : route.config.cluster;
    const secondaries = rep ? rep.variants.slice(1) : (g?.secondaries ?? []);
    const clusters = [primary ?? '', ...secondaries, ...(route.config.mirror ? [route.config.mirror.cluster] : [])];
    return {
      primary: primary ?? null,
      secondaries,
      ...(route.config.mirror ? { mirror: route.config.mirror.cluster } : {}),
      secondaryErrors: g?.secondaryErrors ?? 'swallow',
      compare: g?.compare ?? { policy: 'off' },
      director: this.directors.has(route.id),
      ...this.stats(route.id).toJSON(),
      sessions: clusters.map((c) => this.#sessionsJSON(c)),
    };
  }

  /** A cluster's upstream sessions, both engines' together (`frames` of them on the frame engine). */
  #sessionsJSON(cluster: string): Record<string, unknown> {
    const h = this.#pools.get(cluster);
    const f = this.#framePools.get(cluster);
    return {
      cluster,
      sessions: (h?.sessions ?? 0) + (f?.sessions ?? 0),
      sessionsOpened: (h?.sessionsOpened ?? 0) + (f?.sessionsOpened ?? 0),
      ...(f ? { frames: { sessions: f.sessions, sessionsOpened: f.sessionsOpened } } : {}),
    };
  }

  close(): void {
    for (const p of this.#pools.values()) p.close();
    this.#pools.clear();
    for (const p of this.#framePools.values()) p.close();
    this.#framePools.clear();
  }
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
