/**
 * N-variant routes of the native admin API:
 *   GET    /api/v1/divergences?route=&since=&limit=   divergence events, oldest first
 *   GET    /api/v1/divergences/:id                    one event
 *   DELETE /api/v1/divergences                        forget the events in memory (the JSONL file stays)
 *   GET    /api/v1/routes/:id/variants                a replicate route's variants (state, quarantine, latency)
 *   POST   /api/v1/routes/:id/variants/:name/quarantine   take a variant out of the set
 *   POST   /api/v1/routes/:id/variants/:name/restore      put it back
 *   GET    /api/v1/routes/:id/noise                   what the filter pair taught (per endpoint and field)
 *   GET    /api/v1/events[?route=&types=]             the live Server-Sent Events stream (divergence and lifecycle events)
 */
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { Switchyard } from '../runtime/switchyard.js';
import { Replicator } from '../replication/replicator.js';
import type { DivergenceEvent } from '../replication/events.js';
import type { LifecycleEvent } from '../core/lifecycle.js';
import type { RequestContext } from '../http-kit/context.js';

function intParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `query parameter '${name}' must be a whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** The engine of the route's `:id` replicate route (404 when there is none). */
function replicator(yard: Switchyard, ctx: RequestContext): Replicator {
  const routeId = ctx.param('id');
  const route = yard.routes.get(routeId);
  if (!route) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `route '${routeId}' not found`);
  if (!(route.engine instanceof Replicator)) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `route '${routeId}' is not a replicate route`);
  return route.engine;
}

export function divergences(yard: Switchyard, ctx: RequestContext): void {
  const url = ctx.url;
  const route = url.searchParams.get('route') ?? undefined;
  ctx.send(200, yard.divergences.list({ route, since: intParam(url, 'since'), limit: intParam(url, 'limit') }));
}

export function clearDivergences(yard: Switchyard, ctx: RequestContext): void {
  yard.divergences.clear();
  ctx.send(200, { cleared: true });
}

export function divergence(yard: Switchyard, ctx: RequestContext): void {
  const text = ctx.param('id');
  const id = Number(text);
  const e = Number.isSafeInteger(id) ? yard.divergences.get(id) : undefined;
  if (!e) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `divergence '${text}' not found (kept: the last ${yard.divergences.capacity})`);
  ctx.send(200, e);
}

export function variants(yard: Switchyard, ctx: RequestContext): void {
  ctx.send(200, replicator(yard, ctx).variantsJSON());
}

export function quarantine(yard: Switchyard, ctx: RequestContext): void {
  const rep = replicator(yard, ctx);
  const name = variantName(rep, ctx);
  rep.quarantine(name, 'quarantined through the admin API');
  ctx.send(200, rep.variantsJSON().find((v) => v['name'] === name));
}

export function restore(yard: Switchyard, ctx: RequestContext): void {
  const rep = replicator(yard, ctx);
  const name = variantName(rep, ctx);
  rep.restore(name);
  ctx.send(200, rep.variantsJSON().find((v) => v['name'] === name));
}

/** The route's `:name` variant (404 when the replicate route has no such variant). */
function variantName(rep: Replicator, ctx: RequestContext): string {
  const name = ctx.param('name');
  if (!rep.variants.some((v) => v.name === name)) {
    throw new SwitchyardError(ErrorCodes.NOT_FOUND, `route '${ctx.param('id')}' has no variant '${name}' (variants: ${rep.variants.map((v) => v.name).join(', ')})`);
  }
  return name;
}

export function noise(yard: Switchyard, ctx: RequestContext): void {
  ctx.send(200, replicator(yard, ctx).noise.toJSON());
}

const EVENT_TYPES = ['divergence', 'lifecycle'] as const;

/** `?types=divergence,lifecycle` (default: both): which event types the stream carries. */
function eventTypes(url: URL): Set<string> {
  const v = url.searchParams.get('types');
  if (v === null || v === '') return new Set(EVENT_TYPES);
  const types = v.split(',').map((t) => t.trim()).filter((t) => t !== '');
  const unknown = types.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length > 0) throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `query parameter 'types': unknown event type(s) ${unknown.map((t) => JSON.stringify(t)).join(', ')} (known: ${EVENT_TYPES.join(', ')})`);
  return new Set(types);
}

/**
 * Server-Sent Events: divergence events (`event: divergence`, `id:` = event id) and state changes of the run-time
 * objects (`event: lifecycle`, no `id:` so Last-Event-ID keeps naming divergences), with a comment heartbeat every 15 s.
 */
export function events(yard: Switchyard, ctx: RequestContext): void {
  const { res, url } = ctx;
  const last = ctx.req.headers['last-event-id'];
  const lastEventId = typeof last === 'string' ? last : undefined;
  const route = url.searchParams.get('route') ?? undefined;
  const types = eventTypes(url);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write(': switchyard divergence events\nretry: 2000\n\n');
  const send = (e: DivergenceEvent): void => {
    if (route !== undefined && e.route !== route) return;
    res.write(`id: ${e.id}\nevent: divergence\ndata: ${JSON.stringify(e)}\n\n`);
  };
  const sendLifecycle = (e: LifecycleEvent): void => {
    // ?route= narrows lifecycle events to that route's (and leaves other kinds out).
    if (route !== undefined && (e.kind !== 'route' || e.id !== route)) return;
    res.write(`event: lifecycle\ndata: ${JSON.stringify(e)}\n\n`);
  };
  // A reconnecting EventSource sends Last-Event-ID: replay what it missed from the ring.
  const since = lastEventId !== undefined && /^\d+$/.test(lastEventId) ? Number(lastEventId) : undefined;
  if (since !== undefined && types.has('divergence')) for (const e of yard.divergences.list({ since, route })) send(e);
  const unsubscribe = types.has('divergence') ? yard.divergences.subscribe(send) : () => false;
  const unsubscribeLifecycle = types.has('lifecycle') ? yard.lifecycle.subscribe(sendLifecycle) : () => false;
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  heartbeat.unref();
  res.on('close', () => {
    clearInterval(heartbeat);
    unsubscribe();
    unsubscribeLifecycle();
  });
}
