/**
 * What a fault looks like as configuration: the `faults:` entries of listeners and routes, the body of the admin
 * API's POST .../faults, what the Toxiproxy and Vaurien adapters and the chaos CLI build. The fault stage
 * (faults/fault-set.ts) turns a FaultInput into a live fault.
 */
import { z } from 'zod';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';

/** Toxiproxy's names: `upstream` = client → server, `downstream` = server → client. */
export type Stream = 'upstream' | 'downstream';

/** Per connection (Toxiproxy: one draw when the connection starts) or per request/frame (Vaurien). */
export type Scope = 'connection' | 'request';

/**
 * Which requests a fault applies to: every key must match the request's attribute of that name. A value is
 * - a string: exact match, `*` as a wildcard (`/api/*` matches a path prefix), case-insensitive; a string wrapped
 *   in slashes (`/^SELECT/i`) is a regular expression;
 * - a number or boolean: equality;
 * - an array: any of its values.
 * A fault with a match never applies to frames outside a request (raw TCP, unsolicited server messages).
 * faults/match.ts compiles it.
 */
export type MatchValue = string | number | boolean | readonly (string | number | boolean)[];
export type MatchSpec = Readonly<Record<string, MatchValue>>;

/** What a caller (config, admin API, Toxiproxy adapter, chaos CLI) gives to create a fault. */
export interface FaultInput {
  name?: string | undefined;
  type: string;
  stream?: string | undefined;
  toxicity?: number | undefined;
  scope?: Scope | undefined;
  attributes?: Record<string, unknown> | undefined;
  match?: MatchSpec | undefined;
  /** Faults of one group are exclusive: per request at most one of them fires, `toxicity` being its share. */
  group?: string | undefined;
}

export const faultInputSchema = z.strictObject({
  name: z.string().min(1).max(200).regex(/^[^/\s]+$/, 'no slashes or spaces').optional(),
  type: z.string().min(1),
  stream: z.string().optional(),
  toxicity: z.number().min(0).max(1).optional(),
  scope: z.enum(['connection', 'request']).optional(),
  attributes: z.record(z.string(), z.unknown()).optional(),
  match: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number(), z.boolean()]))])).optional(),
  group: z.string().min(1).optional(),
});

/** `upstream` / `downstream` in any case; throws SWY_BAD_REQUEST (reason `invalid_stream`) otherwise. */
export function parseStream(value: string): Stream {
  const v = value.toLowerCase();
  if (v === 'upstream' || v === 'downstream') return v;
  throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `stream '${value}' is invalid, can be either upstream or downstream`, { details: { reason: 'invalid_stream' } });
}
