/**
 * Toxiproxy's toxics on a proxy's fault set: list, show, add, update and remove, with Toxiproxy's checks, error
 * messages and status codes (api.go, toxic_collection.go). A toxic is one fault of the set, scope `connection`.
 */
import { parseStream } from '../config/fault-input.js';
import type { FaultSet } from '../faults/fault-set.js';
import { TOXIPROXY_TYPES } from '../faults/builtins.js';
import type { HttpError } from '../http-kit/http-error.js';
import { Errors, decodeBody, toxicJson, type ToxicJson } from './toxiproxy-json.js';

/** Toxic types this API creates: Toxiproxy's (its `down` is the proxy's `enabled: false`, not a toxic). */
export const TOXIC_TYPES: readonly string[] = TOXIPROXY_TYPES.filter((t) => t !== 'down');

/** The origin the fault set records for toxics. */
const ORIGIN = 'toxiproxy';

export function listToxics(set: FaultSet): ToxicJson[] {
  return set.list().map(toxicJson);
}

export function getToxic(set: FaultSet, name: string): ToxicJson {
  const f = set.get(name);
  if (!f) throw Errors.toxicNotFound();
  return toxicJson(f);
}

/** POST /proxies/{p}/toxics — checks in Toxiproxy's order: body, stream, (name default), type, name taken, attributes. */
export function addToxic(set: FaultSet, text: string): ToxicJson {
  const body = decodeBody(text, { name: 'string', type: 'string', stream: 'string', toxicity: 'number', attributes: 'object' }, 'ToxicWrapper');
  const stream = (body['stream'] as string | undefined) ?? 'downstream';
  try {
    parseStream(stream);
  } catch {
    throw Errors.invalidStream();
  }
  const type = (body['type'] as string | undefined) ?? '';
  const name = (body['name'] as string | undefined) || `${type}_${stream}`;
  const plugin = set.registry.get(type);
  if (!TOXIC_TYPES.includes(type) || !plugin) throw Errors.invalidType();
  if (set.get(name)) throw Errors.toxicExists();
  const toxicity = body['toxicity'] as number | undefined;
  checkToxicity(toxicity);
  const attributes = known(plugin.options, body['attributes'] as Record<string, unknown> | undefined);
  try {
    return toxicJson(set.add({ name, type, stream, toxicity, scope: 'connection', attributes }, ORIGIN));
  } catch (err) {
    throw faultError(err);
  }
}

/** POST/PATCH /proxies/{p}/toxics/{t}: attributes merge, toxicity omitted keeps its value; type/stream/name ignored. */
export function updateToxic(set: FaultSet, name: string, text: string): ToxicJson {
  const f = set.get(name);
  if (!f) throw Errors.toxicNotFound();
  const body = decodeBody(text, { toxicity: 'number', attributes: 'object' }, 'ToxicWrapper');
  const toxicity = body['toxicity'] as number | undefined;
  checkToxicity(toxicity);
  const attributes = body['attributes'] === undefined ? undefined : known(f.plugin.options, body['attributes'] as Record<string, unknown>);
  try {
    return toxicJson(set.update(name, { attributes, toxicity }));
  } catch (err) {
    throw faultError(err);
  }
}

export function removeToxic(set: FaultSet, name: string): void {
  if (!set.get(name)) throw Errors.toxicNotFound();
  set.remove(name);
}

/** Toxiproxy ignores attribute keys the toxic does not have (and `null` values); we drop them before validation. */
function known(options: Readonly<Record<string, unknown>>, attrs: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!attrs) return {};
  return Object.fromEntries(Object.entries(attrs).filter(([k, v]) => Object.hasOwn(options, k) && v !== null));
}

/** Unlike Toxiproxy (which accepts 5 or -1), toxicity is a probability from 0 to 1. */
function checkToxicity(t: number | undefined): void {
  if (t !== undefined && !(Number.isFinite(t) && t >= 0 && t <= 1)) {
    throw Errors.badBody(`toxicity must be a number from 0 to 1, got ${t}`);
  }
}

/** A fault-set error as Toxiproxy words it. */
function faultError(err: unknown): HttpError {
  const e = err as { code?: string; message?: string; details?: { reason?: string } };
  switch (e.details?.reason) {
    case 'invalid_type':
      return Errors.invalidType();
    case 'invalid_stream':
      return Errors.invalidStream();
    case 'exists':
      return Errors.toxicExists();
    case 'not_found':
      return Errors.toxicNotFound();
    case 'invalid_attributes':
    case 'invalid_toxicity':
      return Errors.badBody(e.message ?? String(err));
    default:
      return e.code === 'SWY_BAD_REQUEST' ? Errors.badRequest(e.message ?? String(err)) : Errors.internal(e.message ?? String(err));
  }
}
