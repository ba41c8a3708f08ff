/**
 * The hot-reload operations on a running Switchyard's objects: replace a cluster or a route under the same id (and
 * at the same place in the order), take one out without stopping it (what holds it finishes first), reorder the
 * routes, update a listener in place, replace or drain a listener. reload.ts calls them in the plan's order.
 */
import type { ClusterConfig, ListenerConfig, RouteConfig } from '../config/types.js';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { TcpListener } from '../listeners/tcp.js';
import { GrpcListener } from '../grpc/listener.js';
import { Route } from '../routing/director.js';
import { buildRouteEngine, routeClusterRefs } from '../replication/wiring.js';
import { Cluster } from '../upstream/cluster.js';
import type { Switchyard } from './switchyard.js';

function notFound(kind: string, id: string): SwitchyardError {
  return new SwitchyardError(ErrorCodes.NOT_FOUND, `${kind} '${id}' not found`);
}

/**
 * A changed cluster replaces the old one under the same id (new connections use it); the old one is returned for
 * the caller to stop once the connections that hold it have had their time.
 */
export function replaceCluster(yard: Switchyard, config: ClusterConfig): Cluster {
  const old = yard.clusters.get(config.id);
  if (!old) throw notFound('cluster', config.id);
  const cluster = new Cluster(config, { logger: yard.logger, protocols: yard.protocols });
  cluster.observeLifecycle(yard.lifecycle);
  cluster.start();
  yard.clusters.set(config.id, cluster);
  yard.publish();
  return old;
}

/**
 * A changed route replaces the old one at the same place in the order (new connections and requests use it); the
 * old one is returned for the caller to stop once its sessions have had their time.
 */
export function replaceRoute(yard: Switchyard, config: RouteConfig): Route {
  const old = yard.routes.get(config.id);
  if (!old) throw notFound('route', config.id);
  for (const ref of routeClusterRefs(config)) {
    if (!yard.clusters.has(ref)) throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `route '${config.id}': cluster '${ref}' does not exist`);
  }
  const route = new Route(config);
  buildRouteEngine(route, yard.engineDeps());
  const owner = `route:${config.id}`;
  yard.faultSets.get(old.config.listener)?.clear(owner);
  if (config.faults) {
    const set = yard.faultSet(config.listener);
    for (const f of config.faults) set.add(f, owner);
  }
  route.observeLifecycle(yard.lifecycle);
  route.start();
  yard.routes.set(config.id, route);
  yard.publish();
  return old;
}

/** Take a route out of the table without stopping it (its live sessions finish; the caller stops it later). */
export function detachRoute(yard: Switchyard, id: string): Route {
  const route = yard.routes.get(id);
  if (!route) throw notFound('route', id);
  yard.faultSets.get(route.config.listener)?.clear(`route:${id}`);
  yard.routes.delete(id);
  yard.publish();
  return route;
}

/** Take an unused cluster out without stopping it (connections that hold it finish; the caller stops it later). */
export function detachCluster(yard: Switchyard, id: string): Cluster {
  const cluster = yard.clusters.get(id);
  if (!cluster) throw notFound('cluster', id);
  const users = [...yard.routes.values()].filter((r) => routeClusterRefs(r.config).includes(id)).map((r) => r.id);
  if (users.length > 0) throw new SwitchyardError(ErrorCodes.CONFLICT, `cluster '${id}' is used by route(s) ${users.join(', ')}`);
  yard.clusters.delete(id);
  yard.publish();
  return cluster;
}

/** Routes in this order (the order they are evaluated in per listener); ids not listed keep theirs, after. */
export function orderRoutes(yard: Switchyard, ids: readonly string[]): void {
  const listed = new Set(ids);
  const entries = [...ids.filter((id) => yard.routes.has(id)).map((id) => [id, yard.routes.get(id)!] as const), ...[...yard.routes].filter(([id]) => !listed.has(id))];
  yard.routes.clear();
  for (const [id, r] of entries) yard.routes.set(id, r);
  yard.publish();
}

/** In place: a TCP listener's new connections take `config` (see TcpListener.reconfigure; a grpc listener: its traffic tail); the file's faults are replaced. */
export function reconfigureListener(yard: Switchyard, config: ListenerConfig): void {
  const listener = yard.listeners.get(config.id);
  if (!(listener instanceof TcpListener) && !(listener instanceof GrpcListener)) throw notFound('TCP listener', config.id);
  const set = yard.faultSet(config.id);
  set.clear('listener');
  for (const f of config.faults ?? []) set.add(f, 'listener');
  listener.reconfigure(config);
}

/**
 * Take a listener out at once (it stops accepting) and let its connections drain for `drainTimeout` ms in the
 * background; the promise settles when it has stopped.
 */
export function detachListener(yard: Switchyard, id: string, drainTimeout: number): Promise<void> {
  const listener = yard.listeners.get(id);
  if (!listener) throw notFound('listener', id);
  yard.listeners.delete(id);
  return yard.drainDetached(listener, drainTimeout).then(() => {
    if (!yard.listeners.has(id)) yard.faultSets.get(id)?.clear('listener');
  });
}

/**
 * Replace a listener by a new one with `config`. On the same address the old one stops accepting first (its
 * listening socket is closed synchronously, so the address is free at once); on another the new one listens first.
 * The old one drains its connections for `drainTimeout` ms: `drained` settles when it has stopped.
 */
export async function replaceListener(yard: Switchyard, config: ListenerConfig, drainTimeout: number): Promise<{ drained: Promise<void> }> {
  const old = yard.listeners.get(config.id);
  if (!old) throw notFound('listener', config.id);
  const sameAddress = old.address !== undefined && JSON.stringify(old.config.listen) === JSON.stringify(config.listen);
  if (sameAddress) {
    yard.listeners.delete(config.id);
    const drained = yard.drainDetached(old, drainTimeout);
    try {
      await yard.addListener(config);
    } catch (err) {
      // Serve the old config again on a new listener object (the old one is draining).
      await yard.addListener(old.config).catch((again: unknown) => yard.logger.error({ listener: config.id, err: again }, 'listener could not listen again with its old config'));
      throw err;
    }
    return { drained };
  }
  yard.listeners.delete(config.id);
  try {
    await yard.addListener(config);
  } catch (err) {
    yard.listeners.set(config.id, old);
    throw err;
  }
  return { drained: yard.drainDetached(old, drainTimeout) };
}
