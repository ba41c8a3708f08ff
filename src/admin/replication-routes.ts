import type { ServerResponse } from 'node:http';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { Switchyard } from '../runtime/switchyard.js';
import type { RouteAnswer } from './fault-routes.js';
import { Replicator } from '../replication/replicator.js';
import type { DivergenceEvent } from '../replication/events.js';

function intParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `query parameter '${name}' must be a whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

function replicator(yard: Switchyard, routeId: string): Replicator {
  const route = yard.routes.get(routeId);
  if (!route) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `route '${routeId}' not found`);
  if (!(route.engine instanceof Replicator)) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `route '${routeId}' is not a replicate route`);
  return route.engine;
}

/**
 * N-variant routes of the native admin API:
 *   GET    /api/v1/divergences?route=&since=&limit=   divergence events, oldest first
 *   GET    /api/v1/divergences/:id                    one event
 *   DELETE /api/v1/divergences                        forget the events in memory (the JSONL file stays)
 *   GET    /api/v1/routes/:id/variants                a replicate route's variants (state, quarantine, latency)
 *   POST   /api/v1/routes/:id/variants/:name/quarantine   take a variant out of the set
 *   POST   /api/v1/routes/:id/variants/:name/restore      put it back
 *   GET    /api/v1/routes/:id/noise                   what the filter pair taught (per endpoint and field)
 * (GET /api/v1/events, the live Server-Sent Events stream, is served by {@link serveEvents}.)
 */
export async function replicationRoute(yard: Switchyard, method: string, parts: readonly string[], url: URL, allow: (methods: string[]) => void): Promise<RouteAnswer | undefined> {
  if (parts[2] === 'divergences') {
    if (parts.length === 3) {
      allow(['GET', 'HEAD', 'DELETE']);
      if (method === 'DELETE') {
        yard.divergences.clear();
        return { status: 200, body: { cleared: true } };
      }
      const route = url.searchParams.get('route') ?? undefined;
      const events = yard.divergences.list({ route, since: intParam(url, 'since'), limit: intParam(url, 'limit') });
      return { status: 200, body: events };
    }
    if (parts.length === 4) {
      allow(['GET', 'HEAD']);
      const id = Number(parts[3]);
      const e = Number.isSafeInteger(id) ? yard.divergences.get(id) : undefined;
      if (!e) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `divergence '${parts[3]}' not found (kept: the last ${yard.divergences.capacity})`);
      return { status: 200, body: e };
    }
    return undefined;
  }
  if (parts[2] === 'routes' && parts.length >= 5 && parts[4] === 'variants') {
    const rep = replicator(yard, parts[3]!);
    if (parts.length === 5) {
      allow(['GET', 'HEAD']);
      return { status: 200, body: rep.variantsJSON() };
    }
    if (parts.length === 7 && (parts[6] === 'restore' || parts[6] === 'quarantine')) {
      allow(['POST']);
      const name = parts[5]!;
      if (!rep.variants.some((v) => v.name === name)) {
        throw new SwitchyardError(ErrorCodes.NOT_FOUND, `route '${parts[3]}' has no variant '${name}' (variants: ${rep.variants.map((v) => v.name).join(', ')})`);
      }
      if (parts[6] === 'restore') rep.restore(name);
      else rep.quarantine(name, 'quarantined through the admin API');
      return { status: 200, body: rep.variantsJSON().find((v) => v['name'] === name) };
    }
    return undefined;
  }
  if (parts[2] === 'routes' && parts.length === 5 && parts[4] === 'noise') {
    allow(['GET', 'HEAD']);
    return { status: 200, body: replicator(yard, parts[3]!).noise.toJSON() };
  }
  return undefined;
}

/** GET /api/v1/events: divergence events as Server-Sent Events (`event: divergence`, `id:` = event id), with a comment heartbeat every 15 s. */
export function serveEvents(yard: Switchyard, url: URL, res: ServerResponse, lastEventId: string | undefined): void {
  const route = url.searchParams.get('route') ?? undefined;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write(': switchyard divergence events\nretry: 2000\n\n');
  const send = (e: DivergenceEvent): void => {
    if (route !== undefined && e.route !== route) return;
    res.write(`id: ${e.id}\nevent: divergence\ndata: ${JSON.stringify(e)}\n\n`);
  };
  // A reconnecting EventSource sends Last-Event-ID: replay what it missed from the ring.
  const since = lastEventId !== undefined && /^\d+$/.test(lastEventId) ? Number(lastEventId) : undefined;
  if (since !== undefined) for (const e of yard.divergences.list({ since, route })) send(e);
  const unsubscribe = yard.divergences.subscribe(send);
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  heartbeat.unref();
  res.on('close', () => {
    clearInterval(heartbeat);
    unsubscribe();
  });
}
