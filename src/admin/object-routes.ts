/**
 * The run-time objects of the native admin API, and the health and metrics endpoints:
 *   GET  /healthz                               200 `ok` or 503 `degraded` (some listener failed)
 *   GET  /metrics                               Prometheus text
 *   GET  /api/v1/{listeners,clusters,routes}    the list (routes: ?listener=ID for one listener's, in evaluation order)
 *   POST /api/v1/{listeners,clusters,routes}    create and start one (201; routes: `position` in the body)
 *   GET  /api/v1/{kind}/:id                     one object
 *   DELETE /api/v1/{kind}/:id[?drain=DURATION]  stop and remove it (listeners drain their connections)
 */
import { ErrorCodes } from '../core/errors.js';
import { parseDuration } from '../core/units.js';
import type { Switchyard } from '../runtime/switchyard.js';
import { parseObjectConfig } from '../runtime/config.js';
import type { Handler } from '../http-kit/api-server.js';
import type { RequestContext } from '../http-kit/context.js';
import { HttpError } from '../http-kit/http-error.js';
import type { RouteEntry } from '../http-kit/route-table.js';

export type Kind = 'listeners' | 'clusters' | 'routes';

interface RunTimeObject {
  readonly id: string;
  toJSON(): Record<string, unknown>;
}

export function health(yard: Switchyard, ctx: RequestContext): void {
  const listeners = [...yard.listeners.values()];
  const failed = listeners.filter((l) => l.state === 'failed').map((l) => l.id);
  ctx.send(failed.length === 0 ? 200 : 503, { status: failed.length === 0 ? 'ok' : 'degraded', listeners: listeners.length, failed });
}

export async function metrics(yard: Switchyard, ctx: RequestContext): Promise<void> {
  ctx.sendText(200, await yard.metrics.metrics(), yard.metrics.contentType);
}

/** The four routes of one kind of object. */
export function objectRoutes(yard: Switchyard, kind: Kind): RouteEntry<Handler>[] {
  const one = kind.slice(0, -1);
  return [
    kind === 'routes'
      ? ['GET HEAD', '/api/v1/routes', (c) => c.send(200, routeList(yard, c.url.searchParams.get('listener'))), 'every route with its state, match, position and stats (?listener=ID: that listener\'s, in evaluation order)']
      : ['GET HEAD', `/api/v1/${kind}`, (c) => c.send(200, [...collection(yard, kind).values()].map((o) => o.toJSON())), `every ${one} with its state and stats`],
    [
      'POST',
      `/api/v1/${kind}`,
      async (c) => {
        const created = await create(yard, kind, await c.json());
        c.send(201, kind === 'routes' ? routeJson(yard, created.id) : created.toJSON());
      },
      kind === 'routes' ? 'create and start a route (body: its config, JSON; `position`: its index among its listener\'s routes, default last)' : `create and start a ${one} (body: its config, JSON)`,
    ],
    ['GET HEAD', `/api/v1/${kind}/:id`, (c) => c.send(200, kind === 'routes' ? routeJson(yard, c.param('id')) : get(yard, kind, c.param('id')).toJSON()), `one ${one}`],
    [
      'DELETE',
      `/api/v1/${kind}/:id`,
      async (c) => c.send(200, (await remove(yard, kind, c.param('id'), drainOf(c.url))).toJSON()),
      kind === 'listeners' ? 'stop and remove a listener (?drain=DURATION lets its connections finish)' : `remove a ${one}`,
    ],
  ];
}

function collection(yard: Switchyard, kind: Kind): Map<string, RunTimeObject> {
  return kind === 'listeners' ? yard.listeners : kind === 'clusters' ? yard.clusters : yard.routes;
}

function get(yard: Switchyard, kind: Kind, id: string): RunTimeObject {
  const obj = collection(yard, kind).get(id);
  if (!obj) throw new HttpError(404, ErrorCodes.NOT_FOUND, `${kind.slice(0, -1)} '${id}' not found`);
  return obj;
}

async function create(yard: Switchyard, kind: Kind, body: unknown): Promise<RunTimeObject> {
  if (kind === 'clusters') return yard.addCluster(parseObjectConfig('cluster', body, yard.framers));
  if (kind === 'routes') {
    const { position, rest } = takePosition(body);
    const cfg = parseObjectConfig('route', rest, yard.framers);
    if (!yard.listeners.has(cfg.listener)) {
      // A route may be created before its listener (the listener then picks it up), but say so if it is a typo.
      yard.logger.info({ route: cfg.id, listener: cfg.listener }, 'route created for a listener that does not exist yet');
    }
    return yard.addRoute(cfg, { position });
  }
  return yard.addListener(parseObjectConfig('listener', body, yard.framers));
}

/** `?drain=` as milliseconds (a bare number is milliseconds, else a duration like `5s`); 0 when absent. */
function drainOf(url: URL): number {
  const drainParam = url.searchParams.get('drain');
  if (drainParam === null) return 0;
  try {
    return parseDuration(/^\d+$/.test(drainParam) ? Number(drainParam) : drainParam);
  } catch (err) {
    throw new HttpError(400, ErrorCodes.BAD_REQUEST, `drain: ${(err as Error).message}`);
  }
}

async function remove(yard: Switchyard, kind: Kind, id: string, drainTimeout: number): Promise<RunTimeObject> {
  if (kind === 'listeners') return yard.removeListener(id, { drainTimeout });
  if (kind === 'clusters') return yard.removeCluster(id);
  return yard.removeRoute(id);
}

/** `position` of a POST /routes body (not a route config key): a 0-based index among the listener's routes. */
function takePosition(body: unknown): { position: number | undefined; rest: unknown } {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !('position' in body)) return { position: undefined, rest: body };
  const { position, ...rest } = body as Record<string, unknown>;
  if (typeof position !== 'number' || !Number.isInteger(position) || position < 0) {
    throw new HttpError(400, ErrorCodes.BAD_REQUEST, `position: expected a 0-based index among the listener's routes (an integer >= 0), got ${JSON.stringify(position)}`);
  }
  return { position, rest };
}

/** A route's JSON with its listener's evaluation order: `position` (0-based) and `scope` (how the listener routes). */
function routeJson(yard: Switchyard, id: string): Record<string, unknown> {
  const route = yard.routes.get(id);
  if (!route) throw new HttpError(404, ErrorCodes.NOT_FOUND, `route '${id}' not found`);
  const json = route.toJSON();
  const position = yard.routesOf(route.config.listener).indexOf(route);
  return { id: json['id'], kind: json['kind'], listener: route.config.listener, position, ...json };
}

/** Every route, or one listener's in evaluation order (404 when no such listener and no route names it). */
function routeList(yard: Switchyard, listener: string | null): Array<Record<string, unknown>> {
  if (listener === null) return [...yard.routes.keys()].map((id) => routeJson(yard, id));
  const routes = yard.routesOf(listener);
  if (routes.length === 0 && !yard.listeners.has(listener)) throw new HttpError(404, ErrorCodes.NOT_FOUND, `listener '${listener}' not found`);
  return routes.map((r) => routeJson(yard, r.id));
}
