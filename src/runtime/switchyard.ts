import type { Registry } from 'prom-client';
import type { DivergencesConfig } from '../config/replication.js';
import type { ListenerConfig, RouteConfig, SwitchyardConfig } from '../config/types.js';
import type { Address } from '../core/address.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { LifecycleEvents, type RuntimeObject } from '../core/lifecycle.js';
import type { TrafficStats } from '../core/stats.js';
import type { FramerRegistry } from '../framing/registry.js';
import { createFramerRegistry } from '../framing/builtins.js';
import { Cluster, type ClusterInit } from '../upstream/cluster.js';
import { Route, RouteTable, routeListeners } from '../routing/director.js';
import { TcpListener, type StopOptions } from '../listeners/tcp.js';
import { UdpListenerObject } from '../listeners/udp-runtime.js';
import type { HandlerFactory } from '../pipeline/handler.js';
import { createMetricsRegistry, type LabelledHistogram } from './metrics.js';
import { FaultSet } from '../faults/fault-set.js';
import { matchKeysOf, WAMP_FAULT_KEYS } from '../config/catalogs.js';
import { routeShadowWarnings, routeTableIssues } from '../config/route-checks.js';
import { formatPath } from '../config/issues.js';
import type { FaultRegistry } from '../faults/registry.js';
import { RandomSource } from '../faults/random.js';
import type { ProtocolRegistry } from '../protocols/registry.js';
import { defaultChaosRegistries } from './config.js';
import { DivergenceLog } from '../replication/events.js';
import { buildRouteEngine, routeClusterRefs, type EngineDeps } from '../replication/wiring.js';
import type { FdBudget } from '../core/fd-budget.js';
import { GrpcListener, isGrpcListenerConfig } from '../grpc/listener.js';
import { GRPC_FAULT_MATCH_KEYS, GRPC_PROTOCOL, GRPC_ROUTING, grpcFaultProblems } from '../config/grpc-schema.js';
import { GrpcRuntime } from '../grpc/runtime.js';
import type { GrpcDirector } from '../grpc/director.js';
import { registerGrpcMetrics } from '../grpc/metrics.js';
import { WampRuntime } from '../wamp/runtime.js';
import { WAMP_PROTOCOL, WAMP_ROUTING, isWampListenerConfig } from '../config/wamp-schema.js';

/** What every listener run-time object offers, whatever its transport. */
export interface ProxyListener extends RuntimeObject<ListenerConfig> {
  readonly stats: TrafficStats;
  readonly address: Address | undefined;
  start(): Promise<void>;
  stop(options?: StopOptions): Promise<void>;
  observeLifecycle?(events: LifecycleEvents): void;
}

/** A config's sections besides its run-time objects. */
export type ConfigSections = Omit<SwitchyardConfig, 'listeners' | 'clusters' | 'routes'>;

export type ReloadResult = 'applied' | 'rejected' | 'failed';

/** Object ids per kind. */
export interface DeclaredIds {
  listeners: Set<string>;
  clusters: Set<string>;
  routes: Set<string>;
}

/** The ids of the objects a config declares. */
export function declaredIds(config: Pick<SwitchyardConfig, 'listeners' | 'clusters' | 'routes'>): DeclaredIds {
  const ids = (list: ReadonlyArray<{ id: string }>): Set<string> => new Set(list.map((o) => o.id));
  return { listeners: ids(config.listeners), clusters: ids(config.clusters), routes: ids(config.routes) };
}

export interface SwitchyardOptions {
  logger?: Logger;
  framers?: FramerRegistry;
  /** Handler factories applied to every TCP session (for embedding: custom frame handlers). */
  handlers?: readonly HandlerFactory[];
  /** Collect Node process metrics too (default true). */
  defaultMetrics?: boolean;
  /** Protocol modules (default: the built-in ones). */
  protocols?: ProtocolRegistry;
  /** Fault types (default: the built-in ones). */
  faults?: FaultRegistry;
  /** The file-descriptor budget listeners respect (default: the process's; tests pass a small one). */
  fdBudget?: FdBudget | undefined;
  /** Seed for every random draw of faults; overrides the config's `seed`. */
  seed?: number | undefined;
  /** gRPC directors by route id (docs/grpc.md); more can be set later on `yard.grpc.directors`. */
  grpcDirectors?: Readonly<Record<string, GrpcDirector>> | undefined;
}

/**
 * The proxy's run-time: clusters, routes and listeners as run-time objects (the Crossbar model) that can be
 * added, inspected and removed while traffic flows. Library users start one in-process; the CLI wraps it.
 */
export class Switchyard {
  readonly logger: Logger;
  readonly framers: FramerRegistry;
  readonly listeners = new Map<string, ProxyListener>();
  readonly clusters = new Map<string, Cluster>();
  readonly routes = new Map<string, Route>();
  readonly metrics: Registry;
  readonly #table = new RouteTable((id) => {
    const type = this.listeners.get(id)?.config.protocol?.type;
    const routing = type === undefined ? undefined : type === GRPC_PROTOCOL ? GRPC_ROUTING : type === WAMP_PROTOCOL ? WAMP_ROUTING : this.protocols.get(type)?.routing;
    return routing && { startupAttributes: routing.startupAttributes, maps: routing.maps };
  });
  readonly #handlers: readonly HandlerFactory[];
  readonly #fdBudget: FdBudget | undefined;
  readonly protocols: ProtocolRegistry;
  readonly faultTypes: FaultRegistry;
  /** Live faults per listener id (route faults join their listener's set). */
  readonly faultSets = new Map<string, FaultSet>();
  random: RandomSource;
  /** Divergence events of every replicate, merge and mirror route. */
  readonly divergences: DivergenceLog;
  /** State changes of the listeners, clusters, routes (and WAMP sessions): the `lifecycle` events of GET /api/v1/events. */
  readonly lifecycle = new LifecycleEvents();
  /** The config sections besides the objects (as started, then as reloaded): `GET /api/v1/config`, hot reload. */
  sections: ConfigSections = { log: { level: 'info' }, shutdown: { drainTimeout: 10_000 } };
  /** Ids of the objects the config declared (at start, then as reloaded): a reload removes only these. */
  declared: DeclaredIds = { listeners: new Set(), clusters: new Set(), routes: new Set() };
  /** Hot reloads by result (`switchyard_config_reloads_total`). */
  readonly reloads: Record<ReloadResult, number> = { applied: 0, rejected: 0, failed: 0 };
  /** gRPC routes' session pools, counters and directors. */
  readonly grpc: GrpcRuntime;
  /** WAMP listeners' live sessions and round-robin counters (docs/wamp.md). */
  readonly wamp: WampRuntime;

  constructor(options: SwitchyardOptions = {}) {
    this.logger = options.logger ?? silentLogger();
    this.framers = options.framers ?? createFramerRegistry();
    this.#handlers = options.handlers ?? [];
    this.#fdBudget = options.fdBudget;
    this.protocols = options.protocols ?? defaultChaosRegistries().protocols;
    this.faultTypes = options.faults ?? defaultChaosRegistries().faults;
    this.random = new RandomSource(options.seed);
    this.divergences = new DivergenceLog({ logger: this.logger });
    this.wamp = new WampRuntime(this.lifecycle);
    this.grpc = new GrpcRuntime(this.clusters, this.logger, options.grpcDirectors, this.divergences);
    const random = (): RandomSource => this.random;
    this.grpc.random = random;
    const source = <T extends { id: string; stats: TrafficStats; state: string }>(kind: string, map: Map<string, T>) => ({
      kind,
      entries: () => map.values(),
    });
    this.metrics = createMetricsRegistry(
      [source('listener', this.listeners), source('route', this.routes), source('cluster', this.clusters)],
      {
        defaultMetrics: options.defaultMetrics ?? true,
        udpFlows: () => [...this.listeners.values()].filter((l): l is UdpListenerObject => l instanceof UdpListenerObject),
        faults: () => this.faultSets.entries(),
        divergences: this.divergences,
        engines: () => this.routes.values(),
        routes: () => this.routes.values(),
        requests: () => this.#requestHistograms(),
        connections: () => this.#connectionHistograms(),
        reloads: () => Object.entries(this.reloads),
        clusters: () => this.clusters.values(),
      },
    );
    registerGrpcMetrics(this.metrics, this.grpc);
  }

  /** Build and start everything a validated config describes: clusters, then routes, then listeners. */
  static async start(config: SwitchyardConfig, options: SwitchyardOptions = {}): Promise<Switchyard> {
    const yard = new Switchyard(options);
    const { listeners: _l, clusters: _c, routes: _r, ...sections } = config;
    yard.sections = sections;
    yard.declared = declaredIds(config);
    if (options.seed === undefined && config.seed !== undefined) yard.random = new RandomSource(config.seed);
    if (config.divergences) yard.configureDivergences(config.divergences);
    for (const w of routeShadowWarnings(config.routes)) yard.logger.warn({ path: w.path }, `config: ${w.path}: ${w.message}`);
    try {
      for (const c of config.clusters) await yard.addCluster(c);
      for (const r of config.routes) await yard.addRoute(r);
      for (const l of config.listeners) await yard.addListener(l);
    } catch (err) {
      await yard.close({ drainTimeout: 0 });
      throw err;
    }
    return yard;
  }

  #publish(): void {
    this.#table.publish(this.routes.values(), this.clusters);
  }

  /** Request-duration series: one per route without an engine whose TCP listener speaks a protocol. */
  *#requestHistograms(): Iterable<LabelledHistogram> {
    for (const route of this.routes.values()) {
      if (route.engine !== undefined) continue;
      const listener = this.listeners.get(route.config.listener);
      const protocol = listener instanceof TcpListener ? listener.config.protocol?.type : undefined;
      if (protocol === undefined) continue;
      yield { labels: { listener: route.config.listener, route: route.id, protocol }, h: route.requestDuration };
    }
  }

  /** Connection-duration series: one per TCP listener. */
  *#connectionHistograms(): Iterable<LabelledHistogram> {
    for (const l of this.listeners.values()) if (l instanceof TcpListener) yield { labels: { listener: l.id }, h: l.connectionDuration };
  }

  /** Create and start a cluster (keys with defaults — retries, retryBackoff, retryOn, dnsRefresh — may be left out). */
  addCluster(config: ClusterInit): Promise<Cluster> {
    return settle(() => {
      if (this.clusters.has(config.id)) throw conflict('cluster', config.id);
      const cluster = new Cluster(config, { logger: this.logger, protocols: this.protocols });
      cluster.observeLifecycle(this.lifecycle);
      cluster.start();
      this.clusters.set(config.id, cluster);
      this.#publish();
      return cluster;
    });
  }

  removeCluster(id: string): Promise<Cluster> {
    return settle(() => {
      const cluster = this.clusters.get(id);
      if (!cluster) throw notFound('cluster', id);
      const users = [...this.routes.values()].filter((r) => routeClusterRefs(r.config).includes(id)).map((r) => r.id);
      if (users.length > 0) {
        throw new SwitchyardError(ErrorCodes.CONFLICT, `cluster '${id}' is used by route(s) ${users.join(', ')}; delete them first`);
      }
      cluster.stop();
      this.grpc.dropCluster(id);
      this.clusters.delete(id);
      this.#publish();
      return cluster;
    });
  }

  /** The routes of a listener, in evaluation order. */
  routesOf(listenerId: string): Route[] {
    return [...this.routes.values()].filter((r) => routeListeners(r.config).includes(listenerId));
  }

  /**
   * Add a route. `position`: its 0-based index among its listener's routes (evaluation order; default: last).
   * Checks the route against its listener's table as a config file would (match keys, actions, default, merge).
   */
  addRoute(config: RouteConfig, options: { position?: number | undefined } = {}): Promise<Route> {
    return settle(() => {
      if (this.routes.has(config.id)) throw conflict('route', config.id);
      for (const ref of routeClusterRefs(config)) {
        if (!this.clusters.has(ref)) throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `route '${config.id}': cluster '${ref}' does not exist`);
      }
      const position = options.position;
      const placed = this.#checkPlacement(config, position);
      const route = new Route(config);
      const extraJSON: typeof route.extraJSON = () => (isGrpcListenerConfig(this.listeners.get(route.config.listener)?.config) ? { grpc: this.grpc.routeJSON(route) } : {});
      route.extraJSON = extraJSON;
      // A grpc route's comparator is checked now (a bad descriptor set fails the route); on a grpc listener the TCP engines stay unused.
      if (config.grpc || isGrpcListenerConfig(this.listeners.get(config.listener)?.config)) this.grpc.prepare(route);
      buildRouteEngine(route, { clusters: this.clusters, log: this.divergences, logger: this.logger, random: this.random, protocols: this.protocols });
      if (config.faults) {
        const set = this.faultSet(config.listener);
        const added: string[] = [];
        try {
          for (const f of config.faults) added.push(set.add(f, `route:${config.id}`).name);
        } catch (err) {
          for (const n of added) set.remove(n);
          throw err;
        }
      }
      route.observeLifecycle(this.lifecycle);
      route.start();
      if (placed === undefined) this.routes.set(config.id, route);
      else {
        // Insert before the listener's route now at `position`: rebuild the map in the new order.
        const order = [...this.routes.values()];
        order.splice(order.indexOf(placed), 0, route);
        this.routes.clear();
        for (const r of order) this.routes.set(r.id, r);
      }
      this.#publish();
      return route;
    });
  }

  /**
   * A new route against its listener's table: throws SWY_BAD_REQUEST naming the field, or SWY_CONFLICT for a
   * listener held by a merge route. Returns the route it goes before (undefined: last).
   */
  #checkPlacement(config: RouteConfig, position: number | undefined): Route | undefined {
    const listenerIds = routeListeners(config);
    let before: Route | undefined;
    for (const l of listenerIds) {
      const mine = this.routesOf(l);
      const merge = mine.find((r) => r.config.merge !== undefined);
      if (merge || (config.merge && mine.length > 0)) {
        throw new SwitchyardError(ErrorCodes.CONFLICT, `listener '${l}' already has route '${(merge ?? mine[0])!.id}' (a merge route takes all of its listener's connections: no other route beside it)`);
      }
      if (position !== undefined && (position > mine.length || position < 0)) {
        throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `position: expected 0..${mine.length} (listener '${l}' has ${mine.length} route(s)), got ${position}`, { details: { field: 'position' } });
      }
      const at = position ?? mine.length;
      const listener = this.listeners.get(l);
      if (listener) {
        const table = [...mine.map((r) => r.config)];
        table.splice(at, 0, config);
        // The table was valid before: the new route's own issues, and conflicts it makes (two defaults, udp, merge).
        const issues = routeTableIssues([listener.config], table, this.protocols).filter((i) => i.segments[1] === at || i.code === 'duplicate');
        if (issues.length > 0) {
          const named = (m: string): string => m.replace(/routes\[(\d+)\]/g, (_x, n: string) => `route '${table[Number(n)]?.id ?? n}'`);
          const text = issues.map((i) => `${formatPath(i.segments.slice(2))}: ${named(i.message)}`).join('; ');
          throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `route '${config.id}': ${text}`, { details: { issues: issues.map((i) => ({ ...i, path: formatPath(i.segments.slice(2)), segments: i.segments.slice(2) })) } });
        }
        for (const w of routeShadowWarnings(table)) {
          if (w.segments[1] === at) this.logger.warn({ route: config.id, listener: l }, w.message.replace(/routes\[\d+\]/g, 'an earlier route'));
        }
      }
      if (listenerIds.length === 1 && at < mine.length) before = mine[at];
    }
    return before;
  }

  removeRoute(id: string): Promise<Route> {
    return settle(() => {
      const route = this.routes.get(id);
      if (!route) throw notFound('route', id);
      route.stop();
      this.faultSets.get(route.config.listener)?.clear(`route:${id}`);
      this.grpc.dropRoute(id);
      this.routes.delete(id);
      this.#publish();
      return route;
    });
  }

  async addListener(config: ListenerConfig): Promise<ProxyListener> {
    // The WAMP proxy (WebSocket server, serializers: ~1 MiB of heap, ~7 MiB of RSS) is loaded by its first listener.
    // Before the checks below, which then run in the same tick as the listener is registered.
    const wampModule = isWampListenerConfig(config) ? await import('../wamp/listener.js') : undefined;
    if (this.listeners.has(config.id)) throw conflict('listener', config.id);
    const deps = { director: this.#table, framers: this.framers, logger: this.logger, handlers: this.#handlers };
    let listener: ProxyListener;
    if (config.transport === 'udp') listener = new UdpListenerObject(config, deps);
    else if (isGrpcListenerConfig(config)) {
      const faults = this.faultSet(config.id);
      faults.matchKeys = { keys: GRPC_FAULT_MATCH_KEYS, text: `a grpc listener's calls report: ${GRPC_FAULT_MATCH_KEYS.join(', ')}` };
      const listenerProblems: typeof faults.listenerProblems = (f, origin) => grpcFaultProblems(f, this.faultTypes, origin?.startsWith('route:') ? 'route' : 'listener').map((p) => ({ path: p.path.join('.'), message: p.message, reason: p.path[0] === 'match' ? 'invalid_match' : p.path[0] === 'attributes' ? 'invalid_attributes' : p.path[0] === 'scope' ? 'invalid_scope' : 'invalid_type' }));
      faults.listenerProblems = listenerProblems;
      faults.clear('listener');
      for (const f of config.faults ?? []) faults.add(f, 'listener');
      listener = new GrpcListener(config, { director: this.#table, grpc: this.grpc, logger: this.logger, faults, random: () => this.random });
    } else if (wampModule !== undefined) {
      const faults = this.faultSet(config.id);
      faults.matchKeys = { keys: WAMP_FAULT_KEYS, text: `a wamp listener's messages report: ${WAMP_FAULT_KEYS.join(', ')}` };
      faults.clear('listener');
      for (const f of config.faults ?? []) faults.add(f, 'listener');
      listener = new wampModule.WampListener(config, { director: this.#table, wamp: this.wamp, logger: this.logger, faults });
    } else {
      const faults = this.faultSet(config.id);
      faults.matchKeys = matchKeysOf(this.protocols, config.protocol?.type);
      faults.clear('listener');
      for (const f of config.faults ?? []) faults.add(f, 'listener');
      listener = new TcpListener(config, { ...deps, faults, random: this.random, protocols: this.protocols, fdBudget: this.#fdBudget });
    }
    listener.observeLifecycle?.(this.lifecycle);
    this.listeners.set(config.id, listener);
    // The listener's protocol decides how its routes are compiled and scoped.
    this.#publish();
    try {
      await listener.start();
    } catch (err) {
      this.listeners.delete(config.id);
      this.#publish();
      throw err;
    }
    return listener;
  }

  /** Ring size and JSONL file of the divergence events. */
  configureDivergences(config: DivergencesConfig): void {
    this.divergences.resize(config.capacity);
    if (config.file) this.divergences.openFile(config.file);
  }

  /** The live fault set of a listener id (created on first use; route faults may arrive before the listener). */
  faultSet(listenerId: string): FaultSet {
    let set = this.faultSets.get(listenerId);
    if (!set) {
      set = new FaultSet(this.faultTypes);
      this.faultSets.set(listenerId, set);
    }
    return set;
  }

  async removeListener(id: string, options: StopOptions = {}): Promise<ProxyListener> {
    const listener = this.listeners.get(id);
    if (!listener) throw notFound('listener', id);
    await listener.stop(options);
    this.faultSets.get(id)?.clear('listener');
    // Only forget it if the map still holds this very listener (a concurrent DELETE + POST may have replaced it).
    if (this.listeners.get(id) === listener) {
      this.listeners.delete(id);
      this.#publish();
    }
    return listener;
  }

  /** Listeners a hot reload took out that are still draining (close() waits for them too). */
  readonly #draining = new Set<ProxyListener>();

  /**
   * Hot reload (runtime/reload-objects.ts): stop a listener already taken out of `listeners`, letting its
   * connections finish for `drainTimeout` ms; close() waits for it too.
   */
  drainDetached(listener: ProxyListener, drainTimeout: number): Promise<void> {
    this.#draining.add(listener);
    return listener.stop({ drainTimeout }).finally(() => this.#draining.delete(listener));
  }

  /** Hot reload: rebuild the route table after the `clusters`/`routes` maps were changed in place. */
  publish(): void {
    this.#publish();
  }

  /** What builds a route's engine (replicate, merge, mirror) from its config. */
  engineDeps(): EngineDeps {
    return { clusters: this.clusters, log: this.divergences, logger: this.logger, random: this.random, protocols: this.protocols };
  }

  /** Graceful shutdown: stop accepting everywhere, drain up to drainTimeout ms, close the rest. */
  async close(options: StopOptions = {}): Promise<void> {
    await Promise.all([...this.listeners.values(), ...this.#draining].map((l) => l.stop(options)));
    this.listeners.clear();
    for (const r of this.routes.values()) r.stop();
    for (const c of this.clusters.values()) c.stop();
    this.routes.clear();
    this.clusters.clear();
    this.grpc.close();
    this.wamp.close();
    this.#publish();
    this.divergences.close();
    this.lifecycle.close();
  }
}

function conflict(kind: string, id: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.CONFLICT, `${kind} '${id}' already exists`);
}

function notFound(kind: string, id: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.NOT_FOUND, `${kind} '${id}' not found`);
}

/** Run a synchronous body as a promise: its result resolves it, what it throws rejects it (as an async method would). */
function settle<T>(body: () => T): Promise<T> {
  return new Promise((resolve) => resolve(body()));
}
