/**
 * What a fault looks like as configuration: the `faults:` entries of listeners and routes, the body of the admin
 * API's POST .../faults, what the Toxiproxy and Vaurien adapters and the chaos CLI build. The fault stage
 * (faults/fault-set.ts) turns a FaultInput into a live fault.
 */
import { z } from 'zod';
import { ErrorCodes, SwitchyardError } from '../core/errors.js';
import { suggestionSuffix } from './did-you-mean.js';
import { describeValue } from './describe-value.js';
import { compileSafeRegex } from './regex-safety.js';

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
 * The key `not` holds a nested match that must NOT match (`{method: GET, not: {path: "/health"}}`); it may nest.
 * A fault with a match never applies to frames outside a request (raw TCP, unsolicited server messages).
 * Regexes are compiled and checked for catastrophic backtracking by the schema (config/regex-safety.ts);
 * faults/match.ts compiles the whole spec.
 */
export type MatchValue = string | number | boolean | readonly (string | number | boolean)[];
export interface MatchSpec {
  readonly [key: string]: MatchValue | MatchSpec;
}

/** The key of a negated sub-match. */
export const MATCH_NOT = 'not';

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
  /**
   * Request-scope faults (and group members) skip the protocol's connection setup requests (Redis `HELLO`, `AUTH`,
   * the first `INFO`...; `MessageInfo.setup`) and the responses to them, unless this is true. Default false.
   */
  handshake?: boolean | undefined;
}

const FRACTION_FORMS = 'a probability 0..1 or a percentage like "50%"';

/** A fraction 0..1 given as a number (0.25) or a percentage string ("25%", "2.5 %"); undefined when neither. */
export function parseFraction(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+(\.\d+)?\s*%\s*$/.test(v) ? Number(v.trim().slice(0, -1).trim()) / 100 : NaN;
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : undefined;
}

/** `toxicity` (and a group member's share): 0..1 or "N%". */
export const fractionSchema: z.ZodType<number> = z.unknown().transform((v, ctx): number => {
  const n = parseFraction(v);
  if (n !== undefined) return n;
  ctx.addIssue({ code: 'custom', message: `expected ${FRACTION_FORMS}, got ${describeValue(v)}` });
  return z.NEVER;
});

interface MatchProblem {
  path: Array<string | number>;
  message: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Shape problems of a match spec: value types, empty lists, `not` not an object, regexes that fail or could backtrack. */
export function matchShapeProblems(spec: unknown, path: Array<string | number> = []): MatchProblem[] {
  if (!isObject(spec)) return [{ path, message: `expected an object of request attributes to match, got ${describeValue(spec)}` }];
  const out: MatchProblem[] = [];
  const scalar = (v: unknown, at: Array<string | number>): void => {
    if (typeof v === 'number' || typeof v === 'boolean') return;
    if (typeof v !== 'string') {
      out.push({ path: at, message: `expected a string, number or boolean (or a list of them), got ${describeValue(v)}` });
      return;
    }
    try {
      compileSafeRegex(v);
    } catch (err) {
      out.push({ path: at, message: err instanceof Error ? err.message : String(err) });
    }
  };
  for (const [key, value] of Object.entries(spec)) {
    const at = [...path, key];
    if (key === MATCH_NOT) {
      out.push(...(isObject(value) ? matchShapeProblems(value, at) : [{ path: at, message: `expected a match object to negate, like {path: "/health"}, got ${describeValue(value)}` }]));
    } else if (Array.isArray(value)) {
      if (value.length === 0) out.push({ path: at, message: 'an empty list never matches: give at least one value' });
      value.forEach((v, i) => scalar(v, [...at, i]));
    } else scalar(value, at);
  }
  return out;
}

/**
 * Keys of a match spec (with `not`) that name no attribute in `known`: one problem each, with a did-you-mean.
 * `knownText` says where the known names come from, ending the message: `(protocol "http" reports: method, ...)`.
 */
export function matchKeyProblems(spec: MatchSpec, known: readonly string[], knownText: string, path: Array<string | number> = []): MatchProblem[] {
  const out: MatchProblem[] = [];
  for (const [key, value] of Object.entries(spec)) {
    if (key === MATCH_NOT) {
      if (isObject(value)) out.push(...matchKeyProblems(value, known, knownText, [...path, key]));
      continue;
    }
    if (known.includes(key) || known.some((k) => k.endsWith('.*') && key.length > k.length - 1 && key.startsWith(k.slice(0, -1)))) continue;
    out.push({ path: [...path, key], message: `unknown match key "${key}"${suggestionSuffix(key, known)} (${knownText})` });
  }
  return out;
}

/** `match`: attribute names to values (see MatchSpec), `not` for a negated sub-match; regexes are checked here. */
export const matchSchema: z.ZodType<MatchSpec> = z.unknown().transform((v, ctx): MatchSpec => {
  const problems = matchShapeProblems(v);
  for (const p of problems) ctx.addIssue({ code: 'custom', message: p.message, path: p.path });
  return problems.length === 0 ? (v as MatchSpec) : z.NEVER;
});

export const faultInputSchema = z.strictObject({
  name: z.string().min(1).max(200).regex(/^[^/\s]+$/, 'no slashes or spaces').optional(),
  type: z.string().min(1),
  stream: z.string().optional(),
  toxicity: fractionSchema.optional(),
  scope: z.enum(['connection', 'request']).optional(),
  attributes: z.record(z.string(), z.unknown()).optional(),
  match: matchSchema.optional(),
  group: z.string().min(1).optional(),
  handshake: z.boolean().optional(),
});

/** `upstream` / `downstream` in any case; throws SWY_BAD_REQUEST (reason `invalid_stream`) otherwise. */
export function parseStream(value: string): Stream {
  const v = value.toLowerCase();
  if (v === 'upstream' || v === 'downstream') return v;
  throw new SwitchyardError(ErrorCodes.BAD_REQUEST, `stream '${value}' is invalid, can be either upstream or downstream`, { details: { reason: 'invalid_stream' } });
}
