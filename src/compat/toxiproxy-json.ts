/**
 * Toxiproxy's wire format: its error messages, its body rules, Go-like JSON body decoding and the proxy/toxic JSON
 * shapes (api.go, toxics/toxic.go).
 */
import { ErrorCodes } from '../core/errors.js';
import type { Fault } from '../faults/fault-set.js';
import { parseJsonText, type BodyRules } from '../http-kit/body.js';
import { HttpError } from '../http-kit/http-error.js';

/** Toxiproxy's errors, answered as `{"error": message, "status": status}`. */
export const Errors = {
  proxyNotFound: () => new HttpError(404, ErrorCodes.NOT_FOUND, 'proxy not found'),
  proxyExists: () => new HttpError(409, ErrorCodes.CONFLICT, 'proxy already exists'),
  toxicNotFound: () => new HttpError(404, ErrorCodes.NOT_FOUND, 'toxic not found'),
  toxicExists: () => new HttpError(409, ErrorCodes.CONFLICT, 'toxic already exists'),
  invalidType: () => new HttpError(400, ErrorCodes.BAD_REQUEST, 'invalid toxic type'),
  invalidStream: () => new HttpError(400, ErrorCodes.BAD_REQUEST, 'stream was invalid, can be either upstream or downstream'),
  missing: (field: string) => new HttpError(400, ErrorCodes.BAD_REQUEST, `missing required field: ${field}`),
  badBody: (detail: string) => new HttpError(400, ErrorCodes.BAD_REQUEST, `bad request body: ${detail}`),
  badRequest: (message: string) => new HttpError(400, ErrorCodes.BAD_REQUEST, message),
  /** What Toxiproxy answers a run-time failure (a port it cannot listen on, ...): 500 with the error's text. */
  internal: (message: string) => new HttpError(500, ErrorCodes.INTERNAL, message),
};

/** Bodies: at most 1 MiB; an empty body is Go's `EOF`, bad JSON the parser's message. */
export const BODY_RULES: BodyRules = {
  maxBytes: 1024 * 1024,
  tooLarge: (max) => new HttpError(413, ErrorCodes.BAD_REQUEST, `bad request body: larger than ${max} bytes`),
  empty: () => {
    throw Errors.badBody('EOF');
  },
  invalid: (message) => Errors.badBody(message),
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

/** JSON text (a body, or a `-config` file) parsed by Toxiproxy's body rules. */
export function parseJson(text: string): unknown {
  return parseJsonText(text, BODY_RULES);
}

export function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v;
}

export const PROXY_FIELDS: Record<string, FieldType> = { name: 'string', listen: 'string', upstream: 'string', enabled: 'boolean' };

export function decodeProxy(text: string): ProxyInput {
  return decodeBody(text, PROXY_FIELDS, 'Proxy');
}

/** A toxic's JSON, exactly Toxiproxy's ToxicWrapper: attributes, name, type, stream (as sent), toxicity. */
export function toxicJson(f: Fault): ToxicJson {
  return { attributes: { ...f.options }, name: f.name, type: f.type, stream: f.streamAsGiven, toxicity: f.toxicity };
}
