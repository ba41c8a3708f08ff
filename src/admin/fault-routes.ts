import { z } from 'zod';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import type { Switchyard } from '../runtime/switchyard.js';
import { faultInputSchema } from '../config/fault-input.js';
import type { FaultPlugin } from '../faults/plugin.js';

/** A JSON answer for the admin server to send. */
export interface RouteAnswer {
  status: number;
  body: unknown;
}

const patchSchema = z.strictObject({
  attributes: z.record(z.string(), z.unknown()).optional(),
  toxicity: z.number().min(0).max(1).optional(),
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

/**
 * Fault routes of the native admin API:
 *   GET  /api/v1/faults/types                      fault types with their self-describing options
 *   GET  /api/v1/protocols                         protocol modules with their attributes
 *   GET  /api/v1/listeners/:id/faults              the listener's live faults
 *   POST /api/v1/listeners/:id/faults              add one ({name?, type, stream?, toxicity?, scope?, attributes?, match?, group?})
 *   GET  /api/v1/listeners/:id/faults/:name        one fault
 *   PATCH|POST /api/v1/listeners/:id/faults/:name  update (attributes merge; toxicity, scope, match replace)
 *   DELETE /api/v1/listeners/:id/faults/:name      remove (frames in flight finish their way)
 * Returns undefined when the path is not a fault route.
 */
export async function faultRoute(yard: Switchyard, method: string, parts: readonly string[], readBody: () => Promise<unknown>, allow: (methods: string[]) => void): Promise<RouteAnswer | undefined> {
  if (parts[2] === 'faults' && parts[3] === 'types' && parts.length === 4) {
    allow(['GET', 'HEAD']);
    return { status: 200, body: yard.faultTypes.plugins().map(describePlugin) };
  }
  if (parts[2] === 'protocols' && parts.length === 3) {
    allow(['GET', 'HEAD']);
    return {
      status: 200,
      body: [{ name: 'tcp', description: 'Raw TCP: no codec; every chunk is its own frame.', attributes: {} }, ...yard.protocols.modules().map((m) => ({ name: m.name, description: m.description, attributes: m.attributes }))],
    };
  }
  if (parts[2] !== 'listeners' || parts[4] !== 'faults' || parts.length < 5 || parts.length > 6) return undefined;
  const listenerId = parts[3]!;
  const listener = yard.listeners.get(listenerId);
  if (!listener) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `listener '${listenerId}' not found`);
  if (listener.config.transport !== 'tcp') throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `listener '${listenerId}' is ${listener.config.transport}: faults need a tcp listener`);
  const set = yard.faultSet(listenerId);
  const name = parts[5];
  if (name === undefined) {
    allow(['GET', 'HEAD', 'POST']);
    if (method === 'POST') {
      const input = parse(faultInputSchema, await readBody(), 'fault');
      const fault = set.add(input, 'api');
      return { status: 201, body: fault.toJSON() };
    }
    return { status: 200, body: set.list().map((f) => f.toJSON()) };
  }
  allow(['GET', 'HEAD', 'PATCH', 'POST', 'DELETE']);
  if (method === 'DELETE') return { status: 200, body: set.remove(name).toJSON() };
  if (method === 'PATCH' || method === 'POST') {
    const patch = parse(patchSchema, await readBody(), 'fault update');
    return { status: 200, body: set.update(name, patch).toJSON() };
  }
  const fault = set.get(name);
  if (!fault) throw new SwitchyardError(ErrorCodes.NOT_FOUND, `fault '${name}' not found on listener '${listenerId}'`);
  return { status: 200, body: fault.toJSON() };
}
