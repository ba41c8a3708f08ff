import type { RouteConfig } from '../control/config-types.js';
import type { Cluster } from '../upstream/cluster.js';
import { RuntimeBase } from '../core/lifecycle.js';

/** A route: listener → cluster (attribute matching arrives with the protocol modules). */
export class Route extends RuntimeBase<RouteConfig> {
  readonly kind = 'route' as const;

  start(): void {
    this.life.starting();
    this.life.started();
  }
  stop(): void {
    this.life.stopping();
    this.life.stopped();
  }
}

export interface Destination {
  route: Route;
  cluster: Cluster;
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
      const cluster = clusters.get(route.config.cluster);
      if (cluster && cluster.state === 'started') next.set(route.config.listener, { route, cluster });
    }
    this.#snapshot = next;
  }
}
