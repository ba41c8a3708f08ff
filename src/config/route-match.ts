/**
 * A route's `match` as configuration (docs/routing.md): the shape checks, the map forms (`headers: {...}`,
 * `query: {...}`) flattened to attribute names, CIDR values of `sourceAddress`, which keys a listener accepts, the
 * scope the keys imply, and the shadowing test behind the loader's warnings. Data only: routing/route-match.ts
 * compiles a spec for the data path.
 */
import { isIP } from 'node:net';
import { MATCH_NOT, matchShapeProblems, type MatchSpec, type MatchValue } from './fault-input.js';
import { regexParts } from './regex-safety.js';
import { describeValue } from './describe-value.js';
import type { ProtocolRouting } from './catalogs.js';
import { suggestionSuffix } from './did-you-mean.js';

/** Attributes of every TCP/TLS connection, known at accept (TLS: after the handshake). */
export const CONNECTION_KEYS: readonly string[] = ['sni', 'alpn', 'sourceAddress', 'destinationPort'];
/** Connection attributes only a TLS listener has. */
export const TLS_KEYS: readonly string[] = ['sni', 'alpn'];
/** The connection attribute whose values may be CIDR blocks. */
export const SOURCE_ADDRESS = 'sourceAddress';

/** Where a listener's route is decided (docs/routing.md "Scopes"). */
export type RoutingScope = 'fixed' | 'connection' | 'startup' | 'request';

export interface MatchProblem {
  path: Array<string | number>;
  message: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `10.0.0.0/8`, `::1/128` → address, prefix length and family; undefined when `value` is not in CIDR form. */
export function parseCidr(value: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  if (regexParts(value) !== undefined) return undefined;
  const slash = value.lastIndexOf('/');
  if (slash <= 0) return undefined;
  const address = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  const v = isIP(address);
  if (v === 0 || !/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  if (prefix > (v === 4 ? 32 : 128)) return undefined;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** A value of `sourceAddress` meant as a CIDR block: contains a slash and is not a `/regex/`. */
function looksLikeCidr(v: unknown): v is string {
  return typeof v === 'string' && v.includes('/') && regexParts(v) === undefined;
}

/**
 * Shape problems of a route's `match` (paths relative to it): what faults' `match` checks (value types, empty
 * lists, regexes), plus the map forms `headers`/`query` (an object of names to values) and CIDR values of
 * `sourceAddress`. `maps` are the map keys of the listener's protocol when known (every map form is accepted
 * otherwise; the listener check reports a map key its protocol lacks).
 */
export function routeMatchShapeProblems(spec: unknown, path: Array<string | number> = []): MatchProblem[] {
  if (!isObject(spec)) return [{ path, message: `expected an object of attributes to match (e.g. {path: "/api/*"}), got ${describeValue(spec)}` }];
  const out: MatchProblem[] = [];
  for (const [key, value] of Object.entries(spec)) {
    const at = [...path, key];
    if (key === MATCH_NOT) {
      out.push(...(isObject(value) ? routeMatchShapeProblems(value, at) : [{ path: at, message: `expected a match object to negate, like {path: "/health"}, got ${describeValue(value)}` }]));
      continue;
    }
    if (isObject(value)) {
      // A map form (headers: {x-canary: "1"}): each entry is a value of the flattened attribute.
      if (Object.keys(value).length === 0) out.push({ path: at, message: 'an empty map matches everything: remove it or give at least one name: value' });
      for (const [name, v] of Object.entries(value)) {
        if (isObject(v)) out.push({ path: [...at, name], message: `expected a string, number or boolean (or a list of them), got ${describeValue(v)}` });
        else out.push(...matchShapeProblems({ [name]: v }, at));
      }
      continue;
    }
    if (key === SOURCE_ADDRESS) {
      const values: unknown[] = Array.isArray(value) ? value : [value];
      values.forEach((v, i) => {
        if (looksLikeCidr(v) && parseCidr(v) === undefined) {
          out.push({ path: Array.isArray(value) ? [...at, i] : at, message: `expected a CIDR block like "10.0.0.0/8" or "::1/128" (or an address, a "*" wildcard or a /regex/), got ${describeValue(v)}` });
        }
      });
      const others = values.filter((v) => !looksLikeCidr(v));
      if (Array.isArray(value) && value.length === 0) out.push({ path: at, message: 'an empty list never matches: give at least one value' });
      if (others.length > 0) out.push(...matchShapeProblems({ [key]: (Array.isArray(value) ? others : others[0]) as MatchValue }, path));
      continue;
    }
    out.push(...matchShapeProblems({ [key]: value }, path));
  }
  return out;
}

/**
 * The spec with its map forms flattened to attribute names (`headers: {X-Canary: "1"}` → `header.x-canary: "1"`
 * with `maps = {headers: 'header'}`), `not` included. Other keys are kept as written.
 */
export function flattenRouteMatch(spec: MatchSpec, maps: Readonly<Record<string, string>>): MatchSpec {
  const out: Record<string, MatchValue | MatchSpec> = {};
  for (const [key, value] of Object.entries(spec)) {
    if (key === MATCH_NOT && isObject(value)) out[key] = flattenRouteMatch(value, maps);
    else if (isObject(value)) {
      const prefix = maps[key] ?? key;
      for (const [name, v] of Object.entries(value)) out[`${prefix}.${name.toLowerCase()}`] = v;
    } else out[key] = value;
  }
  return out;
}

/** Every key a spec uses as written (map forms as `headers.<name>`, `not` descended into), with its path. */
export function routeMatchKeys(spec: MatchSpec, path: Array<string | number> = []): Array<{ key: string; path: Array<string | number>; map?: string }> {
  const out: Array<{ key: string; path: Array<string | number>; map?: string }> = [];
  for (const [key, value] of Object.entries(spec)) {
    if (key === MATCH_NOT) {
      if (isObject(value)) out.push(...routeMatchKeys(value, [...path, key]));
    } else if (isObject(value)) out.push({ key, path: [...path, key], map: key });
    else out.push({ key, path: [...path, key] });
  }
  return out;
}

/** True when the spec matches everything (absent or `{}`). */
export function matchesEverything(spec: MatchSpec | undefined): boolean {
  return spec === undefined || Object.keys(spec).length === 0;
}

/** What a listener lets a route's match use: from its transport, TLS and protocol module. */
export interface ListenerMatchFacts {
  readonly id: string;
  readonly tls: boolean;
  readonly udp: boolean;
  /** The protocol module's name (undefined: raw TCP). */
  readonly protocol: string | undefined;
  /** Its request attributes (undefined: the module declares none). */
  readonly attributes: readonly string[] | undefined;
  readonly routing: ProtocolRouting | undefined;
}

/** The kind of a match key on a listener: where the route can be decided, or why it cannot be used there. */
export function keyKind(facts: ListenerMatchFacts, key: string, map: string | undefined): { scope: Exclude<RoutingScope, 'fixed'> } | { problem: string } {
  const where = `listener ${JSON.stringify(facts.id)}`;
  if (facts.udp) return { problem: `${where} is udp: its one route cannot have a match (routing is per TCP connection or request)` };
  if (map === undefined && CONNECTION_KEYS.includes(key)) {
    if (TLS_KEYS.includes(key) && !facts.tls) return { problem: `"${key}" needs a TLS listener (${where} has no tls)` };
    return { scope: 'connection' };
  }
  const r = facts.routing;
  const unsupported = r?.unsupported?.[key];
  if (unsupported !== undefined) return { problem: `"${key}" cannot pick a route on protocol "${facts.protocol}": ${unsupported}` };
  if (map === undefined && r?.startupAttributes?.includes(key)) return { scope: 'startup' };
  const perRequest = r?.perRequest === true;
  if (map !== undefined) {
    if (perRequest && r?.maps?.[map] !== undefined) return { scope: 'request' };
  } else if (perRequest && (facts.attributes === undefined || facts.attributes.includes(key))) return { scope: 'request' };
  const known = [...new Set([...CONNECTION_KEYS.filter((k) => facts.tls || !TLS_KEYS.includes(k)), ...(r?.startupAttributes ?? []), ...(perRequest ? [...(facts.attributes ?? []), ...Object.keys(r?.maps ?? {})] : [])])];
  const why =
    facts.protocol === undefined
      ? `${where} is raw TCP: routes match connection attributes only`
      : perRequest || (r?.startupAttributes?.length ?? 0) > 0
        ? `protocol "${facts.protocol}" routes on: ${known.join(', ')}`
        : `protocol "${facts.protocol}" routes on connection attributes only: ${known.join(', ')}`;
  return { problem: `unknown route match key "${key}"${suggestionSuffix(key, known)} (${why})` };
}

/**
 * The scope a listener's routes (in evaluation order) imply: `request` when a route acts on requests (`answers`:
 * rewrite, redirect, directResponse), else `fixed` when the first matches everything (or there is none), else the
 * widest kind of key any route uses (request > startup > connection).
 */
export function scopeOf(
  specs: ReadonlyArray<MatchSpec | undefined>,
  kindOf: (key: string, map: string | undefined) => Exclude<RoutingScope, 'fixed'> | undefined,
  answers = false,
): RoutingScope {
  if (answers && specs.length > 0) return 'request';
  if (specs.length === 0 || matchesEverything(specs[0])) return 'fixed';
  let scope: RoutingScope = 'connection';
  for (const spec of specs) {
    if (spec === undefined) continue;
    for (const k of routeMatchKeys(spec)) {
      const kind = kindOf(k.key, k.map);
      if (kind === 'request') return 'request';
      if (kind === 'startup') scope = 'startup';
    }
  }
  return scope;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameValue(a[k], b[k]));
  }
  return false;
}

/**
 * True when everything `later` matches is matched by `earlier` too, as far as a syntactic check can tell: `earlier`
 * matches everything, or each of its conditions (a key and its value, `not` included) is also one of `later`'s.
 */
export function shadows(earlier: MatchSpec | undefined, later: MatchSpec | undefined): boolean {
  if (matchesEverything(earlier)) return true;
  if (later === undefined) return false;
  return Object.entries(earlier!).every(([k, v]) => k in later && sameValue(v, later[k]));
}
