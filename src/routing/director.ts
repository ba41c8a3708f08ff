import type { RouteConfig } from '../config/types.js';
import type { Cluster } from '../upstream/cluster.js';
import { RuntimeBase } from '../core/lifecycle.js';
import { LatencyHistogram } from '../core/latency.js';
import type { HandlerFactory } from '../pipeline/handler.js';
import type { EngineLatency, RouteEngine } from './engine.js';
import type { Attributes } from '../protocols/protocol.js';
import { CONNECTION_KEYS, flattenRouteMatch, routeMatchKeys, scopeOf, type RoutingScope } from '../config/route-match.js';
import { compileRouteMatch } from './route-match.js';

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
  /**
   * Route decisions that picked this route (`switchyard_route_requests_total`): connections for fixed, connection and
   * startup scopes, requests for request scope. Whoever decides adds one.
   */
  requests = 0;
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
    const extra = { requests: this.requests, ...this.extraJSON?.() };
    return this.engine ? this.json({ ...extra, engine: this.engine.toJSON() }) : this.json(extra);
  }
}

export interface Destination {
  route: Route;
  /** The destination cluster (absent on replicate routes and on routes that answer themselves: redirect, directResponse). */
  cluster: Cluster | undefined;
  engine?: RouteEngine | undefined;
}

/** One route of a listener's table, as the listener and the request router see it. */
export interface RouteChoice {
  readonly route: Route;
  /** undefined for redirect/directResponse (and replicate) routes. */
  readonly cluster: Cluster | undefined;
  readonly engine?: RouteEngine | undefined;
  /** The route's match; always true when the route has none. */
  readonly matches: (attrs: Attributes | undefined) => boolean;
  readonly isDefault: boolean;
}

export type { RoutingScope };

/** A listener's routes in evaluation order, and where its route is decided. */
export interface ListenerRouting {
  readonly listenerId: string;
  /** Evaluation order (config order; `position` for POST /routes). */
  readonly choices: readonly RouteChoice[];
  /**
   * fixed: the first route matches everything (today's path, no cost). connection: decided at accept (sni, alpn,
   * sourceAddress, destinationPort). startup: PostgreSQL startup read, routed, replayed. request: HTTP per request /
   * Redis per command.
   */
  readonly scope: RoutingScope;
  /** The first route whose match holds, or undefined (no route: the protocol's own answer). */
  select(attrs: Attributes | undefined): RouteChoice | undefined;
  /** The `default: true` route, else the first route. */
  readonly fallback: RouteChoice | undefined;
  /**
   * The map-form attributes the routes match (`header.x-canary`, `query.v`; empty: none): the request router asks
   * the protocol module's `requestAttributes(startFrame, mapKeys)` for them and merges them into the request's.
   */
  readonly mapKeys: readonly string[];
}

/** The route rewrites or answers requests itself (rewrite, redirect, directResponse): its listener routes per request. */
export function actsOnRequests(config: RouteConfig): boolean {
  return config.rewrite !== undefined || config.redirect !== undefined || config.directResponse !== undefined;
}

/** Listeners a route takes connections from (merge routes have one per variant). */
export function routeListeners(config: RouteConfig): readonly string[] {
  return config.merge ? config.merge.listeners : [config.listener];
}

/** Resolves where a new session goes. Reads an immutable snapshot that the control plane swaps whole. */
export interface Director {
  /** The listener's first route (back-compat: UDP, engines, fault reach). */
  resolve(listenerId: string): Destination | undefined;
  /** The listener's route table (undefined: no route). */
  routing(listenerId: string): ListenerRouting | undefined;
}

/** What the route table needs to know of a listener's protocol to compile and scope its routes. */
export interface ListenerRoutingFacts {
  /** Attributes of the protocol's startup (PostgreSQL: database, user, application_name). */
  readonly startupAttributes?: readonly string[] | undefined;
  /** Map forms of `match` (HTTP: headers → header, query → query). */
  readonly maps?: Readonly<Record<string, string>> | undefined;
}

class Table implements ListenerRouting {
  readonly fallback: RouteChoice | undefined;
  readonly scope: RoutingScope;
  readonly mapKeys: readonly string[];
  constructor(
    readonly listenerId: string,
    readonly choices: readonly RouteChoice[],
    facts: ListenerRoutingFacts | undefined,
  ) {
    this.fallback = choices.find((c) => c.isDefault) ?? choices[0];
    const maps = facts?.maps ?? {};
    const keys = new Set<string>();
    for (const c of choices) {
      const spec = c.route.config.match;
      if (spec === undefined) continue;
      for (const k of routeMatchKeys(flattenRouteMatch(spec, maps))) if (Object.values(maps).some((prefix) => k.key.startsWith(`${prefix}.`))) keys.add(k.key);
    }
    this.mapKeys = [...keys];
    const startup = facts?.startupAttributes ?? [];
    this.scope = scopeOf(
      choices.map((c) => c.route.config.match),
      (key, map) => (map === undefined && CONNECTION_KEYS.includes(key) ? 'connection' : map === undefined && startup.includes(key) ? 'startup' : 'request'),
      choices.some((c) => actsOnRequests(c.route.config)),
    );
  }

  select(attrs: Attributes | undefined): RouteChoice | undefined {
    for (const c of this.choices) if (c.matches(attrs)) return c;
    return undefined;
  }
}

/**
 * The route table: an immutable map listener id → its routes in evaluation order, replaced (never mutated) on
 * every change. `facts` tells a listener's protocol's startup attributes and map forms (given by the runtime).
 */
export class RouteTable implements Director {
  #snapshot: ReadonlyMap<string, Table> = new Map();
  readonly #facts: (listenerId: string) => ListenerRoutingFacts | undefined;

  constructor(facts: (listenerId: string) => ListenerRoutingFacts | undefined = () => undefined) {
    this.#facts = facts;
  }

  resolve(listenerId: string): Destination | undefined {
    return this.#snapshot.get(listenerId)?.choices[0];
  }

  routing(listenerId: string): ListenerRouting | undefined {
    return this.#snapshot.get(listenerId);
  }

  /** Rebuild from the started routes (in evaluation order) and clusters. */
  publish(routes: Iterable<Route>, clusters: ReadonlyMap<string, Cluster>): void {
    const by = new Map<string, RouteChoice[]>();
    for (const route of routes) {
      if (route.state !== 'started') continue;
      const cluster = route.config.cluster === undefined ? undefined : clusters.get(route.config.cluster);
      if (route.config.cluster !== undefined && (!cluster || cluster.state !== 'started')) continue;
      for (const l of routeListeners(route.config)) {
        const matches = compileRouteMatch(route.config.match, this.#facts(l)?.maps);
        let list = by.get(l);
        if (!list) by.set(l, (list = []));
        list.push({ route, cluster, engine: route.engine, matches, isDefault: route.config.default === true });
      }
    }
    const next = new Map<string, Table>();
    for (const [l, choices] of by) next.set(l, new Table(l, choices, this.#facts(l)));
    this.#snapshot = next;
  }
}
