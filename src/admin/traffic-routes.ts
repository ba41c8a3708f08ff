/**
 * Traffic tail routes of the native admin API (docs/admin-api.md#traffic-tail):
 *   GET /api/v1/listeners/:id/traffic?since=SEQ&limit=N  the latest sampled requests (raw TCP: connections; gRPC: calls)
 *   PUT /api/v1/listeners/:id/traffic                    change {enabled?, perSecond?, keep?} of the running listener
 */
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { TRAFFIC_MAX_KEEP, TRAFFIC_MAX_PER_SECOND, type TrafficSettings, type TrafficTap } from '../core/traffic.js';
import type { Switchyard } from '../runtime/switchyard.js';
import { TcpListener } from '../listeners/tcp.js';
import { GrpcListener } from '../grpc/listener.js';
import type { RequestContext } from '../http-kit/context.js';
import { suggestionSuffix } from '../config/did-you-mean.js';

const FIELDS = ['enabled', 'perSecond', 'keep'] as const;

function tapOf(yard: Switchyard, ctx: RequestContext): { id: string; tap: TrafficTap } {
  const id = ctx.param('id');
  const listener = yard.listeners.get(id);
  if (!listener) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `listener '${id}' not found`);
  if (!(listener instanceof TcpListener) && !(listener instanceof GrpcListener)) {
    const kind = listener.config.transport === 'udp' ? 'a udp listener' : `a ${listener.config.protocol?.type ?? 'non-TCP'} listener`;
    throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `listener '${id}' is ${kind}: the traffic tail is not yet supported on it`);
  }
  return { id, tap: listener.traffic };
}

/** A non-negative integer query parameter, or the default when absent. */
function intParam(ctx: RequestContext, name: string, fallback: number, max: number): number {
  const raw = ctx.url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) > max) {
    throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `query parameter '${name}' must be an integer from 0 to ${max}, got '${raw}'`);
  }
  return Number(raw);
}

export function getTraffic(yard: Switchyard, ctx: RequestContext): void {
  const { id, tap } = tapOf(yard, ctx);
  const since = intParam(ctx, 'since', 0, Number.MAX_SAFE_INTEGER);
  const settings = tap.settings();
  const limit = intParam(ctx, 'limit', settings.keep, TRAFFIC_MAX_KEEP);
  const records = tap.since(since, limit);
  const next = records.length > 0 ? records[records.length - 1]!.seq : Math.max(since, 0) > tap.last ? tap.last : since;
  ctx.send(200, { listener: id, ...settings, records, next });
}

export async function putTraffic(yard: Switchyard, ctx: RequestContext): Promise<void> {
  const { id, tap } = tapOf(yard, ctx);
  const body: unknown = await ctx.json();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SwitchyardError(ErrorCodes.BAD_REQUEST, 'invalid traffic settings: expected a JSON object', { details: { issues: [{ path: '', message: 'expected a JSON object' }] } });
  }
  const raw = body as Record<string, unknown>;
  const issues: Array<{ path: string; message: string }> = [];
  for (const key of Object.keys(raw)) {
    if (!(FIELDS as readonly string[]).includes(key)) issues.push({ path: key, message: `unknown field${suggestionSuffix(key, FIELDS)} (known: ${FIELDS.join(', ')})` });
  }
  const next: { -readonly [K in keyof TrafficSettings]?: TrafficSettings[K] } = {};
  if (raw['enabled'] !== undefined) {
    if (typeof raw['enabled'] === 'boolean') next.enabled = raw['enabled'];
    else issues.push({ path: 'enabled', message: `expected true or false, got ${JSON.stringify(raw['enabled'])}` });
  }
  for (const [key, max] of [['perSecond', TRAFFIC_MAX_PER_SECOND], ['keep', TRAFFIC_MAX_KEEP]] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max) next[key] = v;
    else issues.push({ path: key, message: `expected an integer from 1 to ${max}, got ${JSON.stringify(v)}` });
  }
  if (issues.length > 0) {
    throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `invalid traffic settings: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { details: { issues } });
  }
  tap.configure(next);
  yard.logger.info({ listener: id, ...tap.settings() }, 'traffic tail changed');
  ctx.send(200, { listener: id, ...tap.settings() });
}
