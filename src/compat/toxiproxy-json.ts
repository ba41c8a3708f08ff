/**
 * Toxiproxy's wire format: its error type and messages, Go-like JSON body decoding and the proxy/toxic JSON shapes
 * (api.go, toxics/toxic.go).
 */
import type { Fault } from '../faults/fault-set.js';

/** An error answered as Toxiproxy's `{"error": message, "status": status}`. */
export class ToxiproxyApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ToxiproxyApiError';
  }
}

export const Errors = {
  proxyNotFound: () => new ToxiproxyApiError(404, 'proxy not found'),
  proxyExists: () => new ToxiproxyApiError(409, 'proxy already exists'),
  toxicNotFound: () => new ToxiproxyApiError(404, 'toxic not found'),
  toxicExists: () => new ToxiproxyApiError(409, 'toxic already exists'),
  invalidType: () => new ToxiproxyApiError(400, 'invalid toxic type'),
  invalidStream: () => new ToxiproxyApiError(400, 'stream was invalid, can be either upstream or downstream'),
  missing: (field: string) => new ToxiproxyApiError(400, `missing required field: ${field}`),
  badBody: (detail: string) => new ToxiproxyApiError(400, `bad request body: ${detail}`),
};

export interface ProxyInput {
  name?: string | undefined;
  listen?: string | undefined;
  upstream?: string | undefined;
  enabled?: boolean | undefined;
}

export interface ToxicJson {
  attributes: Record<string, unknown>;
  name: string;
  type: string;
  stream: string;
  toxicity: number;
}

export interface ProxyJson {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: ToxicJson[];
}

export type FieldType = 'string' | 'boolean' | 'number' | 'object';

/**
 * Decode a JSON body the way Go's json.Decoder into a struct does: unknown fields ignored, `null` leaves a field
 * unset, a value of the wrong type is `bad request body: ...`. Returns the known fields only.
 */
export function decodeBody(text: string, fields: Record<string, FieldType>, what: string): Record<string, unknown> {
  const value = parseJson(text);
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw Errors.badBody(`json: cannot unmarshal ${jsonKind(value)} into Go value of type ${what}`);
  return pickFields(value as Record<string, unknown>, fields, what);
}

export function pickFields(obj: Record<string, unknown>, fields: Record<string, FieldType>, what: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, type] of Object.entries(fields)) {
    const v = obj[key];
    if (v === undefined || v === null) continue;
    const ok = type === 'object' ? typeof v === 'object' && !Array.isArray(v) : typeof v === type;
    if (!ok) throw Errors.badBody(`json: cannot unmarshal ${jsonKind(v)} into Go struct field ${what}.${key} of type ${type === 'number' ? 'float32' : type}`);
    out[key] = v;
  }
  return out;
}

export function parseJson(text: string): unknown {
  if (text.trim() === '') throw Errors.badBody('EOF');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw Errors.badBody((err as Error).message);
  }
}

export function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v;
}

export const PROXY_FIELDS: Record<string, FieldType> = { name: 'string', listen: 'string', upstream: 'string', enabled: 'boolean' };

export function decodeProxy(text: string): ProxyInput {
  return decodeBody(text, PROXY_FIELDS, 'Proxy') as ProxyInput;
}

/** A toxic's JSON, exactly Toxiproxy's ToxicWrapper: attributes, name, type, stream (as sent), toxicity. */
export function toxicJson(f: Fault): ToxicJson {
  return { attributes: { ...f.options }, name: f.name, type: f.type, stream: f.streamAsGiven, toxicity: f.toxicity };
}
