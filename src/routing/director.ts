import type { RouteConfig } from '../config/types.js';
import type { Cluster } from '../upstream/cluster.js';
import { RuntimeBase } from '../core/lifecycle.js';
import { LatencyHistogram } from '../core/latency.js';
import type { HandlerFactory } from '../pipeline/handler.js';
import type { EngineLatency, RouteEngine } from './engine.js';

/** Counters of a mirror route. */
export interface MirrorStats {
  mirrored: number;
  dropped: number;
  sampledOut: number;
}

/** A route: listener → cluster (or → an engine: N variants, a merge group). */
export class Route extends RuntimeBase<RouteConfig> {
  readonly kind = 'route' as const;
  /** Set for replicate and merge routes. */
  engine: RouteEngine | undefined;
  /** Extra per-session handlers of this route (mirror). */
  handlers: readonly HandlerFactory[] = [];
  mirrorStats: MirrorStats | undefined;
  /** Latency histograms of the route's variants / backend / shadow. */
  extraLatencies: EngineLatency[] = [];
  /** Request durations of the route's sessions when its listener speaks a protocol (`switchyard_request_duration_seconds`). */
  readonly requestDuration = new LatencyHistogram();
  /** Extra fields of the admin view, given by the layer that serves the route (gRPC: primary, secondaries, counters). */
  extraJSON: (() => Record<string, unknown>) | undefined;

  latencies(): Iterable<EngineLatency> {
    const fromEngine = this.engine?.latencies?.() ?? [];
    return this.extraLatencies.length === 0 ? fromEngine : [...fromEngine, ...this.extraLatencies];
  }

  start(): void {
    this.life.starting();
    this.life.started();
  }
  stop(): void {
    this.life.stopping();
    this.engine?.close?.();
    this.life.stopped();
  }

  override toJSON(): Record<string, unknown> {
    const extra = this.extraJSON?.() ?? {};
    return this.engine ? this.json({ ...extra, engine: this.engine.toJSON() }) : this.json(extra);
  }
}

export interface Destination {
  route: Route;
  /** The destination cluster (absent on replicate routes). */
  cluster: Cluster | undefined;
  engine?: RouteEngine | undefined;
}

/** Listeners a route takes connections from (merge routes have one per variant). */
export function routeListeners(config: RouteConfig): readonly string[] {
  return config.merge ? config.merge.listeners : [config.listener];
}

/** Resolves where a new session goes. Reads an immutable snapshot that the control plane swaps whole. */
export interface Director {
  resolve(listenerId: string): Destination | undefined;
}

/** The route table: an immutable map listener id → destination, replaced (never mutated) on every change. */
export class RouteTable implements Director {
  #snapshot: ReadonlyMap<string, Destination> = new Map();

  resolve(listenerId: string): Destination | undefined {
    return this.#snapshot.get(listenerId);
  }

  /** Rebuild from the started routes and clusters. */
  publish(routes: Iterable<Route>, clusters: ReadonlyMap<string, Cluster>): void {
    const next = new Map<string, Destination>();
    for (const route of routes) {
      if (route.state !== 'started') continue;
      const cluster = route.config.cluster === undefined ? undefined : clusters.get(route.config.cluster);
      if (route.config.cluster !== undefined && (!cluster || cluster.state !== 'started')) continue;
      for (const l of routeListeners(route.config)) next.set(l, { route, cluster, engine: route.engine });
    }
    this.#snapshot = next;
  }
}
