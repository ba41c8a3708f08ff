/**
 * Fault routes of the native admin API:
 *   GET  /api/v1/faults/types                      fault types with their self-describing options
 *   GET  /api/v1/protocols                         protocol modules with their attributes
 *   GET  /api/v1/listeners/:id/faults              the listener's live faults
 *   POST /api/v1/listeners/:id/faults              add one ({name?, type, stream?, toxicity?, scope?, attributes?, match?, group?});
 *                                                  the answer adds `reaches` (live connections reached) and `warnings`
 *   GET  /api/v1/listeners/:id/faults/:name        one fault
 *   PATCH|POST /api/v1/listeners/:id/faults/:name  update (attributes merge; toxicity, scope, match, handshake replace)
 *   DELETE /api/v1/listeners/:id/faults/:name      remove (frames in flight finish their way)
 * A body is checked in one pass: one 400 lists every problem (wrapper fields, attributes, match keys, group shares).
 */
import { z } from 'zod';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { Switchyard } from '../runtime/switchyard.js';
import { TcpListener } from '../listeners/tcp.js';
import { GrpcListener } from '../grpc/listener.js';
import { faultInputSchema, type FaultInput } from '../config/fault-input.js';
import { configErrorMap } from '../config/issues.js';
import { suggestionSuffix } from '../config/did-you-mean.js';
import { faultProblemsError, type FaultPatch, type FaultProblem, type FaultSet } from '../faults/fault-set.js';
import type { FaultPlugin } from '../faults/plugin.js';
import type { RequestContext } from '../http-kit/context.js';

const patchShape = {
  attributes: z.record(z.string(), z.unknown()).optional(),
  toxicity: faultInputSchema.shape.toxicity,
  scope: z.enum(['connection', 'request']).optional(),
  match: faultInputSchema.shape.match.unwrap().nullable().optional(),
  handshake: z.boolean().optional(),
};

/**
 * Parse each field of a body on its own, so that one bad field does not hide another (the config loader's one pass):
 * the values of the good fields, and a problem for each bad or unknown one.
 */
function parseFields(shape: Readonly<Record<string, z.ZodType>>, body: unknown, what: string): { values: Record<string, unknown>; problems: FaultProblem[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `invalid ${what}: expected a JSON object`, { details: { issues: [{ path: '', message: 'expected a JSON object' }] } });
  }
  const raw = body as Record<string, unknown>;
  const known = Object.keys(shape);
  const values: Record<string, unknown> = {};
  const problems: FaultProblem[] = [];
  for (const key of Object.keys(raw)) {
    if (!Object.hasOwn(shape, key)) problems.push({ path: key, message: `unknown field${suggestionSuffix(key, known)} (known: ${known.join(', ')})`, reason: 'invalid_field' });
  }
  for (const [key, schema] of Object.entries(shape)) {
    const r = schema.safeParse(raw[key], { error: configErrorMap });
    if (r.success) {
      if (r.data !== undefined) values[key] = r.data;
    } else {
      for (const i of r.error.issues) problems.push({ path: [key, ...i.path.map(String)].join('.'), message: i.message, reason: `invalid_${key}` });
    }
  }
  return { values, problems };
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
    { name: 'tcp', description: 'Raw TCP: no codec; every chunk is its own frame.', attributes: {}, setup: [] },
    ...yard.protocols.modules().map((m) => ({ name: m.name, description: m.description, attributes: m.attributes, setup: m.setup ?? [] })),
  ]);
}

/** The fault set of the route's `:id` listener: 404 when there is none, 400 when it is not TCP. */
function faultSet(yard: Switchyard, ctx: RequestContext): FaultSet {
  const listenerId = ctx.param('id');
  const listener = yard.listeners.get(listenerId);
  if (!listener) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `listener '${listenerId}' not found`);
  if (listener.config.transport !== 'tcp') throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `listener '${listenerId}' is ${listener.config.transport}: faults need a tcp listener`);
  if (!(listener instanceof TcpListener) && !(listener instanceof GrpcListener)) throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `listener '${listenerId}' is a ${listener.config.protocol?.type ?? 'non-TCP'} listener: faults are not yet supported on it`);
  return yard.faultSet(listenerId);
}

export function listFaults(yard: Switchyard, ctx: RequestContext): void {
  ctx.send(200, faultSet(yard, ctx).list().map((f) => f.toJSON()));
}

export async function addFault(yard: Switchyard, ctx: RequestContext): Promise<void> {
  const set = faultSet(yard, ctx);
  // Every problem in one 400: the wrapper's fields, then what the fault set checks (type, stream, attributes, match keys, group shares).
  const { values, problems } = parseFields(faultInputSchema.shape, await ctx.json(), 'fault');
  const input = values as Partial<FaultInput>;
  // A group's shares are checked with the toxicity given, not with the default that stands in for a bad one.
  const badToxicity = problems.some((p) => p.path === 'toxicity');
  problems.push(...set.problems(badToxicity ? { ...input, group: undefined } : input));
  if (problems.length > 0) throw faultProblemsError(problems, 'invalid fault: ');
  const fault = set.add(input as FaultInput, 'api');
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
  const name = ctx.param('name');
  const fault = set.get(name);
  if (!fault) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `fault '${name}' not found on listener '${ctx.param('id')}'`);
  const { values, problems } = parseFields(patchShape, await ctx.json(), 'fault update');
  const patch = values as FaultPatch;
  problems.push(...set.updateProblems(fault, patch));
  if (problems.length > 0) throw faultProblemsError(problems, 'invalid fault update: ');
  ctx.send(200, set.update(name, patch).toJSON());
}

export function removeFault(yard: Switchyard, ctx: RequestContext): void {
  ctx.send(200, faultSet(yard, ctx).remove(ctx.param('name')).toJSON());
}
