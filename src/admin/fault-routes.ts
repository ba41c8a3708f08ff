/**
 * Fault routes of the native admin API:
 *   GET  /api/v1/faults/types                      fault types with their self-describing options
 *   GET  /api/v1/protocols                         protocol modules with their attributes
 *   GET  /api/v1/listeners/:id/faults              the listener's live faults
 *   POST /api/v1/listeners/:id/faults              add one ({name?, type, stream?, toxicity?, scope?, attributes?, match?, group?});
 *                                                  the answer adds `reaches` (live connections reached) and `warnings`
 *   GET  /api/v1/listeners/:id/faults/:name        one fault
 *   PATCH|POST /api/v1/listeners/:id/faults/:name  update (attributes merge; toxicity, scope, match replace)
 *   DELETE /api/v1/listeners/:id/faults/:name      remove (frames in flight finish their way)
 */
import { z } from 'zod';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { Switchyard } from '../runtime/switchyard.js';
import { TcpListener } from '../listeners/tcp.js';
import { faultInputSchema } from '../config/fault-input.js';
import type { FaultSet } from '../faults/fault-set.js';
import type { FaultPlugin } from '../faults/plugin.js';
import type { RequestContext } from '../http-kit/context.js';

const patchSchema = z.strictObject({
  attributes: z.record(z.string(), z.unknown()).optional(),
  toxicity: faultInputSchema.shape.toxicity,
  scope: z.enum(['connection', 'request']).optional(),
  match: faultInputSchema.shape.match.unwrap().nullable().optional(),
});

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const msg = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`).join('; ');
  throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `invalid ${what}: ${msg}`, { details: { issues: r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })) } });
}

export function describePlugin(p: FaultPlugin): Record<string, unknown> {
  return {
    type: p.type,
    description: p.description,
    defaultStream: p.defaultStream,
    defaultScope: p.defaultScope,
    ...(p.listenerEffect ? { listenerEffect: p.listenerEffect } : {}),
    options: Object.fromEntries(Object.entries(p.options).map(([name, o]) => [name, { ...o }])),
  };
}

export function faultTypes(yard: Switchyard, ctx: RequestContext): void {
  ctx.send(200, yard.faultTypes.plugins().map(describePlugin));
}

export function protocols(yard: Switchyard, ctx: RequestContext): void {
  ctx.send(200, [
    { name: 'tcp', description: 'Raw TCP: no codec; every chunk is its own frame.', attributes: {} },
    ...yard.protocols.modules().map((m) => ({ name: m.name, description: m.description, attributes: m.attributes })),
  ]);
}

/** The fault set of the route's `:id` listener: 404 when there is none, 400 when it is not TCP. */
function faultSet(yard: Switchyard, ctx: RequestContext): FaultSet {
  const listenerId = ctx.param('id');
  const listener = yard.listeners.get(listenerId);
  if (!listener) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `listener '${listenerId}' not found`);
  if (listener.config.transport !== 'tcp') throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `listener '${listenerId}' is ${listener.config.transport}: faults need a tcp listener`);
  return yard.faultSet(listenerId);
}

export function listFaults(yard: Switchyard, ctx: RequestContext): void {
  ctx.send(200, faultSet(yard, ctx).list().map((f) => f.toJSON()));
}

export async function addFault(yard: Switchyard, ctx: RequestContext): Promise<void> {
  const set = faultSet(yard, ctx);
  const input = parse(faultInputSchema, await ctx.json(), 'fault');
  const fault = set.add(input, 'api');
  // Live sessions took the fault stage synchronously inside add(): say which ones it reaches.
  const listener = yard.listeners.get(ctx.param('id'));
  const reach = listener instanceof TcpListener ? listener.faultReach() : undefined;
  ctx.send(201, {
    ...fault.toJSON(),
    ...(reach ? { reaches: { connections: reach.connections, reached: reach.reached } } : {}),
    ...(reach && reach.warnings.length > 0 ? { warnings: reach.warnings } : {}),
  });
}

export function getFault(yard: Switchyard, ctx: RequestContext): void {
  const name = ctx.param('name');
  const fault = faultSet(yard, ctx).get(name);
  if (!fault) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `fault '${name}' not found on listener '${ctx.param('id')}'`);
  ctx.send(200, fault.toJSON());
}

export async function updateFault(yard: Switchyard, ctx: RequestContext): Promise<void> {
  const set = faultSet(yard, ctx);
  const patch = parse(patchSchema, await ctx.json(), 'fault update');
  ctx.send(200, set.update(ctx.param('name'), patch).toJSON());
}

export function removeFault(yard: Switchyard, ctx: RequestContext): void {
  ctx.send(200, faultSet(yard, ctx).remove(ctx.param('name')).toJSON());
}
